"""On-disk layout of audiospec caches: format versions, the build manifest, the lock, array creation.

States of an output folder (what :func:`cache_state` reports)
-------------------------------------------------------------
``absent``
    Nothing there (or an empty folder, or only an empty ``_build``: a build killed at its first step).
``building``
    ``_build/build.json`` exists: a build started (it is written atomically *before* anything else,
    so every kill point after it is recognisable and resumable, including one right after the
    root ``zarr.json`` was written). A format-1 cache with ``complete: false`` is ``building`` too.
``complete``
    A finished cache: root ``zarr.json`` with ``audiospec_cache`` and ``complete: true``, no manifest.
``abandoned``
    A zarr group without attributes whose members are all audiospec array names: a format-1 build
    killed right after creating its root ``zarr.json``. ``--overwrite`` replaces it.
``foreign``
    Anything else; never touched.

The lock
--------
``<out>.lock`` beside the cache holds an exclusive ``fcntl.flock`` for the whole build and names its
holder (host, pid, start time, command). The kernel drops the lock when the holder dies, so a killed
build never leaves a stale lock; a second build on the same output fails at once, naming the holder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from typing import Any

import numpy as np

from audiospec.atomic import atomic_write_text
from audiospec.config import SpectrogramConfig
from audiospec.errors import CacheError
from audiospec.readers import DatasetListing
from audiospec.runtime import package_versions

__all__ = [
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "BUILD_DIR",
    "STORAGE_DTYPES",
    "BuildLock",
    "cache_state",
    "start_build",
    "remove_cache",
    "lock_holder",
    "describe_holder",
    "create_arrays",
    "cache_versions",
    "item_columns",
    "group_attrs",
    "finish",
    "output_blocks",
]

#: Version 3: as 2, but sharded by default (``shard_size`` items per file, one raw item per inner
#: chunk, each shard written whole by one task). Version 2: compact arrays (only kept items; no
#: ``valid`` column), float16 spectrograms by default, one file per item unless sharded, raw
#: log-magnitudes optional (off by default).
FORMAT_VERSION = 3
#: Versions :func:`audiospec.cache.open_cache` reads (1: the holes of skipped files are masked).
READABLE_VERSIONS = (1, 2, 3)
BUILD_DIR = "_build"
MANIFEST = "build.json"
STORAGE_DTYPES = ("float16", "float32")
_KNOWN_ARRAYS = {"spectrograms", "logmag", "labels", "valid", "offsets", "paths", "splits", "crop_index"}


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def cache_state(out: str) -> tuple[str, dict]:
    """``(state, info)`` of the folder ``out``; see the module docstring for the states.

    ``info`` is the manifest (``building``) or the root attributes (``complete``, format-1 builds).
    """
    if not os.path.exists(out):
        return "absent", {}
    if not os.path.isdir(out):
        return "foreign", {}
    manifest = _read_json(os.path.join(out, BUILD_DIR, MANIFEST))
    if manifest is not None and manifest.get("audiospec_build"):
        return "building", manifest
    entries = set(os.listdir(out))
    if not entries or (entries == {BUILD_DIR} and not os.listdir(os.path.join(out, BUILD_DIR))):
        return "absent", {}
    root = _read_json(os.path.join(out, "zarr.json"))
    if root is None:
        return "foreign", {}
    attrs = root.get("attributes") or {}
    if attrs.get("audiospec_cache"):
        return ("complete" if attrs.get("complete") else "building"), attrs
    children = entries - {"zarr.json", BUILD_DIR}
    if not attrs and all(c in _KNOWN_ARRAYS or c.startswith("attr_") for c in children):
        return "abandoned", {}
    return "foreign", {}


def start_build(out: str, manifest: dict) -> None:
    """Create ``out/_build`` and write the manifest atomically: from here on ``out`` is a build."""
    os.makedirs(os.path.join(out, BUILD_DIR), exist_ok=True)
    atomic_write_text(
        os.path.join(out, BUILD_DIR, MANIFEST), json.dumps({"audiospec_build": True, **manifest})
    )


def remove_cache(out: str, state: str) -> None:
    """Delete a cache, a build or an abandoned format-1 build (never a foreign folder)."""
    if state == "foreign":
        raise CacheError(f"{out} exists and is not an audiospec cache; refusing to touch it")
    if state != "absent" or os.path.isdir(out):
        shutil.rmtree(out)


def lock_holder(out: str) -> dict | None:
    """The holder recorded in ``<out>.lock`` when that process still runs on this host, else None."""
    holder = _read_json(f"{out}.lock")
    if holder is None:
        return None
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder["pid"]), 0)
        except (ProcessLookupError, KeyError, ValueError, TypeError):
            return None
        except PermissionError:
            pass
    return holder


def describe_holder(holder: dict) -> str:
    """``pid 123 on host x since 2024-...: audiospec build-cache ...``."""
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('since')}: "
        f"{holder.get('command')}"
    )


class BuildLock:
    """Exclusive lock on a cache's output path for one build (``<out>.lock``, see the module docstring).

    Raises
    ------
    CacheError
        Another process holds the lock; the message names it.
    """

    def __init__(self, out: str) -> None:
        self.out = out
        self.path = f"{out}.lock"
        self._fd: int | None = None

    def __enter__(self) -> BuildLock:
        import fcntl

        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = _read_json(self.path) or {}
                raise CacheError(
                    f"{self.out} is being built by another process ({describe_holder(holder)}); "
                    "wait for it to finish, or stop it and run this command again to resume"
                ) from None
            try:  # the file may have been unlinked by the previous holder between open and flock
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) if sys.argv else "python",
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            try:
                os.unlink(self.path)  # while still holding it: a waiter re-checks the inode
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None


def create_arrays(
    group: Any,
    *,
    n: int,
    shape: tuple[int, int],
    dtype: str,
    block: int,
    sharded: bool,
    keep_logmag: bool,
    columns: dict[str, np.ndarray],
) -> None:
    """Create the (n, F, T) arrays and write the (n,) columns of a format-3 cache into ``group``.

    One raw item per (inner) chunk, uncompressed; with ``sharded`` ``block`` items per shard file,
    each written whole by one task (see :mod:`audiospec._chunk_io`), else one file per item.
    ``columns`` maps array names to their values (``paths`` as str); every array is (re)created
    with ``overwrite=True``, so a
    resumed build may call this again.
    """
    big = {
        "shape": (n, *shape),
        "chunks": (1, *shape),
        "fill_value": 0.0,
        "dimension_names": ("sample", "freq", "time"),
        "compressors": None,
        "overwrite": True,
    }
    if sharded:
        big["shards"] = (max(1, min(block, n)), *shape)
    group.create_array("spectrograms", dtype=dtype, **big)
    if keep_logmag:
        group.create_array("logmag", dtype=dtype, **big)
    vec = {
        "shape": (n,),
        "chunks": (max(1, min(4096, n)),),
        "dimension_names": ("sample",),
        "overwrite": True,
    }
    for name, values in columns.items():
        if name == "paths":
            array = group.create_array(name, dtype=str, **vec)
            array[:] = np.asarray(values, dtype=object)
        else:
            array = group.create_array(name, dtype=values.dtype, fill_value=-1, **vec)
            array[:] = values


def cache_versions() -> dict[str, str]:
    """Versions of Python and of the packages a cache's content depends on (recorded in its attributes)."""
    return package_versions("gaae-audio", "numpy", "scipy", "soundfile", "zarr", "dask", "numba")


