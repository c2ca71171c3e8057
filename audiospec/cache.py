"""Chunked, sharded zarr v3 caches of normalised spectrograms, built in parallel with dask.

Layout of ``OUT.zarr`` (a zarr v3 group)
----------------------------------------
=================  =======================  =========================================================
array              shape, dtype             content
=================  =======================  =========================================================
``spectrograms``   (N, F, T) float32        normalised log-magnitudes in [-1, 1] (NaN where invalid)
``logmag``         (N, F, T) float32        raw natural-log magnitudes (kept, see below)
``labels``         (N,) int16               index into ``label_names``; -1 = unknown
``valid``          (N,) bool                False for a file that was skipped (unreadable, silent...)
``offsets``        (N,) int64               crop offset in samples at the config's sample rate
``paths``          (N,) str                 source file, relative to the dataset root
``splits``         (N,) int16               index into ``split_names``
``crop_index``     (N,) int16               which crop of its file an item is
``attr_<name>``    (N,) int32               categorical attribute codes (``attribute_names[name]``)
=================  =======================  =========================================================

Every (N, F, T) array has one item per chunk (random minibatch reads touch only what they need) and
``shard_size`` items per shard; one dask task computes exactly one shard, so no two tasks ever write
the same shard (zarr has no locks: concurrent partial shard writes lose data silently). The group
attributes hold ``format_version``, the transform config, the dataset statistics, reader name and
options, label, split and attribute names, the seed, library versions, the skipped files with reasons,
and ``complete``.

Why keep the raw log-magnitudes
-------------------------------
The statistics must be known before anything can be normalised, so the build has two passes. The
first pass writes raw log-magnitudes and per-shard partial statistics; the second normalises them.
Keeping ``logmag`` costs disk but means the audio is decoded exactly once, and the normalisation can
be redone with other statistics (another ``r``, or a training cache's statistics) without re-reading
the audio. Pass ``keep_logmag=False`` to delete it once the build is complete.

Crash safety and resume
-----------------------
Arrays and metadata are created up front; each finished shard writes a small marker file (written
to a temporary name and renamed) *after* its data, and ``complete`` is set last. An interrupted build
leaves ``complete = False``, which :func:`open_cache` refuses; running the same build again skips the
shards that have markers and yields exactly the cache an uninterrupted build yields (random crops are
seeded per item, partial statistics are merged in shard order).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

import numpy as np

from audiospec._atomic import atomic_write_text
from audiospec._validation import valid_config
from audiospec.config import SpectrogramConfig
from audiospec.errors import AudioError, CacheError, ParameterError
from audiospec.io import load_clip
from audiospec.readers import DatasetListing, Item
from audiospec.stats import (
    DEFAULT_CLIP_QUANTILE,
    DatasetStats,
    PartialStats,
    check_clip_rule,
    dataset_stats,
    denormalize,
    merge_stats,
    normalize,
    partial_stats,
)
from audiospec.transform import stft_logmag

__all__ = [
    "FORMAT_VERSION",
    "SpectrogramCache",
    "BuildReport",
    "build_cache",
    "write_cache",
    "open_cache",
    "item_seed",
]

FORMAT_VERSION = 1
_BUILD_DIR = "_build"
_ARRAY_NAMES = ("spectrograms", "logmag", "labels", "valid", "offsets", "paths", "splits", "crop_index")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("gaae-audio", "numpy", "scipy", "soundfile", "zarr", "dask", "numba"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def item_seed(seed: int, item: Item) -> np.random.Generator:
    """The random generator of one item's crop: a function of (seed, path, crop_index) only."""
    digest = hashlib.sha256(item.path.encode()).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little"), int(item.crop_index)])


# ---------------------------------------------------------------------------------------------------
# the tasks (module-level functions: they are pickled to dask workers)


