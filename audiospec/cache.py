"""Compact zarr v3 caches of normalised spectrograms, built in parallel (local processes or dask).

Layout of ``OUT.zarr`` (format 3, a zarr v3 group)
--------------------------------------------------
=================  =======================  =========================================================
array              shape, dtype             content
=================  =======================  =========================================================
``spectrograms``   (N, F, T) float16        normalised log-magnitudes in [-1, 1] (``dtype="float32"``
                                            on request)
``logmag``         (N, F, T) float16        raw natural-log magnitudes, only with ``keep_logmag=True``
``labels``         (N,) int16               index into ``label_names``; -1 = unknown
``offsets``        (N,) int64               crop offset in samples at the config's sample rate
``paths``          (N,) str                 source file, relative to the dataset root
``splits``         (N,) int16               index into ``split_names``
``crop_index``     (N,) int16               which crop of its file an item is
``attr_<name>``    (N,) int32               categorical attribute codes (``attribute_names[name]``)
=================  =======================  =========================================================

N counts the kept items only: the arrays a user opens with plain zarr, dask or xarray have no holes
and every row is aligned across them. Files that were skipped (unreadable, empty, silent, truncated
where the crop needs the missing part, out of range under ``range_policy="skip"``) exist only in the
attributes ``skipped`` (path and reason) and the :class:`BuildReport`; files kept despite a problem
(truncated outside the crop, out of range under ``"keep"``) are listed in ``warnings``. The group
attributes also hold ``format_version`` (3), the transform config, the statistics, reader name and
options, label, split and attribute names, the seed, library versions and ``complete``. Formats 1
and 2 still open (2: one file per item; 1: NaN rows for skipped files, masked).

Storage (measured: ``benchmarks/results/cache_v3.md``): ``shard_size`` (64) items per shard file, one
raw (uncompressed) item per inner chunk, float16. Each shard is written whole, by one task, in one
write call of its bytes and index (:mod:`audiospec._chunk_io`; zarr-python 3.1 spends ~0.6-1 ms
per item writing through its codec pipeline), and random minibatches read just their items' bytes
directly (~12,000 items/s against ~300 through zarr's sharding codec and ~1,300 from format 2's
one file per item). Plain zarr, dask and xarray read the same arrays. float16 halves the size
(65.6 MB per 1,000 clips against 131) at a rounding error below 5e-4 of the [-1, 1] range; zstd
saved 15 % at 25x slower writes and 50x slower random reads, and was not kept.

Build
-----
Pass 1 runs one task per block of ``shard_size`` files: decode, crop, check, STFT; it writes the
kept files' raw log-magnitudes (float32) as one ``.npy`` staging file in ``_build/staging`` and a
marker with the block's partial statistics and per-item peaks. The driver merges them into the
statistics (:func:`audiospec.dataset_stats`, upper clip from the per-item peaks), creates the compact
arrays, and pass 2 runs one task per output shard (so no two tasks write one file): read its rows
from one staging file (two or more after skipped files), normalise and round them to float16 in one
compiled pass, write the shard; a shard made of one whole staging file (every shard before the
first skipped file) is written over that file's pages and renamed into place. Pixels are thus
written twice (staging, shard) and read once, and without skipped files the second write reuses the
first one's memory.

Crash safety, resume and concurrent use
---------------------------------------
``_build/build.json`` is written atomically before anything else, each task ends with an atomic
marker, ``complete`` is set last and ``_build`` is renamed away before it is deleted. Any kill point
therefore leaves either a recognisable build, which the same call resumes (to exactly the
uninterrupted result: crops are seeded per item, statistics merged in block order), or a complete
cache; ``overwrite=True`` always starts over. A build holds ``OUT.lock`` (``fcntl.flock``, naming host,
pid, start and command) from before it touches ``OUT`` to the end: a second build on the same
output fails at once naming the holder, and :func:`open_cache` on a build in progress says so. Local
worker processes exit when the driver dies.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiospec._cache_layout import (
    BUILD_DIR,
    FORMAT_VERSION,
    STORAGE_DTYPES,
    BuildLock,
    cache_state,
    create_arrays,
    finish,
    group_attrs,
    item_columns,
    output_blocks,
    remove_cache,
    start_build,
)
from audiospec._cache_read import SpectrogramCache, open_cache
from audiospec._cache_tasks import (
    RANGE_POLICIES,
    Executor,
    connect,
    decode_done,
    decode_task,
    item_rng,
    normalize_task,
    partial_from_record,
)
from audiospec._validation import valid_config
from audiospec.atomic import atomic_dir
from audiospec.config import SpectrogramConfig
from audiospec.errors import CacheError, ParameterError
from audiospec.progress import progress_bar
from audiospec.readers import DatasetListing, Item
from audiospec.stats import (
    DEFAULT_CLIP_QUANTILE,
    DEFAULT_UPPER_QUANTILE,
    DatasetStats,
    check_clip_rule,
    dataset_stats,
    denormalize,
    merge_stats,
)

__all__ = [
    "FORMAT_VERSION",
    "RANGE_POLICIES",
    "STORAGE_DTYPES",
    "SpectrogramCache",
    "BuildReport",
    "build_cache",
    "write_cache",
    "open_cache",
    "item_seed",
]

#: The random generator of one item's crop: a function of (seed, path, crop_index) only.
item_seed = item_rng


@dataclass(frozen=True)
class BuildReport:
    """What a build did.

    Attributes
    ----------
    path : str
        The cache.
    n_items : int
        Items in the finished cache (the kept ones).
    n_skipped : int
        Files skipped (unreadable, empty, silent, non-finite, truncated, out of range).
    skipped : list[dict]
        ``{"index", "path", "reason"}`` for each skipped file (``index``: position in the listing).
    resumed_blocks : int
        Blocks found already done (a resumed build).
    seconds : float
        Wall time of this call.
    already_complete : bool
        True when the cache was already complete and nothing was done.
    warnings : list[dict]
        ``{"index", "path", "reason"}`` for each file kept despite a problem.
    """

    path: str
    n_items: int
    n_skipped: int
    skipped: list[dict]
    resumed_blocks: int
    seconds: float
    already_complete: bool = False
    warnings: list[dict] = field(default_factory=list)


def _item_json(listing: DatasetListing) -> list[str]:
    """Each item as JSON (``json.dumps(item_record(item), sort_keys=True)``): hashed into the
    fingerprint, and joined into the build tasks' item lists (encoded once for both)."""
    encode = json.JSONEncoder(sort_keys=True).encode  # json.dumps(..., sort_keys=True), built once
    return [encode(item_record(item)) for item in listing.items]


