"""Reading training data from audiospec caches, and choosing the labelled subset."""

from __future__ import annotations

import math

import numpy as np
import torch

from audiospec.cache import SpectrogramCache, open_cache
from gaae_models.errors import ConfigError

__all__ = ["CacheSource", "ArraySource", "labelled_subset", "step_generator", "batch_indices"]


class CacheSource:
    """Minibatches of one audiospec cache as float32 tensors (B, 1, F, T).

    Random minibatches are read straight from the zarr cache (one chunk per item), so the cache
    need not fit in memory; ``in_memory=True`` loads it once for speed.
    """

    def __init__(self, cache: SpectrogramCache | str, *, in_memory: bool = False) -> None:
        self.cache = open_cache(cache) if isinstance(cache, str) else cache
        self.labels = self.cache.labels
        self._memory = self.cache[:] if in_memory else None

    def __getstate__(self) -> dict:
        """Pickled as the cache's path (reopened in the other process: a zarr group does not cross
        processes) and, with ``in_memory``, the loaded array."""
        state = dict(self.__dict__)
        state["cache"] = self.cache.path
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.cache = open_cache(state["cache"])

    def __len__(self) -> int:
        return len(self.cache)

    def get(self, indices: np.ndarray) -> torch.Tensor:
        """Spectrograms of the given items, (B, 1, F, T) float32."""
        data = self._memory[indices] if self._memory is not None else self.cache.batch(indices)[0]
        return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).unsqueeze(1)


class ArraySource:
    """Minibatches of in-memory spectrograms (N, F, T) with labels (N,) (-1 = unknown).

    For data that are not in an audiospec cache (and for benchmarks); same interface as
    :class:`CacheSource`.
    """

    def __init__(self, spectrograms: np.ndarray, labels: np.ndarray | None = None) -> None:
        data = np.asarray(spectrograms, dtype=np.float32)
        if data.ndim != 3:
            raise ConfigError(f"spectrograms must have shape (N, F, T) (got {data.shape})")
        self._data = data
        self.labels = np.full(len(data), -1, np.int64) if labels is None else np.asarray(labels, np.int64)
        if self.labels.shape != (len(data),):
            raise ConfigError(f"labels has shape {self.labels.shape}; expected ({len(data)},)")

    def __len__(self) -> int:
        return len(self._data)

    def get(self, indices: np.ndarray) -> torch.Tensor:
        """Spectrograms of the given items, (B, 1, F, T) float32."""
        return torch.from_numpy(self._data[indices]).unsqueeze(1)


def labelled_subset(labels: np.ndarray, fraction: float, *, n_classes: int, seed: int) -> np.ndarray:
    """A seeded, stratified subset of the labelled items: ``round(fraction * n_c)`` of each class.

    Parameters
    ----------
    labels : np.ndarray, shape (n,)
        Integer labels, -1 for unknown (never selected).
    fraction : float in (0, 1]
    n_classes : int
        K; every class must receive at least one item.
    seed : int

    Returns
    -------
    np.ndarray of item indices, sorted.

    Raises
    ------
    ConfigError
        A class would get no item (too small a fraction for its count).
    """
    if not (0.0 < fraction <= 1.0):
        raise ConfigError(f"labelled_fraction={fraction!r} must be in (0, 1]")
    rng = np.random.default_rng([seed, 7919])
    chosen = []
    for k in range(n_classes):
        members = np.flatnonzero(labels == k)
        count = math.floor(fraction * members.size + 0.5)
        if count == 0:
            raise ConfigError(
                f"labelled_fraction={fraction} leaves class {k} with no labelled item "
                f"({members.size} items of that class); raise the fraction"
            )
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


def step_generator(seed: int, step: int, stream: int, rank: int = 0) -> torch.Generator:
    """The torch generator of one training step: a function of (seed, step, stream, rank) only.

    Every random draw of a step (minibatch choice, prior samples, sampled labels, augmentation)
    comes from such generators, so a resumed run draws exactly what an uninterrupted one would.
    """
    seq = np.random.SeedSequence([int(seed), int(step), int(stream), int(rank)])
    return torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> 1))


def batch_indices(
    pool: np.ndarray, batch_size: int, *, seed: int, step: int, stream: int, rank: int = 0
) -> np.ndarray:
    """``batch_size`` items of ``pool`` for one step (without replacement within the batch)."""
    g = step_generator(seed, step, stream, rank)
    if batch_size <= pool.size:
        pick = torch.randperm(pool.size, generator=g)[:batch_size].numpy()
    else:
        pick = torch.randint(pool.size, (batch_size,), generator=g).numpy()
    return pool[np.sort(pick)]