def _logmag_task(
    out: str,
    root: str,
    block: int,
    start: int,
    items_json: bytes,
    config_dict: dict,
    seed: int,
    strict: bool,
    given_stats: dict | None,
) -> dict[str, Any]:
    """Pass 1 for one shard: decode, crop, STFT; write logmag/offsets/valid (and, when the
    statistics are given, the normalised spectrograms too); then write the shard's marker."""
    import zarr

    marker = os.path.join(out, _BUILD_DIR, f"logmag-{block:06d}.json")
    if os.path.exists(marker):
        return {"block": block, "skipped": None}
    items = [Item(**record) for record in json.loads(items_json)]
    config = SpectrogramConfig.from_dict(config_dict)
    n = len(items)
    clips = np.zeros((n, config.n_samples), dtype=np.float32)
    offsets = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    skipped = []
    for k, item in enumerate(items):
        try:
            clips[k], offsets[k] = load_clip(
                os.path.join(root, item.path), config=config, policy=item.crop, rng=item_seed(seed, item)
            )
            valid[k] = True
        except AudioError as exc:
            if strict:
                raise
            skipped.append({"index": start + k, "path": item.path, "reason": str(exc)})
    logmag = stft_logmag(clips, config=config)
    logmag[~valid] = np.nan
    group = zarr.open_group(out, mode="r+")
    group["logmag"][start : start + n] = logmag
    group["offsets"][start : start + n] = offsets
    group["valid"][start : start + n] = valid
    partial = None
    if given_stats is None:
        partial = partial_stats(logmag[valid], config=config)
    else:  # statistics known: normalise now and skip pass 2 for this shard
        spec = normalize(logmag, DatasetStats.from_dict(given_stats))
        spec[~valid] = np.nan
        group["spectrograms"][start : start + n] = spec
        atomic_write_text(os.path.join(out, _BUILD_DIR, f"norm-{block:06d}.done"), "")
    record = {
        "block": block,
        "n_valid": int(valid.sum()),
        "skipped": skipped,
        "partial": None if partial is None else partial.to_dict(),
    }
    atomic_write_text(marker, json.dumps(record))
    return {"block": block, "skipped": len(skipped)}


def _normalize_task(out: str, block: int, start: int, stop: int, stats_dict: dict) -> int:
    """Pass 2 for one shard: normalise logmag into spectrograms; write the marker."""
    import zarr

    marker = os.path.join(out, _BUILD_DIR, f"norm-{block:06d}.done")
    if os.path.exists(marker):
        return block
    stats = DatasetStats.from_dict(stats_dict)
    group = zarr.open_group(out, mode="r+")
    logmag = group["logmag"][start:stop]
    valid = group["valid"][start:stop]
    spec = np.full(logmag.shape, np.nan, dtype=np.float32)
    if valid.any():
        spec[valid] = normalize(logmag[valid], stats)
    group["spectrograms"][start:stop] = spec
    atomic_write_text(marker, "")
    return block


# ---------------------------------------------------------------------------------------------------
# scheduling


def _run_tasks(tasks: list, *, scheduler: Any, label: str, progress: bool) -> list:
    """Compute dask delayed tasks in-process, on a local process pool, or on a distributed cluster."""
    import dask

    if not tasks:
        return []
    if progress:
        print(label, file=sys.stderr)
    if scheduler is not None and not isinstance(scheduler, dict):  # a distributed Client
        from distributed import progress as dist_progress

        futures = scheduler.compute(tasks)
        if progress:
            dist_progress(futures)
            print(file=sys.stderr)
        return scheduler.gather(futures)
    options = scheduler or {"scheduler": "synchronous"}
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return list(dask.compute(*tasks, **options))
    return list(dask.compute(*tasks, **options))


class _Executor:
    """One scheduler for a whole build: in-process, one local process pool, or a distributed Client."""

    def __init__(self, *, workers: int, address: str | None, n_tasks: int) -> None:
        self._pool = self._client = None
        workers = min(workers, max(n_tasks, 1))
        if address is not None:
            from distributed import Client

            self._client = Client(address)
            self.scheduler: Any = self._client
        elif workers == 1:
            self.scheduler = {"scheduler": "synchronous"}
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn (not fork): the driver already runs zarr's I/O thread, which must not be forked
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            # one shard per hand-out: shards are few and large, so batching them unbalances workers
            self.scheduler = {"scheduler": "processes", "pool": self._pool, "chunksize": 1}

    def __enter__(self) -> _Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self._client is not None:
            self._client.close()


# ---------------------------------------------------------------------------------------------------
# building


