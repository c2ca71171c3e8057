"""The two kinds of cache-build task and the executors that run them (in-process, local processes, dask).

Tasks are module-level functions (pickled to worker processes). Each writes only its own rows and
finishes by writing a marker file atomically, so a killed build resumes from the markers. Markers
are renamed into place but not fsynced (nor are the rows they vouch for, which the page cache keeps
when a process dies): a killed build resumes; after a crash of the machine itself, rebuild with
``--overwrite``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import numpy as np

from audiospec._chunk_io import direct_layout, write_rows
from audiospec.atomic import atomic_write_text
from audiospec.config import SpectrogramConfig
from audiospec.errors import AudioError, CacheError, ParameterError
from audiospec.io import load_clip_with_notes, range_problem
from audiospec.readers import Item
from audiospec.runtime import single_threaded
from audiospec.stats import DatasetStats, PartialStats, normalize, normalize_affine, partial_stats_and_peaks
from audiospec.transform import stft_kernel

__all__ = [
    "decode_task",
    "normalize_task",
    "normalized_rows",
    "partial_record",
    "partial_from_record",
    "decode_done",
    "staging_path",
    "Executor",
    "RANGE_POLICIES",
    "STAGING",
    "item_rng",
]

#: What to do with a clip whose audio is out of range (see :func:`audiospec.io.range_problem`).
RANGE_POLICIES = ("skip", "keep")
#: The pass-1 staging folder inside the build folder: one ``block-NNNNNN.npy`` of raw log-magnitudes
#: (the kept rows, float32) per input block.
STAGING = "staging"


def item_rng(seed: int, item: Item) -> np.random.Generator:
    """The random generator of one item's crop: a function of (seed, path, crop_index) only."""
    import hashlib

    digest = hashlib.sha256(item.path.encode()).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little"), int(item.crop_index)])


def staging_path(build_dir: str, block: int) -> str:
    """The pass-1 staging file of input block ``block``: its kept rows' raw log-magnitudes."""
    return os.path.join(build_dir, STAGING, f"block-{block:06d}.npy")


def decode_task(
    build_dir: str,
    root: str,
    block: int,
    start: int,
    items_json: bytes,
    config_dict: dict,
    seed: int,
    strict: bool,
    range_policy: str,
) -> int:
    """Pass 1 for one block of files: decode, crop, check, STFT; write the raw log-magnitudes of the
    block's *kept* files, float32 (n_kept, F, T), as one ``.npy`` staging file (one write call), then
    a marker with the block's validity, offsets, skipped files, warnings, partial statistics and
    per-item peaks. A block killed before its marker is redone whole on resume."""
    marker = os.path.join(build_dir, f"decode-{block:06d}.json")
    if decode_done(build_dir, block):
        return 0
    items = [Item(**record) for record in json.loads(items_json)]
    config = SpectrogramConfig.from_dict(config_dict)
    n = len(items)
    clips = np.zeros((n, config.n_samples), dtype=np.float32)
    offsets = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    skipped: list[dict] = []
    warnings: list[dict] = []
    for k, item in enumerate(items):
        try:
            clip, offsets[k], notes = load_clip_with_notes(
                os.path.join(root, item.path),
                config=config,
                policy=item.crop,
                rng=item_rng(seed, item) if item.crop == "random" else None,  # only random crops draw
                out=clips[k],  # decoded in place (a plain 16-bit WAV), else copied there
            )
            problem = range_problem(clip)
            if problem is not None and range_policy == "skip":
                raise AudioError(f"{problem} (skipped by the range policy 'skip'; 'keep' keeps it)")
            notes = notes + ([] if problem is None else [f"{problem} (kept by the range policy 'keep')"])
        except AudioError as exc:
            if strict:
                raise
            skipped.append({"index": start + k, "path": item.path, "reason": str(exc)})
            continue
        valid[k] = True
        warnings.extend({"index": start + k, "path": item.path, "reason": note} for note in notes)
    # stft_logmag's kernel without its input checks: the clips are float32, finite (decoding checks
    # it) and config.n_samples long (a multiple of the hop, at least n_fft: the config checks it)
    floor = np.asarray(config.amin, dtype=np.float32)
    with single_threaded():  # a task is one core's work: the other cores run the other tasks
        if valid.all():  # the usual block: no copy of its clips
            kept = stft_kernel(clips, config, config.n_bins, floor=floor)
        elif valid.any():
            kept = stft_kernel(clips[valid], config, config.n_bins, floor=floor)
        else:
            kept = np.zeros((0, *config.shape), "f4")
    os.makedirs(os.path.join(build_dir, STAGING), exist_ok=True)
    with open(staging_path(build_dir, block), "wb") as f:
        np.save(f, kept)
    partial, peaks = partial_stats_and_peaks(kept, config=config)
    record = {
        "block": block,
        "valid": valid.tolist(),
        "offsets": offsets.tolist(),
        "skipped": skipped,
        "warnings": warnings,
        "partial": partial_record(partial),
        "peaks": peaks.tolist(),
    }
    atomic_write_text(marker, json.dumps(record), fsync=False)
    return n


