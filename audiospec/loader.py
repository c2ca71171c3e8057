"""A ``torch.utils.data`` dataset and loader over an audiospec cache (needs torch; audiospec does not).

Each *batch* is read with one orthogonal zarr selection over its sorted items (measured 4-6x faster
than one read per item), in worker processes, with pinned memory for a GPU. The loader yields dicts::

    {"x": float32 (B, 1, F, T) in [-1, 1], "y": int64 (B,) (-1 = unknown),
     "index": int64 (B,) (item numbers in the cache), "attributes": {name: int64 (B,) codes}}

Examples
--------
>>> from audiospec.loader import cache_loader                      # doctest: +SKIP
>>> loader = cache_loader("train.zarr", batch_size=128, num_workers=4, seed=0)  # doctest: +SKIP
>>> for batch in loader:                                           # doctest: +SKIP
...     x = batch["x"].to("cuda", non_blocking=True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import torch
    from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
except ImportError as exc:  # pragma: no cover - torch is optional for audiospec
    raise ImportError(
        "audiospec.loader needs PyTorch (pip install torch); the rest of audiospec works without it"
    ) from exc

from audiospec._cache_read import SpectrogramCache, open_cache
from audiospec.errors import ParameterError

__all__ = ["CacheDataset", "cache_loader"]


class CacheDataset(Dataset):
    """Items of an audiospec cache for torch; indexable by one item or by a list of items (a batch).

    The cache is opened lazily in each process (the dataset pickles as its path), so it works with
    any number of DataLoader workers and any start method.

    Parameters
    ----------
    cache : str, path-like or SpectrogramCache
        The cache.
    indices : sequence of int, optional
        A subset of the cache's items (a labelled subset, a split); all items by default.
    attributes : sequence of str, optional
        Attribute columns to yield (default: all the cache has).
    """

    def __init__(
        self,
        cache: str | os.PathLike | SpectrogramCache,
        *,
        indices: Sequence[int] | np.ndarray | None = None,
        attributes: Sequence[str] | None = None,
    ) -> None:
        opened = cache if isinstance(cache, SpectrogramCache) else open_cache(cache)
        self.path = opened.path
        n = len(opened)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise ParameterError(f"indices must lie in 0..{n - 1} (the items of {self.path})")
        names = list(opened.attribute_names) if attributes is None else list(attributes)
        unknown = sorted(set(names) - set(opened.attribute_names))
        if unknown:
            raise ParameterError(
                f"attributes={unknown} are not in {self.path}; it has {sorted(opened.attribute_names)}"
            )
        self.attribute_names = names
        self.labels = opened.labels[self.indices]
        self._codes = {name: opened.attribute(name)[0][self.indices] for name in names}
        self._cache: SpectrogramCache | None = opened

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = None  # reopened in the worker
        return state

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, key: int | Sequence[int] | np.ndarray) -> dict[str, Any]:
        """One item (``x`` of shape (1, F, T)) or a batch (``x`` of shape (B, 1, F, T))."""
        if self._cache is None:
            self._cache = open_cache(self.path)
        single = isinstance(key, (int, np.integer))
        positions = np.asarray([key] if single else key, dtype=np.int64).reshape(-1)
        x = self._cache[self.indices[positions]]  # one selection, sorted and deduplicated inside
        batch = {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(1),
            "y": torch.from_numpy(self.labels[positions]),
            "index": torch.from_numpy(self.indices[positions]),
            "attributes": {k: torch.from_numpy(v[positions]) for k, v in self._codes.items()},
        }
        if single:
            return {
                "x": batch["x"][0],
                "y": batch["y"][0],
                "index": batch["index"][0],
                "attributes": {k: v[0] for k, v in batch["attributes"].items()},
            }
        return batch


def cache_loader(
    cache: str | os.PathLike | SpectrogramCache | CacheDataset,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = True,
    num_workers: int = 2,
    pin_memory: bool | None = None,
    prefetch_factor: int = 4,
    persistent_workers: bool = True,
    multiprocessing_context: str | None = None,
) -> DataLoader:
    """A DataLoader of random (or ordered) minibatches of a cache, one zarr read per batch.

    Parameters
    ----------
    cache : path, SpectrogramCache or CacheDataset
    batch_size : int >= 1
    shuffle : bool
        Random order, reshuffled every epoch from a generator seeded with ``seed``.
    seed : int
    drop_last : bool
        Drop a last, smaller batch.
    num_workers : int >= 0
        Reader processes (0: read on the calling thread).
    pin_memory : bool, optional
        Page-locked batches for fast ``.to("cuda", non_blocking=True)``; default: when CUDA is available.
    prefetch_factor : int
        Batches each worker keeps ready.
    persistent_workers : bool
        Keep the workers between epochs.
    multiprocessing_context : str, optional
        ``"fork"``, ``"spawn"`` or ``"forkserver"``; torch's default when omitted.

    Returns
    -------
    torch.utils.data.DataLoader
        Yields the dicts described in the module docstring.
    """
    dataset = cache if isinstance(cache, CacheDataset) else CacheDataset(cache)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be an integer >= 1")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ParameterError(f"num_workers={num_workers!r} must be an integer >= 0")
    if shuffle:
        order = RandomSampler(dataset, generator=torch.Generator().manual_seed(int(seed)))
    else:
        order = SequentialSampler(dataset)
    workers = {}
    if num_workers > 0:
        workers = {
            "prefetch_factor": prefetch_factor,
            "persistent_workers": persistent_workers,
            "multiprocessing_context": multiprocessing_context,
        }
    return DataLoader(
        dataset,
        batch_size=None,  # the sampler hands out whole batches; the dataset reads each in one go
        sampler=BatchSampler(order, batch_size, drop_last),
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        **workers,
    )