@dataclass(frozen=True)
class BuildReport:
    """What a build did.

    Attributes
    ----------
    path : str
        The cache.
    n_items : int
        Items in the finished cache (valid ones).
    n_skipped : int
        Files skipped as unreadable, empty, silent or non-finite.
    skipped : list[dict]
        ``{"index", "path", "reason"}`` for each skipped file.
    resumed_blocks : int
        Shards found already done (a resumed build).
    seconds : float
        Wall time of this call.
    already_complete : bool
        True when the cache was already complete and nothing was done.
    """

    path: str
    n_items: int
    n_skipped: int
    skipped: list[dict]
    resumed_blocks: int
    seconds: float
    already_complete: bool = False


def _fingerprint(listing: DatasetListing, config: SpectrogramConfig, settings: dict) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"format_version": FORMAT_VERSION, "config": config.to_dict(), **settings}, sort_keys=True
        ).encode()
    )
    h.update(json.dumps([listing.reader, listing.options, listing.label_names], sort_keys=True).encode())
    for item in listing.items:
        h.update(json.dumps(asdict(item), sort_keys=True).encode())
    return h.hexdigest()


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


def _create(
    out: str,
    listing: DatasetListing,
    config: SpectrogramConfig,
    *,
    shard_size: int,
    fingerprint: str,
    settings: dict,
) -> None:
    import zarr

    n = len(listing.items)
    group = zarr.open_group(out, mode="w")
    spec_kwargs = {
        "shape": (n, *config.shape),
        "dtype": "float32",
        "chunks": (1, *config.shape),
        "shards": (shard_size, *config.shape),
        "fill_value": np.nan,
        "dimension_names": ("sample", "freq", "time"),
        "config": {"write_empty_chunks": True},
        # log-magnitudes are noise-like floats: zstd only shrank them to ~89 % at a large CPU cost
        "compressors": None,
    }
    group.create_array("spectrograms", **spec_kwargs)
    group.create_array("logmag", **spec_kwargs)
    vec = {"shape": (n,), "chunks": (shard_size,), "dimension_names": ("sample",)}
    group.create_array("valid", dtype="bool", fill_value=False, **vec)
    group.create_array("offsets", dtype="int64", fill_value=0, **vec)
    labels = group.create_array("labels", dtype="int16", fill_value=-1, **vec)
    labels[:] = np.array([it.label for it in listing.items], dtype=np.int16)
    split_names = sorted({it.split for it in listing.items})
    splits = group.create_array("splits", dtype="int16", fill_value=-1, **vec)
    splits[:] = np.array([split_names.index(it.split) for it in listing.items], dtype=np.int16)
    crop_index = group.create_array("crop_index", dtype="int16", fill_value=0, **vec)
    crop_index[:] = np.array([it.crop_index for it in listing.items], dtype=np.int16)
    paths = group.create_array("paths", dtype=str, **vec)
    paths[:] = np.array([it.path for it in listing.items], dtype=object)
    attribute_names: dict[str, list[str]] = {}
    for name in sorted({k for it in listing.items for k in it.attributes}):
        values = sorted({it.attributes[name] for it in listing.items if name in it.attributes})
        lookup = {v: i for i, v in enumerate(values)}
        codes = group.create_array(f"attr_{name}", dtype="int32", fill_value=-1, **vec)
        codes[:] = np.array([lookup.get(it.attributes.get(name), -1) for it in listing.items], dtype=np.int32)
        attribute_names[name] = values
    group.attrs.update(
        {
            "audiospec_cache": True,
            "format_version": FORMAT_VERSION,
            "complete": False,
            "fingerprint": fingerprint,
            "config": config.to_dict(),
            "reader": listing.reader,
            "reader_options": listing.options,
            "root": listing.root,
            "label_names": list(listing.label_names),
            "split_names": split_names,
            "attribute_names": attribute_names,
            "settings": settings,
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    os.makedirs(os.path.join(out, _BUILD_DIR), exist_ok=True)


def _cache_state(out: str) -> dict | None:
    """The group attributes of an existing cache at ``out``, or None when nothing is there."""
    if not os.path.exists(out):
        return None
    meta = os.path.join(out, "zarr.json")
    if not os.path.isfile(meta):
        raise CacheError(
            f"{out} exists and is not an audiospec cache (no zarr.json); choose another path or remove it"
        )
    with open(meta) as f:
        attrs = json.load(f).get("attributes", {})
    if not attrs.get("audiospec_cache"):
        raise CacheError(f"{out} is a zarr store but not an audiospec cache; refusing to touch it")
    return attrs


def build_cache(
    listing: DatasetListing,
    out: str | os.PathLike,
    *,
    config: SpectrogramConfig | None = None,
    stats_from: DatasetStats | str | os.PathLike | None = None,
    r: float | None = None,
    clip_quantile: float = DEFAULT_CLIP_QUANTILE,
    seed: int = 0,
    shard_size: int = 64,
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
    keep_logmag: bool = True,
    progress: bool = True,
) -> BuildReport:
    """Build (or resume) a spectrogram cache from a reader's listing.

    Parameters
    ----------
    listing : DatasetListing
        From :func:`audiospec.readers.list_nsynth` etc.
    out : path-like
        The cache folder (``*.zarr``).
    config : SpectrogramConfig, optional
        The transform; the paper's defaults when omitted.
    stats_from : DatasetStats, cache path or JSON path, optional
        Normalise with these (training) statistics instead of computing them from this listing.
        Use it for validation and test splits.
    r, clip_quantile : float, optional
        The clip rule when statistics are computed here (see :func:`audiospec.dataset_stats`).
    seed : int
        Seed of the random crops (each item's crop depends only on seed, path and crop index).
    shard_size : int > 0
        Items per shard (64 x 128 KiB = 8 MiB by default), which is also the number of files one
        task handles; smaller shards balance workers better and lower the peak memory.
    workers : int, optional
        Local worker processes; default all cores. Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running dask.distributed scheduler (``tcp://host:8786``); the dataset and
        ``out`` must be on a filesystem all workers share.
    overwrite : bool
        Replace an existing cache (complete or not) at ``out``.
    strict : bool
        Fail on the first unreadable, empty, silent or non-finite file instead of skipping it.
    keep_logmag : bool
        Keep the raw log-magnitudes (see the module docstring).
    progress : bool
        Show progress bars on stderr.

    Returns
    -------
    BuildReport
    """
    start_time = time.perf_counter()
    listing = _valid_listing(listing)
    config = valid_config(config)
    out = os.path.abspath(os.fspath(out))
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise ParameterError(f"shard_size={shard_size!r} must be a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"seed={seed!r} must be an integer")
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers={workers!r} must be a positive integer")
    given_stats = _stats_source(stats_from)
    if given_stats is None:
        check_clip_rule(r, clip_quantile)
    settings = {
        "seed": seed,
        "shard_size": shard_size,
        "stats": "computed" if given_stats is None else given_stats.to_dict(),
        "r": r,
        "clip_quantile": clip_quantile,
        "strict": strict,
    }
    fingerprint = _fingerprint(listing, config, settings)
    state = _cache_state(out)
    if state is not None:
        same = state.get("fingerprint") == fingerprint
        if overwrite:
            shutil.rmtree(out)
            state = None
        elif state.get("complete"):
            if same:
                return BuildReport(
                    out,
                    int(state.get("n_items", 0)),
                    len(state.get("skipped", [])),
                    list(state.get("skipped", [])),
                    0,
                    time.perf_counter() - start_time,
                    True,
                )
            raise CacheError(
                f"{out} is a complete cache built with other options; pass --overwrite to replace it"
            )
        elif not same:
            raise CacheError(
                f"{out} holds an interrupted build with other options; pass --overwrite to start over"
            )
    if state is None:
        _create(out, listing, config, shard_size=shard_size, fingerprint=fingerprint, settings=settings)

    import dask

    n = len(listing.items)
    blocks = [(b, b * shard_size, min((b + 1) * shard_size, n)) for b in range(math.ceil(n / shard_size))]
    build_dir = os.path.join(out, _BUILD_DIR)

    def done(kind: str, b: int) -> bool:
        suffix = "json" if kind == "logmag" else "done"
        return os.path.exists(os.path.join(build_dir, f"{kind}-{b:06d}.{suffix}"))

    done_before = sum(done("norm", b) for b, _, _ in blocks)
    pending = [blk for blk in blocks if not done("logmag", blk[0])]
    stats_dict = None if given_stats is None else given_stats.to_dict()
    task = dask.delayed(_logmag_task, pure=False)
    tasks = [
        task(
            out,
            listing.root,
            b,
            lo,
            json.dumps([asdict(it) for it in listing.items[lo:hi]]).encode(),
            config.to_dict(),
            seed,
            strict,
            stats_dict,
        )
        for b, lo, hi in pending
    ]
    with _Executor(workers=workers, address=scheduler, n_tasks=len(tasks) or len(blocks)) as executor:
        _run_tasks(
            tasks,
            scheduler=executor.scheduler,
            progress=progress,
            label=f"[1/2] decoding and transforming {n} clips in {len(blocks)} shards",
        )

        # statistics and skipped files, merged in shard order (deterministic whatever the scheduling)
        skipped: list[dict] = []
        partials: list[PartialStats] = []
        n_valid = 0
        for b, _, _ in blocks:
            with open(os.path.join(build_dir, f"logmag-{b:06d}.json")) as f:
                record = json.load(f)
            skipped.extend(record["skipped"])
            n_valid += record["n_valid"]
            if record["partial"] is not None:
                partials.append(PartialStats.from_dict(record["partial"]))
        if n_valid == 0:
            raise CacheError(
                f"all {n} files were skipped (first: {skipped[0]['path']}: {skipped[0]['reason']})"
            )
        stats = (
            given_stats
            if given_stats is not None
            else dataset_stats(merge_stats(partials), r=r, clip_quantile=clip_quantile)
        )

        pending = [blk for blk in blocks if not done("norm", blk[0])]
        task = dask.delayed(_normalize_task, pure=False)
        tasks = [task(out, b, lo, hi, stats.to_dict()) for b, lo, hi in pending]
        _run_tasks(
            tasks,
            scheduler=executor.scheduler,
            progress=progress,
            label=f"[2/2] normalising {n_valid} spectrograms",
        )

    import zarr

    group = zarr.open_group(out, mode="r+")
    if not keep_logmag:
        del group["logmag"]
    group.attrs.update(
        {
            "stats": stats.to_dict(),
            "stats_source": "this cache" if given_stats is None else "given",
            "n_items": n_valid,
            "skipped": skipped,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "complete": True,
        }
    )
    shutil.rmtree(build_dir, ignore_errors=True)
    return BuildReport(out, n_valid, len(skipped), skipped, done_before, time.perf_counter() - start_time)


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
) -> str:
    """Write in-memory normalised spectrograms (generated ones, say) as a complete cache.

    The result opens with :func:`open_cache` like a built cache: its raw log-magnitudes are
    ``denormalize(spectrograms, stats)``, its items are named ``generated/000000`` and so on, and
    ``options`` (JSON-ready: the model, seed, ...) is recorded as the reader options for provenance.
    The cache is written into a temporary folder beside ``out`` and renamed at the end, so an
    interrupted write leaves nothing that opens.

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
    overwrite : bool
        Replace an existing cache at ``out``.

    Returns
    -------
    str, the absolute path of the cache.
    """
    import zarr

    config = valid_config(config)
    data = np.asarray(spectrograms)
    if data.ndim != 3 or data.shape[1:] != tuple(config.shape) or data.shape[0] == 0:
        raise ParameterError(
            f"spectrograms has shape {data.shape}; it must be (n, {config.shape[0]}, {config.shape[1]}) "
            "with n >= 1"
        )
    if not np.all(np.isfinite(data)):
        raise ParameterError("spectrograms holds NaN or infinite values")
    n = data.shape[0]
    label_names = [str(name) for name in label_names]
    codes = np.full(n, -1, np.int64) if labels is None else np.asarray(labels)
    if codes.shape != (n,) or codes.dtype.kind not in "iu":
        raise ParameterError(f"labels must be an integer array of shape ({n},) (got {codes.shape})")
    if codes.size and (codes.max() >= len(label_names) or codes.min() < -1):
        raise ParameterError(
            f"labels must lie in -1..{len(label_names) - 1} (the indices of label_names={label_names})"
        )
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ParameterError(f"shard_size={shard_size!r} must be a positive integer")
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out):
        if not overwrite:
            raise CacheError(f"{out} already exists; pass overwrite=True to replace it")
        _cache_state(out)  # refuses to delete anything that is not an audiospec cache
    listing = DatasetListing(
        reader=reader,
        root="",
        items=[Item(path=f"generated/{i:06d}", label=int(codes[i]), split=split) for i in range(n)],
        label_names=label_names,
        options=dict(options or {}),
    )
    tmp = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    settings = {"source": "arrays"}
    _create(tmp, listing, config, shard_size=shard_size, fingerprint="arrays", settings=settings)
    group = zarr.open_group(tmp, mode="r+")
    normalised = data.astype(np.float32)
    group["spectrograms"][:] = normalised
    group["logmag"][:] = denormalize(normalised, stats).astype(np.float32)
    group["valid"][:] = np.ones(n, dtype=bool)
    group.attrs.update(
        {
            "stats": stats.to_dict(),
            "stats_source": "given",
            "n_items": n,
            "skipped": [],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "complete": True,
        }
    )
    shutil.rmtree(os.path.join(tmp, _BUILD_DIR), ignore_errors=True)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------------------------------------------
# reading


class SpectrogramCache:
    """Read access to a complete cache (torch-free). Use :func:`open_cache`.

    Indexing skips invalid (skipped) slots: item ``i`` is the i-th valid item.

    Examples
    --------
    >>> cache = open_cache("train.zarr")                      # doctest: +SKIP
    >>> x, y = cache.batch([3, 1, 4])                          # doctest: +SKIP
    >>> x.shape, y                                             # doctest: +SKIP
    ((3, 256, 128), array([0, 2, 1], dtype=int16))
    """

    def __init__(self, path: str, group: Any) -> None:
        self.path = path
        self._group = group
        attrs = dict(group.attrs)
        self.attrs: dict[str, Any] = attrs
        self.config = SpectrogramConfig.from_dict(attrs["config"])
        self.stats = DatasetStats.from_dict(attrs["stats"])
        self.label_names: list[str] = list(attrs["label_names"])
        self.split_names: list[str] = list(attrs["split_names"])
        self.attribute_names: dict[str, list[str]] = dict(attrs.get("attribute_names", {}))
        self.skipped: list[dict] = list(attrs.get("skipped", []))
        self.reader: str = attrs["reader"]
        self.reader_options: dict = dict(attrs.get("reader_options", {}))
        self._index = np.flatnonzero(group["valid"][:])
        self._labels = group["labels"][:][self._index].astype(np.int64)  # small: read once
        self._spectrograms = group["spectrograms"]

    def __len__(self) -> int:
        return int(self._index.size)

    def __repr__(self) -> str:
        return (
            f"SpectrogramCache({self.path!r}, n={len(self)}, shape={self.config.shape}, "
            f"labels={self.label_names}, reader={self.reader!r})"
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(len(self), n_bins, n_frames)``."""
        return (len(self), *self.config.shape)

    @property
    def storage_index(self) -> np.ndarray:
        """Slot in the zarr arrays of each item, shape (n,)."""
        return self._index

    def _column(self, name: str) -> np.ndarray:
        return self._group[name][:][self._index]

    @property
    def labels(self) -> np.ndarray:
        """Integer labels, shape (n,), -1 = unknown."""
        return self._labels.copy()

    @property
    def has_labels(self) -> bool:
        """True when at least one item has a known label."""
        return bool(self.label_names) and bool(np.any(self.labels >= 0))

    @property
    def paths(self) -> np.ndarray:
        """Source file of each item, relative to ``attrs['root']``, shape (n,)."""
        return np.asarray(self._column("paths"), dtype=object)

    @property
    def splits(self) -> np.ndarray:
        """Split name of each item, shape (n,)."""
        return np.asarray(self.split_names, dtype=object)[self._column("splits")]

    @property
    def offsets(self) -> np.ndarray:
        """Crop offset in samples of each item, shape (n,)."""
        return self._column("offsets")

    def attribute(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Codes (n,) int (-1 unknown) and value names of a categorical attribute (``gender``...)."""
        if name not in self.attribute_names:
            raise ParameterError(
                f"name={name!r} is not an attribute of this cache; it has {sorted(self.attribute_names)}"
            )
        return self._column(f"attr_{name}").astype(np.int64), list(self.attribute_names[name])

    def provenance(self, index: int) -> dict[str, Any]:
        """Where item ``index`` came from: path, split, crop offset and index, label and attributes."""
        slot = int(self._index[self._check(np.asarray([index]))[0]])
        g = self._group
        record = {
            "path": str(g["paths"][slot]),
            "root": self.attrs["root"],
            "split": self.split_names[int(g["splits"][slot])],
            "offset": int(g["offsets"][slot]),
            "crop_index": int(g["crop_index"][slot]),
            "label": int(g["labels"][slot]),
        }
        for name, values in self.attribute_names.items():
            code = int(g[f"attr_{name}"][slot])
            record[name] = values[code] if code >= 0 else None
        return record

    def _check(self, indices: np.ndarray) -> np.ndarray:
        if indices.dtype.kind not in "iu":
            raise ParameterError(f"indices must be integers (got dtype {indices.dtype})")
        n = len(self)
        bad = (indices < -n) | (indices >= n)
        if np.any(bad):
            raise ParameterError(f"index {int(indices[bad][0])} is out of range for a cache of {n} items")
        return np.where(indices < 0, indices + n, indices)

    def _read(self, array: Any, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = self._check(np.asarray(indices).reshape(-1))
        slots = self._index[idx]
        unique, inverse = np.unique(slots, return_inverse=True)
        if unique.size == 0:
            return np.zeros((0, *self.config.shape), dtype=np.float32)
        if unique.size == unique[-1] - unique[0] + 1:  # contiguous: one slice read
            data = array[int(unique[0]) : int(unique[-1]) + 1]
        else:
            data = array.get_orthogonal_selection((unique,))
        return data[inverse]

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """Normalised spectrograms: ``cache[i]`` is (F, T); ``cache[a:b]``, ``cache[[i, j]]`` (k, F, T)."""
        if isinstance(key, (int, np.integer)):
            return self._read(self._spectrograms, [int(key)])[0]
        if isinstance(key, slice):
            return self._read(self._spectrograms, np.arange(len(self))[key])
        return self._read(self._spectrograms, key)

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spectrograms (k, F, T) float32 in [-1, 1] and labels (k,) int64 of the given items."""
        idx = np.asarray(indices)
        return self._read(self._spectrograms, idx), self._labels[self._check(idx.reshape(-1))]

    def random_batch(
        self, batch_size: int, *, rng: np.random.Generator | int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """A random minibatch (without replacement): spectrograms (b, F, T) and labels (b,)."""
        from audiospec._validation import valid_rng

        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not (0 < batch_size <= len(self))
        ):
            raise ParameterError(f"batch_size={batch_size!r} must be an integer in 1..{len(self)}")
        idx = valid_rng(rng).choice(len(self), size=batch_size, replace=False)
        return self.batch(idx)

    def logmag(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Raw log-magnitudes (k, F, T) of the given items (if the cache kept them)."""
        if "logmag" not in self._group:
            raise CacheError(f"{self.path} was built with keep_logmag=False; it has no raw log-magnitudes")
        return self._read(self._group["logmag"], indices)


def open_cache(path: str | os.PathLike) -> SpectrogramCache:
    """Open a complete spectrogram cache for reading.

    Raises
    ------
    CacheError
        ``path`` is missing, not an audiospec cache, an incomplete (interrupted) build, or of a
        format version this audiospec cannot read.
    """
    import zarr

    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise CacheError(f"no cache at {path}")
    attrs = _cache_state(path)
    version = attrs.get("format_version")
    if version != FORMAT_VERSION:
        raise CacheError(
            f"{path} has cache format_version={version!r}; this audiospec reads version {FORMAT_VERSION}: "
            "rebuild it with audiospec build-cache"
        )
    if not attrs.get("complete"):
        raise CacheError(
            f"{path} is an incomplete build (interrupted?); "
            "run the same build-cache command again to resume it"
        )
    return SpectrogramCache(path, zarr.open_group(path, mode="r"))