def partial_record(partial: PartialStats) -> dict[str, Any]:
    """A pass-1 marker's statistics: ``partial.to_dict(compact=True)`` (the histogram as base64)."""
    return partial.to_dict(compact=True)


def partial_from_record(record: dict[str, Any]) -> PartialStats:
    """The :class:`PartialStats` of :func:`partial_record` (or of ``to_dict``, in markers written by
    audiospec before it: a build resumed across the upgrade)."""
    try:
        return PartialStats.from_dict(record)
    except ParameterError as exc:
        raise CacheError(
            f"a pass-1 marker holds a damaged histogram or statistics ({exc}); "
            "build again with overwrite=True"
        ) from None


def normalized_rows(logmag: np.ndarray, stats: DatasetStats, dtype: np.dtype) -> np.ndarray:
    """:func:`audiospec.normalize` of float32 rows, cast to ``dtype``; for float16 in one compiled
    pass (affine map, clip and rounding; the same bits as ``normalize(...).astype(np.float16)``).

    Raises
    ------
    ParameterError
        ``logmag`` holds NaN or infinite values (as :func:`audiospec.normalize`).
    """
    if np.dtype(dtype) != np.float16 or logmag.dtype != np.float32:
        return normalize(logmag, stats).astype(dtype, copy=False)
    from audiospec._heap import normalize_half

    values = np.ascontiguousarray(logmag).reshape(-1)
    if not np.isfinite(values).all():
        normalize(logmag, stats)  # raises the ParameterError that names the count
    scale, offset = normalize_affine(stats)
    half = np.empty(logmag.shape, dtype=np.uint16)
    normalize_half(values, scale, offset, half.reshape(-1))
    return half.view(np.float16)


