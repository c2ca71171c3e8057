"""Reading audiospec caches: :class:`SpectrogramCache` and :func:`open_cache` (torch-free)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from audiospec._cache_layout import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    cache_state,
    describe_holder,
    lock_holder,
)
from audiospec._chunk_io import DirectLayout, direct_layout, read_rows
from audiospec.config import SpectrogramConfig
from audiospec.errors import CacheError, ParameterError
from audiospec.stats import DatasetStats

__all__ = ["SpectrogramCache", "open_cache"]


class SpectrogramCache:
    """Read access to a complete cache (torch-free). Use :func:`open_cache`.

    Item ``i`` is row ``i`` of the arrays of a format-2 or format-3 cache. In a format-1 cache,
    whose arrays kept a NaN row for each skipped file, item ``i`` is the i-th valid row
    (:attr:`storage_index`).
    Spectrograms come back as float32 whatever the stored dtype.

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
        self.format_version = int(attrs["format_version"])
        labels = group["labels"][:]
        # format 1 kept a row for every listed file; formats 2 and 3 hold the kept items only
        self._index = np.flatnonzero(group["valid"][:]) if "valid" in group else np.arange(labels.shape[0])
        self._compact = "valid" not in group
        self._labels = labels[self._index].astype(np.int64)  # small: read once
        self._spectrograms = group["spectrograms"]
        self._layouts: dict[str, DirectLayout | None] = {}

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
    def storage_dtype(self) -> np.dtype:
        """dtype of the stored spectrograms (float16 by default since format 2, float32 before);
        reads return float32 whatever it is."""
        return np.dtype(self._spectrograms.dtype)

    @property
    def storage_index(self) -> np.ndarray:
        """Slot in the zarr arrays of each item, shape (n,)."""
        return self._index

    def _column(self, name: str) -> np.ndarray:
        values = self._group[name][:]
        return values if self._compact else values[self._index]

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
        if indices.size == 0:  # np.asarray([]) is float64: an empty selection is still a selection
            indices = indices.astype(np.int64)
        if indices.dtype.kind not in "iu":
            raise ParameterError(f"indices must be integers (got dtype {indices.dtype})")
        n = len(self)
        bad = (indices < -n) | (indices >= n)
        if np.any(bad):
            raise ParameterError(f"index {int(indices[bad][0])} is out of range for a cache of {n} items")
        return np.where(indices < 0, indices + n, indices)

    def _read(self, name: str, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Items ``indices`` of the array ``name`` as float32: each distinct item read once, in
        storage order, by direct file reads where the layout allows (:mod:`audiospec._chunk_io`),
        else by one zarr selection."""
        idx = self._check(np.asarray(indices).reshape(-1))
        slots = self._index[idx]
        unique, inverse = np.unique(slots, return_inverse=True)
        if unique.size == 0:
            return np.zeros((0, *self.config.shape), dtype=np.float32)
        if name not in self._layouts:
            self._layouts[name] = direct_layout(os.path.join(self.path, name))
        layout = self._layouts[name]
        array = self._spectrograms if name == "spectrograms" else self._group[name]
        if layout is not None:
            data = read_rows(layout, unique)
        elif unique.size == unique[-1] - unique[0] + 1:  # contiguous: one slice read
            data = array[int(unique[0]) : int(unique[-1]) + 1]
        else:
            data = array.get_orthogonal_selection((unique,))
        return data.astype(np.float32, copy=False)[inverse]

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """Normalised spectrograms: ``cache[i]`` is (F, T); ``cache[a:b]``, ``cache[[i, j]]`` (k, F, T)."""
        if isinstance(key, (int, np.integer)):
            return self._read("spectrograms", [int(key)])[0]
        if isinstance(key, slice):
            return self._read("spectrograms", np.arange(len(self))[key])
        return self._read("spectrograms", key)

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spectrograms (k, F, T) float32 in [-1, 1] and labels (k,) int64 of the given items."""
        idx = np.asarray(indices)
        return self._read("spectrograms", idx), self._labels[self._check(idx.reshape(-1))]

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

    def attributes(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Codes (k,) int64 of every categorical attribute of the given items (-1 = unknown)."""
        idx = self._check(np.asarray(indices).reshape(-1))
        if not hasattr(self, "_attribute_codes"):  # small: read once, on first use
            self._attribute_codes = {name: self.attribute(name)[0] for name in self.attribute_names}
        return {name: codes[idx] for name, codes in self._attribute_codes.items()}

    def logmag(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Raw log-magnitudes (k, F, T) of the given items (if the cache kept them)."""
        if "logmag" not in self._group:
            raise CacheError(
                f"{self.path} has no raw log-magnitudes (built without keep_logmag=True / --keep-logmag); "
                "rebuild it with --keep-logmag --overwrite to keep them"
            )
        return self._read("logmag", indices)


def open_cache(path: str | os.PathLike) -> SpectrogramCache:
    """Open a complete spectrogram cache for reading (format 3 or 2, or 1 with its holes masked).

    Raises
    ------
    CacheError
        ``path`` is missing or not an audiospec cache; a build is in progress (the message names the
        process); an interrupted build (run the same command again to resume it); or a format
        version this audiospec cannot read (the message says how to rebuild).
    """
    import zarr

    path = os.path.abspath(os.fspath(path))
    state, info = cache_state(path)
    if state == "absent":
        raise CacheError(f"no cache at {path}")
    if state in ("foreign", "abandoned"):
        raise CacheError(
            f"{path} is not an audiospec cache"
            + (
                " (an interrupted format-1 build: rebuild it with --overwrite)"
                if state == "abandoned"
                else ""
            )
        )
    if state == "building":
        holder = lock_holder(path)
        if holder is not None:
            raise CacheError(
                f"{path} is being built right now ({describe_holder(holder)}); open it when that finishes"
            )
        raise CacheError(
            f"{path} is an incomplete build (interrupted?); run the same build-cache command again to "
            "resume it, or add --overwrite to start over"
        )
    version = info.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CacheError(
            f"{path} has cache format_version={version!r}; this audiospec reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} and writes {FORMAT_VERSION}: rebuild it with "
            "the same `audiospec build-cache ...` command plus --overwrite"
        )
    return SpectrogramCache(path, zarr.open_group(path, mode="r"))
