"""Direct reads and writes of the raw one-item chunks of a zarr v3 array, without a zarr call per item.

A cache's ``spectrograms`` (and ``logmag``) arrays hold one item per (inner) chunk, stored raw: the
zarr v3 ``bytes`` codec (little-endian, C order) and no compression, either

* **sharded** (format 3's default): ``S`` items per file ``c/<s>/0/0``, the sharding codec with its
  index at the end (``index_codecs``: bytes + crc32c). A shard is written whole, by one task, in one
  write: the items back to back, then the index of (offset, nbytes) pairs and its CRC32C, byte for
  byte what zarr writes; or
* **one file per item** (format 2's default): item ``i`` is the file ``c/<i>/0/0``.

zarr-python 3.1 spends about 1 ms writing and 0.75 ms reading each one-item chunk (3.5 ms reading an
inner chunk of a shard), while writing a whole shard directly costs 0.04 ms per item and a random
read 0.08 ms (``benchmarks/results/cache_v3.md``). The arrays are still created by zarr and stay
plain zarr v3 arrays for every other reader (zarr, dask, xarray); :func:`direct_layout` returns None
for any other layout (compressed, other chunk shapes or key encodings), which then goes through
zarr. The tests
check that zarr reads exactly what is written here, that a shard is byte-identical to zarr's, and
that this module reads what zarr writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DirectLayout", "direct_layout", "write_rows", "read_rows"]

_BYTES = ({"name": "bytes", "configuration": {"endian": "little"}}, {"name": "bytes"})
_CRC = {"name": "crc32c"}
_DTYPES = {"float16": "<f2", "float32": "<f4"}
_EMPTY = np.uint64(2**64 - 1)  # the shard index's (offset, nbytes) of an absent inner chunk


@dataclass(frozen=True)
class DirectLayout:
    """Where and how the one-item chunks of an array lie.

    Attributes
    ----------
    path : str
        The array's folder (holding its ``zarr.json``).
    n : int
        Items in the array (its first dimension).
    item_shape : tuple of int
        Shape of one item, e.g. ``(256, 128)``.
    dtype : np.dtype
        Little-endian storage dtype (float16 or float32).
    fill_value : float
        Value of the items that were never written.
    per_file : int
        Items per file: the shard size, or 1 without sharding.
    sharded : bool
        Whether files are shards (items, then an index) or single raw items.
    """

    path: str
    n: int
    item_shape: tuple[int, ...]
    dtype: np.dtype
    fill_value: float
    per_file: int
    sharded: bool

    @property
    def item_bytes(self) -> int:
        """Bytes of one item."""
        return int(np.prod(self.item_shape)) * self.dtype.itemsize

    def file_path(self, f: int) -> str:
        """File number ``f`` (shard or item): ``<path>/c/<f>/0/0`` (one ``/0`` per item axis)."""
        return os.path.join(self.path, "c", str(f), *(["0"] * len(self.item_shape)))


def _raw(codecs: Any) -> bool:
    return isinstance(codecs, list) and len(codecs) == 1 and codecs[0] in _BYTES


def direct_layout(path: str) -> DirectLayout | None:
    """The layout of the zarr v3 array at ``path`` when its items are raw one-item (inner) chunks,
    else None (read and write it with zarr)."""
    try:
        with open(os.path.join(path, "zarr.json")) as f:
            meta: dict[str, Any] = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    shape = meta.get("shape") or []
    grid = meta.get("chunk_grid", {})
    keys = meta.get("chunk_key_encoding", {})
    codecs = meta.get("codecs")
    if not (
        meta.get("zarr_format") == 3
        and meta.get("node_type") == "array"
        and meta.get("data_type") in _DTYPES
        and not meta.get("storage_transformers")
        and grid.get("name") == "regular"
        and len(shape) >= 2
        and keys.get("name") == "default"
        and keys.get("configuration", {}).get("separator", "/") == "/"
        and isinstance(meta.get("fill_value"), (int, float))
        and isinstance(codecs, list)
        and len(codecs) == 1
    ):
        return None
    outer = grid.get("configuration", {}).get("chunk_shape") or []
    if len(outer) != len(shape) or outer[1:] != shape[1:]:
        return None
    sharded = codecs[0].get("name") == "sharding_indexed"
    if sharded:
        conf = codecs[0].get("configuration", {})
        index_codecs = conf.get("index_codecs") or []
        ok = (
            conf.get("chunk_shape") == [1, *shape[1:]]
            and _raw(conf.get("codecs"))
            and conf.get("index_location", "end") == "end"
            and len(index_codecs) == 2
            and index_codecs[0] in _BYTES
            and index_codecs[1] == _CRC
        )
    else:
        ok = _raw(codecs) and outer[0] == 1
    if not ok:
        return None
    return DirectLayout(
        path=path,
        n=int(shape[0]),
        item_shape=tuple(int(s) for s in shape[1:]),
        dtype=np.dtype(_DTYPES[meta["data_type"]]),
        fill_value=float(meta["fill_value"]),
        per_file=int(outer[0]),
        sharded=sharded,
    )


def _write_file(target: str, buffers: list, reuse: str | None = None) -> None:
    """Write ``buffers`` as the file ``target``; with ``reuse``, over that existing file's pages
    (then truncated and renamed to ``target``), which allocates no new page-cache memory."""
    if reuse is not None:
        with open(reuse, "r+b") as f:
            for buffer in buffers:
                f.write(buffer)
            f.truncate()
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(reuse, target)
        return
    try:
        f = open(target, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        f = open(target, "wb")
    with f:
        for buffer in buffers:
            f.write(buffer)


def write_rows(layout: DirectLayout, lo: int, rows: np.ndarray, *, reuse: str | None = None) -> None:
    """Write ``rows`` (k, *item_shape) as items ``lo .. lo + k - 1``.

    Sharded: ``lo`` must start a shard and the rows must fill it (or end the array), so that each
    shard is written whole by one writer. Files are written in place, not renamed: a build killed
    mid-write rewrites the whole block on resume (its marker is missing). ``reuse``: a scratch file
    (about the size of the one shard ``rows`` make) to be overwritten, truncated and renamed into
    place (it is consumed).

    Raises
    ------
    ValueError
        The rows do not fit the array, or do not cover whole shards.
    """
    import google_crc32c  # a dependency of zarr's crc32c codec

    rows = np.ascontiguousarray(rows, dtype=layout.dtype)
    k, per = rows.shape[0], layout.per_file
    if rows.shape[1:] != layout.item_shape or lo < 0 or lo + k > layout.n:
        raise ValueError(f"rows {rows.shape} at {lo} do not fit {layout.n} items of {layout.item_shape}")
    if not layout.sharded:
        for j in range(k):
            _write_file(layout.file_path(lo + j), [rows[j].data])
        return
    if lo % per or (k % per and lo + k != layout.n):
        raise ValueError(f"rows {lo}..{lo + k} do not cover whole shards of {per} items")
    if reuse is not None and k > per:
        raise ValueError(f"reuse={reuse!r} holds one shard; rows {lo}..{lo + k} make {-(-k // per)}")
    for s in range(0, k, per):
        block = rows[s : s + per]
        index = np.full((per, 2), _EMPTY, dtype="<u8")
        index[: block.shape[0], 0] = np.arange(block.shape[0], dtype=np.uint64) * layout.item_bytes
        index[: block.shape[0], 1] = layout.item_bytes
        crc = np.uint32(google_crc32c.value(index.tobytes())).astype("<u4").tobytes()
        _write_file(layout.file_path((lo + s) // per), [block.data, index.data, crc], reuse)


def _read_into(fd: int, buffer: memoryview, offset: int, name: str) -> None:
    got = 0
    while got < len(buffer):
        step = os.preadv(fd, [buffer[got:]], offset + got)
        if step == 0:
            raise OSError(f"chunk file {name} ends early (read {got} of {len(buffer)} bytes at {offset})")
        got += step


def read_rows(layout: DirectLayout, index: np.ndarray) -> np.ndarray:
    """Items ``index`` (k,) as an array (k, *item_shape) of the storage dtype.

    Items never written read as the fill value, as in zarr. Sorted indices read each file once.

    Raises
    ------
    OSError
        A file is shorter than its layout or its shard index says (a damaged cache).
    """
    out = np.empty((len(index), *layout.item_shape), dtype=layout.dtype)
    size, per = layout.item_bytes, layout.per_file
    fd, current, table = -1, -1, None
    try:
        for k, i in enumerate(np.asarray(index, dtype=np.int64)):
            f, j = divmod(int(i), per)
            if f != current:
                if fd >= 0:
                    os.close(fd)
                    fd = -1
                current = f
                try:
                    fd = os.open(layout.file_path(f), os.O_RDONLY)
                except FileNotFoundError:
                    fd = -1
                if fd >= 0 and layout.sharded:
                    raw = bytearray(per * 16)
                    _read_into(fd, memoryview(raw), os.fstat(fd).st_size - per * 16 - 4, layout.file_path(f))
                    table = np.frombuffer(bytes(raw), dtype="<u8").reshape(per, 2)
            if fd < 0 or (layout.sharded and table[j, 0] == _EMPTY):
                out[k] = layout.fill_value
                continue
            offset = int(table[j, 0]) if layout.sharded else 0
            if layout.sharded and int(table[j, 1]) != size:
                name = layout.file_path(f)
                raise OSError(f"shard {name} holds {int(table[j, 1])} bytes for an item of {size}")
            _read_into(fd, out[k].data.cast("B"), offset, layout.file_path(f))
    finally:
        if fd >= 0:
            os.close(fd)
    return out