def _fingerprint(listing: DatasetListing, config: SpectrogramConfig, settings: dict, items: list[str]) -> str:
    """The build's identity: format, config, settings, reader and ``items`` (:func:`_item_json`)."""
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"format_version": FORMAT_VERSION, "config": config.to_dict(), **settings}, sort_keys=True
        ).encode()
    )
    h.update(json.dumps([listing.reader, listing.options, listing.label_names], sort_keys=True).encode())
    h.update("".join(items).encode())  # = one update each
    return h.hexdigest()


def item_record(item: Item) -> dict[str, Any]:
    """``dataclasses.asdict(item)``, ten times faster (a listing's items are flat records)."""
    return {
        "path": item.path, "label": item.label, "split": item.split, "crop": item.crop,
        "crop_index": item.crop_index, "attributes": item.attributes,
    }  # fmt: skip


def _valid_listing(listing: Any) -> DatasetListing:
    if not isinstance(listing, DatasetListing):
        raise ParameterError(f"listing={listing!r} must be a DatasetListing from an audiospec reader")
    if not listing.items:
        raise ParameterError("listing has no items; nothing to cache")
    return listing


def _stats_source(stats_from: Any) -> DatasetStats | None:
    if stats_from is None or isinstance(stats_from, DatasetStats):
        return stats_from
    if isinstance(stats_from, (str, os.PathLike)):
        path = os.fspath(stats_from)
        if path.endswith(".json") and os.path.isfile(path):
            with open(path) as f:
                return DatasetStats.from_json(f.read())
        return open_cache(path).stats
    raise ParameterError(
        f"stats_from={stats_from!r} must be a DatasetStats, a cache path or a stats JSON file"
    )


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")