def item_columns(listing: DatasetListing, kept: np.ndarray, offsets: np.ndarray) -> tuple[dict, dict, list]:
    """The (n_kept,) columns of the kept items, the attribute value names, the split names."""
    items = [listing.items[i] for i in kept]
    split_names = sorted({it.split for it in listing.items})
    columns: dict[str, np.ndarray] = {
        "labels": np.array([it.label for it in items], dtype=np.int16),
        "offsets": offsets[kept].astype(np.int64),
        "splits": np.array([split_names.index(it.split) for it in items], dtype=np.int16),
        "crop_index": np.array([it.crop_index for it in items], dtype=np.int16),
        "paths": np.array([it.path for it in items], dtype=object),
    }
    attribute_names: dict[str, list[str]] = {}
    for name in sorted({k for it in listing.items for k in it.attributes}):
        values = sorted({it.attributes[name] for it in listing.items if name in it.attributes})
        lookup = {v: i for i, v in enumerate(values)}
        columns[f"attr_{name}"] = np.array(
            [lookup.get(it.attributes.get(name), -1) for it in items], np.int32
        )
        attribute_names[name] = values
    return columns, attribute_names, split_names


def group_attrs(listing: DatasetListing, config: SpectrogramConfig, **extra: Any) -> dict[str, Any]:
    """The root attributes of a new cache (``complete`` false), plus ``extra``."""
    return {
        "audiospec_cache": True,
        "format_version": FORMAT_VERSION,
        "complete": False,
        "config": config.to_dict(),
        "reader": listing.reader,
        "reader_options": listing.options,
        "root": listing.root,
        "label_names": list(listing.label_names),
        "versions": cache_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def finish(out: str, attrs: dict[str, Any]) -> None:
    """Mark the cache complete, then move the build folder away atomically and delete it."""
    import zarr

    group = zarr.open_group(out, mode="r+")
    group.attrs.update({**attrs, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "complete": True})
    build_dir = os.path.join(out, BUILD_DIR)
    if os.path.isdir(build_dir):
        trash = os.path.join(out, f"{BUILD_DIR}.done-{os.getpid()}")
        os.replace(build_dir, trash)
        shutil.rmtree(trash, ignore_errors=True)


def output_blocks(kept_per_block: list[int], block: int) -> list[tuple[int, int, list, int]]:
    """Pass-2 tasks: ``(j, lo, sources, k)`` for output rows ``lo .. lo + k`` (``block`` rows each,
    the last one shorter), ``sources`` the (input block, first, end) slices of the staged kept rows
    that fill them, in order. Without skipped files output block j is staged block j."""
    starts = np.concatenate([[0], np.cumsum(kept_per_block)]).astype(np.int64)
    total = int(starts[-1])
    tasks = []
    for j, lo in enumerate(range(0, total, block)):
        hi = min(lo + block, total)
        sources = []
        for b in range(int(np.searchsorted(starts, lo, side="right")) - 1, len(kept_per_block)):
            if starts[b] >= hi:
                break
            r0, r1 = max(lo, int(starts[b])) - int(starts[b]), min(hi, int(starts[b + 1])) - int(starts[b])
            if r1 > r0:
                sources.append((b, r0, r1))
        tasks.append((j, lo, sources, hi - lo))
    return tasks