def normalize_task(
    out: str,
    build_dir: str,
    block: int,
    lo: int,
    sources: list[tuple[int, int, int]],
    stats_dict: dict,
    keep_logmag: bool,
) -> int:
    """Pass 2 for one output block: gather its rows from the staging files (``sources``: (input
    block, first row, end row) slices of the staged kept rows, in order), normalise them and write
    output rows ``lo ..`` of ``spectrograms`` (and ``logmag``), one writer per output block; then
    the marker. Rows are written without zarr where the layout allows (whole shards, or one file
    per item: :mod:`audiospec._chunk_io`), else with one zarr call per block.

    An output shard made of exactly one whole staging file (every shard before the first skipped
    file) is written over that file's own pages and renamed into place (see :func:`write_rows`'s
    ``reuse``): no new page-cache memory is allocated for it. The staging file is first renamed
    away, so a kill in between leaves its block without staging, and a resumed build redoes that
    block's pass 1 (see :func:`decode_done`).
    """
    marker = os.path.join(build_dir, f"normalize-{block:06d}.done")
    if os.path.exists(marker):
        return 0
    staged = [np.load(staging_path(build_dir, b), mmap_mode="r") for b, _, _ in sources]
    parts = [array[r0:r1] for array, (_, r0, r1) in zip(staged, sources, strict=True)]
    logmag = np.concatenate(parts) if len(parts) != 1 else parts[0]
    whole = len(sources) == 1 and sources[0][0] == block and parts[0].shape[0] == staged[0].shape[0]
    stats = DatasetStats.from_dict(stats_dict)
    writes = []
    for name in ("spectrograms", "logmag") if keep_logmag else ("spectrograms",):
        layout = direct_layout(os.path.join(out, name))
        if layout is not None:
            dtype = layout.dtype
        else:
            import zarr

            array = zarr.open_array(os.path.join(out, name), mode="r+")
            dtype = np.dtype(array.dtype)
        if name == "spectrograms":
            rows = normalized_rows(logmag, stats, dtype)
        else:
            rows = np.array(logmag, dtype=dtype)
        writes.append((name, layout, array if layout is None else None, rows))
    n = int(logmag.shape[0])
    del staged, parts, logmag  # every row is computed: the staging file may now be overwritten
    for name, layout, array, rows in writes:
        if layout is None:
            array[lo : lo + n] = rows
        elif name == "spectrograms" and whole and layout.sharded and n == min(layout.per_file, layout.n - lo):
            reuse = os.path.join(build_dir, STAGING, f"shard-{block:06d}.tmp")
            os.replace(staging_path(build_dir, block), reuse)
            write_rows(layout, lo, rows, reuse=reuse)
        else:
            write_rows(layout, lo, rows)
    atomic_write_text(marker, "", fsync=False)
    return n


def decode_done(build_dir: str, block: int) -> bool:
    """Whether pass 1 of ``block`` is done: its marker exists, and its staging file, or the output
    shard that consumed that file (the pass-2 marker of the same number: see
    :func:`normalize_task`)."""
    return os.path.exists(os.path.join(build_dir, f"decode-{block:06d}.json")) and (
        os.path.exists(staging_path(build_dir, block))
        or os.path.exists(os.path.join(build_dir, f"normalize-{block:06d}.done"))
    )


# ---------------------------------------------------------------------------------------------------
# executors


def _watch_parent(parent: int) -> None:
    """Worker initializer: exit when the driver process dies (so a killed build leaves no workers)."""
    try:  # Linux: the kernel sends SIGKILL when the parent exits
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:  # everywhere else (and as a backstop): poll the parent's pid
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def connect(address: str) -> Any:
    """A dask.distributed Client on ``address``, or a CacheError saying it cannot be reached."""
    from distributed import Client

    try:
        return Client(address)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise CacheError(
            f"scheduler={address!r} cannot be reached ({type(exc).__name__}: {exc}); start one with "
            "`dask scheduler` (workers: `dask worker ADDRESS`), or drop --scheduler to use local "
            "processes; nothing was created"
        ) from None


class Executor:
    """One way of running tasks for a whole build: in-process, a local process pool, or a Client."""

    def __init__(self, *, workers: int, client: Any = None) -> None:
        self._client = client
        self._pool = None
        if client is None and workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn (not fork): the driver runs zarr's I/O thread, which must not be forked
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )

    def run(self, func: Callable, argument_lists: list[tuple], *, bar: Any) -> Iterator[Any]:
        """Run ``func(*args)`` for each argument tuple; yield the results (item counts, added to ``bar``)
        as they finish."""
        if self._client is not None:
            from distributed import as_completed

            futures = [self._client.submit(func, *args, pure=False) for args in argument_lists]
            for future in as_completed(futures):
                result = future.result()
                bar.update(result)
                yield result
        elif self._pool is not None:
            from concurrent.futures import as_completed as local_completed

            pending: list[Future] = [self._pool.submit(func, *args) for args in argument_lists]
            try:
                for future in local_completed(pending):
                    result = future.result()
                    bar.update(result)
                    yield result
            finally:
                for future in pending:
                    future.cancel()
        else:
            for args in argument_lists:
                result = func(*args)
                bar.update(result)
                yield result

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._client is not None:
            self._client.close()