def build_cache(
    listing: DatasetListing,
    out: str | os.PathLike,
    *,
    config: SpectrogramConfig | None = None,
    stats_from: DatasetStats | str | os.PathLike | None = None,
    r: float | None = None,
    clip_quantile: float = DEFAULT_CLIP_QUANTILE,
    upper_quantile: float = DEFAULT_UPPER_QUANTILE,
    seed: int = 0,
    shard_size: int = 64,
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
    range_policy: str = "skip",
    dtype: str = "float16",
    sharded: bool = True,
    keep_logmag: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build (or resume) a compact spectrogram cache from a reader's listing.

    Parameters
    ----------
    listing : DatasetListing
        From :func:`audiospec.readers.list_nsynth` etc.
    out : path-like
        The cache folder (``*.zarr``); ``OUT.lock`` is held beside it during the build.
    config : SpectrogramConfig, optional
        The transform; the paper's defaults when omitted.
    stats_from : DatasetStats, cache path or JSON path, optional
        Normalise with these (training) statistics instead of computing them from this listing.
    r, clip_quantile, upper_quantile : float, optional
        The clip rule when statistics are computed here (see :func:`audiospec.dataset_stats`):
        ``upper`` is the ``upper_quantile`` quantile of the per-item peaks.
    seed : int
        Seed of the random crops (each item's crop depends only on seed, path and crop index).
    shard_size : int > 0
        Files per task (and items per shard file with ``sharded``).
    workers : int, optional
        Local worker processes; default all cores this process may use. Ignored with ``scheduler``.
        Each task runs on one thread (its worker's), in-process builds (``workers=1``) included.
    scheduler : str, optional
        Address of a running dask.distributed scheduler (``tcp://host:8786``); the dataset and
        ``out`` must be on a filesystem all workers share. Checked before anything is created.
    overwrite : bool
        Replace an existing cache or build (complete or not) at ``out``.
    strict : bool
        Fail on the first bad file instead of skipping it.
    range_policy : {"skip", "keep"}
        Clips out of range (float peaks above 1, clipped, DC only; :func:`audiospec.io.range_problem`)
        are skipped, or kept and listed in ``warnings``. Both are reported per file.
    dtype : {"float16", "float32"}
        Storage dtype of the spectrograms (and kept log-magnitudes); reads return float32.
    sharded : bool
        Store ``shard_size`` items per file (the default: each shard is written whole, in one call),
        or one file per item (``False``, format 2's layout; slower to write).
    keep_logmag : bool
        Also keep the raw log-magnitudes (to renormalise later without decoding the audio).
    progress : bool
        Show tqdm progress on stderr (one line per update when stderr is not a terminal).

    Returns
    -------
    BuildReport

    Raises
    ------
    CacheError
        Another process is building ``out`` (named), ``out`` holds a cache or build made with other
        options (pass ``overwrite``) or something that is not a cache, the scheduler cannot be
        reached, or every file was skipped.
    """
    start_time = time.perf_counter()
    listing = _valid_listing(listing)
    config = valid_config(config)
    out = os.path.abspath(os.fspath(out))
    _check_int("shard_size", shard_size, 1)
    _check_int("seed", seed, -(2**63))
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    _check_int("workers", workers, 1)
    if range_policy not in RANGE_POLICIES:
        raise ParameterError(f"range_policy={range_policy!r} must be one of {list(RANGE_POLICIES)}")
    if dtype not in STORAGE_DTYPES:
        raise ParameterError(f"dtype={dtype!r} must be one of {list(STORAGE_DTYPES)}")
    given_stats = _stats_source(stats_from)
    if given_stats is None:
        check_clip_rule(r, clip_quantile)
        if not (isinstance(upper_quantile, (int, float)) and 0.5 < upper_quantile <= 1.0):
            raise ParameterError(f"upper_quantile={upper_quantile!r} must be in (0.5, 1]")
    settings = {
        "seed": seed,
        "shard_size": shard_size,
        "stats": "computed" if given_stats is None else given_stats.to_dict(),
        "r": r,
        "clip_quantile": clip_quantile,
        "upper_quantile": upper_quantile,
        "strict": strict,
        "range_policy": range_policy,
        "dtype": dtype,
        "sharded": sharded,
        "keep_logmag": keep_logmag,
    }
    item_json = _item_json(listing)
    fingerprint = _fingerprint(listing, config, settings, item_json)
    state, info = cache_state(out)
    if state == "foreign":
        raise CacheError(f"{out} exists and is not an audiospec cache; choose another path or remove it")
    if state == "complete" and not overwrite:  # fast path, no lock needed to say so
        if info.get("fingerprint") == fingerprint:
            skipped = list(info.get("skipped", []))
            return BuildReport(
                out, int(info.get("n_items", 0)), len(skipped), skipped, 0,
                time.perf_counter() - start_time, True, list(info.get("warnings", [])),
            )  # fmt: skip
        raise CacheError(
            f"{out} is a complete cache built with other options; pass --overwrite to replace it"
        )
    client = connect(scheduler) if scheduler is not None else None
    try:
        with BuildLock(out):
            state, info = cache_state(out)  # again, under the lock
            if state != "absent" and overwrite:
                remove_cache(out, state)
                state, info = "absent", {}
            if state == "abandoned":
                raise CacheError(f"{out} holds an interrupted format-1 build; pass --overwrite to start over")
            if state == "complete":
                raise CacheError(f"{out} was completed by another process meanwhile; nothing to do")
            if state == "building" and info.get("fingerprint") != fingerprint:
                raise CacheError(
                    f"{out} holds an interrupted build with other options; pass --overwrite to start over"
                )
            if state == "absent":
                start_build(out, {"fingerprint": fingerprint, "format_version": FORMAT_VERSION})
            n_workers = 1 if client is not None else min(workers, math.ceil(len(listing.items) / shard_size))
            with Executor(workers=n_workers, client=client) as executor:
                return _build(
                    listing, out, executor, config=config, settings=settings, fingerprint=fingerprint,
                    given_stats=given_stats, progress=progress, start_time=start_time, item_json=item_json,
                )  # fmt: skip
    finally:
        if client is not None:
            client.close()


def _build(
    listing: DatasetListing,
    out: str,
    executor: Executor,
    *,
    config: SpectrogramConfig,
    settings: dict,
    fingerprint: str,
    given_stats: DatasetStats | None,
    progress: bool,
    start_time: float,
    item_json: list[str],
) -> BuildReport:
    import zarr

    build_dir = os.path.join(out, BUILD_DIR)
    n, block = len(listing.items), settings["shard_size"]
    blocks = [(b, b * block, min((b + 1) * block, n)) for b in range(math.ceil(n / block))]

    def marker(kind: str, b: int) -> str:
        return os.path.join(build_dir, f"{kind}-{b:06d}.{'json' if kind == 'decode' else 'done'}")

    def decoded(b: int) -> bool:  # a marker without staging: killed mid pass 2, or an older audiospec
        return decode_done(build_dir, b)

    done_before = sum(decoded(b) for b, _, _ in blocks)
    pending = [(b, lo, hi) for b, lo, hi in blocks if not decoded(b)]
    records = [f"[{','.join(item_json[lo:hi])}]".encode() for _, lo, hi in pending]  # JSON lists of items
    args = [
        (build_dir, listing.root, b, lo, record, config.to_dict(), settings["seed"], settings["strict"],
         settings["range_policy"])
        for (b, lo, _), record in zip(pending, records, strict=True)
    ]  # fmt: skip
    with progress_bar(
        sum(hi - lo for _, lo, hi in pending), desc="[1/2] decode+STFT", enabled=progress
    ) as bar:
        for _ in executor.run(decode_task, args, bar=bar):
            pass

    # merged in block order: deterministic whatever the scheduling
    valid, offsets, skipped, warnings, partials, peaks = [], [], [], [], [], []
    valid_by_block = []
    for b, _, _ in blocks:
        with open(marker("decode", b)) as f:
            record = json.load(f)
        valid.extend(record["valid"])
        valid_by_block.append(record["valid"])
        offsets.extend(record["offsets"])
        skipped.extend(record["skipped"])
        warnings.extend(record["warnings"])
        partials.append(partial_from_record(record["partial"]))
        peaks.extend(record["peaks"])
    kept = np.flatnonzero(np.asarray(valid, dtype=bool))
    if kept.size == 0:
        raise CacheError(f"all {n} files were skipped (first: {skipped[0]['path']}: {skipped[0]['reason']})")
    if given_stats is not None:
        stats, source = given_stats, "given"
    else:
        stats = dataset_stats(
            merge_stats(partials), r=settings["r"], clip_quantile=settings["clip_quantile"],
            item_peaks=np.asarray(peaks), upper_quantile=settings["upper_quantile"],
        )  # fmt: skip
        source = "this cache"

    layout_marker = os.path.join(build_dir, "layout.done")
    if not os.path.exists(layout_marker):
        columns, attribute_names, split_names = item_columns(listing, kept, np.asarray(offsets, np.int64))
        attrs = group_attrs(
            listing, config, fingerprint=fingerprint, split_names=split_names,
            attribute_names=attribute_names, settings=settings,
        )  # fmt: skip
        group = zarr.open_group(out, mode="a")  # never mode "w": that would delete _build
        group.attrs.update(attrs)
        create_arrays(
            group, n=int(kept.size), shape=config.shape, dtype=settings["dtype"], block=block,
            sharded=settings["sharded"], keep_logmag=settings["keep_logmag"], columns=columns,
        )  # fmt: skip
        with open(layout_marker, "w"):
            pass

    out_blocks = output_blocks([sum(record) for record in valid_by_block], block)
    todo = [blk for blk in out_blocks if not os.path.exists(marker("normalize", blk[0]))]
    stats_dict = stats.to_dict(histogram=False)  # all a task needs, serialised once for every task
    keep_logmag = settings["keep_logmag"]
    args = [(out, build_dir, j, lo, sources, stats_dict, keep_logmag) for j, lo, sources, _ in todo]
    with progress_bar(sum(k for _, _, _, k in todo), desc="[2/2] normalise", enabled=progress) as bar:
        for _ in executor.run(normalize_task, args, bar=bar):
            pass

    finish(
        out,
        {"stats": stats.to_dict(), "stats_source": source, "n_items": int(kept.size), "skipped": skipped,
         "warnings": warnings},
    )  # fmt: skip
    return BuildReport(
        out, int(kept.size), len(skipped), skipped, done_before, time.perf_counter() - start_time,
        False, warnings,
    )  # fmt: skip


def write_cache(
    spectrograms: np.ndarray,
    out: str | os.PathLike,
    *,
    config: SpectrogramConfig,
    stats: DatasetStats,
    labels: np.ndarray | None = None,
    label_names: Sequence[str] = (),
    reader: str = "arrays",
    options: dict[str, Any] | None = None,
    split: str = "generated",
    shard_size: int = 64,
    overwrite: bool = False,
    dtype: str = "float32",
    keep_logmag: bool = True,
) -> str:
    """Write in-memory normalised spectrograms (generated ones, say) as a complete cache.

    The result opens with :func:`open_cache` like a built cache: its items are named
    ``generated/000000`` and so on, and ``options`` (JSON-ready: the model, seed, ...) is recorded as
    the reader options for provenance. The cache is written into a temporary folder beside ``out``
    and renamed at the end, so an interrupted write leaves nothing that opens.

    Parameters
    ----------
    spectrograms : np.ndarray, shape (n, F, T)
        Normalised spectrograms in [-1, 1]; ``(F, T)`` must equal ``config.shape``.
    out : path-like
        The cache folder (``*.zarr``).
    config : SpectrogramConfig
    stats : DatasetStats
        The statistics the spectrograms are normalised with (those of the model's training cache).
    labels : np.ndarray of int, shape (n,), optional
        Indices into ``label_names`` (-1 = unknown); all unknown when omitted.
    label_names : sequence of str
    reader, split : str
        Recorded names (``attrs['reader']``, the split of every item).
    options : dict, optional
    shard_size : int >= 1
        Items per write.
    overwrite : bool
        Replace an existing cache at ``out``.
    dtype : {"float32", "float16"}
        Storage dtype (float32 by default: written values read back exactly).
    keep_logmag : bool
        Also store ``denormalize(spectrograms, stats)`` as raw log-magnitudes (as format 1 did).

    Returns
    -------
    str, the absolute path of the cache.
    """

    config = valid_config(config)
    data = np.asarray(spectrograms)
    if data.ndim != 3 or data.shape[1:] != tuple(config.shape) or data.shape[0] == 0:
        raise ParameterError(
            f"spectrograms has shape {data.shape}; it must be (n, {config.shape[0]}, {config.shape[1]}) "
            "with n >= 1"
        )
    if not np.all(np.isfinite(data)):
        raise ParameterError("spectrograms holds NaN or infinite values")
    if dtype not in STORAGE_DTYPES:
        raise ParameterError(f"dtype={dtype!r} must be one of {list(STORAGE_DTYPES)}")
    n = data.shape[0]
    label_names = [str(name) for name in label_names]
    codes = np.full(n, -1, np.int64) if labels is None else np.asarray(labels)
    if codes.shape != (n,) or codes.dtype.kind not in "iu":
        raise ParameterError(f"labels must be an integer array of shape ({n},) (got {codes.shape})")
    if codes.size and (codes.max() >= len(label_names) or codes.min() < -1):
        raise ParameterError(
            f"labels must lie in -1..{len(label_names) - 1} (the indices of label_names={label_names})"
        )
    _check_int("shard_size", shard_size, 1)
    out = os.path.abspath(os.fspath(out))
    state, _ = cache_state(out)
    if state != "absent":
        if not overwrite:
            raise CacheError(f"{out} already exists; pass overwrite=True to replace it")
        if state == "foreign":  # refuses to delete anything that is not an audiospec cache
            raise CacheError(f"{out} exists and is not an audiospec cache; refusing to touch it")
    listing = DatasetListing(
        reader=reader,
        root="",
        items=[Item(path=f"generated/{i:06d}", label=int(codes[i]), split=split) for i in range(n)],
        label_names=label_names,
        options=dict(options or {}),
    )
    settings = {"source": "arrays", "dtype": dtype, "keep_logmag": keep_logmag}
    kept = np.arange(n)
    columns, attribute_names, split_names = item_columns(listing, kept, np.zeros(n, np.int64))
    attrs = group_attrs(
        listing, config, fingerprint="arrays", split_names=split_names,
        attribute_names=attribute_names, settings=settings,
    )  # fmt: skip
    with atomic_dir(out) as tmp:
        _write_array_cache(tmp, attrs, data, n, config, dtype, shard_size, keep_logmag, columns, stats)
    return out


def _write_array_cache(
    tmp: str,
    attrs: dict[str, Any],
    data: np.ndarray,
    n: int,
    config: SpectrogramConfig,
    dtype: str,
    shard_size: int,
    keep_logmag: bool,
    columns: Any,
    stats: DatasetStats,
) -> None:
    """Write the arrays of :func:`build_cache_from_arrays` into the new folder ``tmp``."""
    import zarr

    group = zarr.open_group(tmp, mode="w", attributes=attrs)
    create_arrays(
        group, n=n, shape=config.shape, dtype=dtype, block=shard_size, sharded=False,
        keep_logmag=keep_logmag, columns=columns,
    )  # fmt: skip
    normalised = data.astype(np.float32)
    for lo in range(0, n, shard_size):
        group["spectrograms"][lo : lo + shard_size] = normalised[lo : lo + shard_size].astype(dtype)
        if keep_logmag:
            group["logmag"][lo : lo + shard_size] = denormalize(normalised[lo : lo + shard_size], stats)
    finish(
        tmp,
        {"stats": stats.to_dict(), "stats_source": "given", "n_items": n, "skipped": [], "warnings": []},
    )
