"""The minibatches of a training run.

- :class:`TrainingData` and :func:`prepare_data`: the caches of a run, its unlabelled pool and its
  seeded, stratified labelled subset.
- One function per model kind (:func:`gaae_batch`, :func:`gan_batch`, :func:`cnn_batch`,
  :func:`bigan_batch`) gives the batch of a step as a pure function of (seed, step, rank): the
  item indices, the prior draws and the augmentation come from generators seeded by those, so a
  resumed run reads exactly the batches it would have read.
- :func:`step_batches` yields them for a range of steps, on the training thread or prefetched by a
  ``torch.utils.data.DataLoader`` in worker processes (``train.loader_workers``) with pinned memory
  for a GPU. Both give the same batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gaae_models.data import CacheSource, batch_indices, labelled_subset, step_generator
from gaae_models.errors import ConfigError
from gaae_models.kinds import model_kind
from gaae_models.train_config import TrainConfig

__all__ = [
    "TrainingData",
    "prepare_data",
    "spec_augment",
    "gaae_batch",
    "gan_batch",
    "cnn_batch",
    "bigan_batch",
    "StepBatches",
    "step_batches",
    "loader_workers",
    "batch_maker",
    "to_device",
    "STREAM_HEALTH",
]

#: Random streams of a step (each seeded by (seed, step, stream, rank)); :data:`STREAM_HEALTH`
#: seeds the trainers' held batch and health measurements.
(
    _STREAM_UNLABELLED,
    _STREAM_LABELLED,
    _STREAM_PRIOR,
    _STREAM_LABELS,
    _STREAM_AUGMENT,
    _STREAM_PRIOR_G,
    _STREAM_LABELS_G,
    STREAM_HEALTH,
) = range(8)


def spec_augment(
    x: torch.Tensor,
    *,
    generator: torch.Generator,
    n_masks: int = 2,
    max_freq: int = 24,
    max_time: int = 16,
    value: float = -1.0,
) -> torch.Tensor:
    """SpecAugment-style masking (Park et al., 2019): ``n_masks`` frequency and time bands per item.

    x: (B, 1, F, T) normalised spectrograms; masked bins are set to ``value`` (the clip floor, -1).
    Returns a new tensor.
    """
    b, _, n_freq, n_time = x.shape
    out = x.clone()
    f_idx = torch.arange(n_freq).view(1, -1)
    t_idx = torch.arange(n_time).view(1, -1)
    for _ in range(n_masks):
        width = torch.randint(0, max_freq + 1, (b, 1), generator=generator)
        start = (torch.rand((b, 1), generator=generator) * (n_freq - width + 1)).long()
        mask = (f_idx >= start) & (f_idx < start + width)  # (B, F)
        out = out.masked_fill(mask.view(b, 1, n_freq, 1).to(out.device), value)
        width = torch.randint(0, max_time + 1, (b, 1), generator=generator)
        start = (torch.rand((b, 1), generator=generator) * (n_time - width + 1)).long()
        mask = (t_idx >= start) & (t_idx < start + width)
        out = out.masked_fill(mask.view(b, 1, 1, n_time).to(out.device), value)
    return out


@dataclass
class TrainingData:
    """The unlabelled pool, the labelled pool and the label names of a run.

    ``sources[0]`` is the training cache; with a labelled cache, ``sources[1]`` is that cache and its
    items join the unlabelled pool too. Pools hold global indices over the concatenated sources.
    """

    sources: list[CacheSource]
    unlabelled: np.ndarray
    labelled: np.ndarray
    labelled_targets: np.ndarray
    label_names: list[str]
    description: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._offsets = np.cumsum([0] + [len(s) for s in self.sources])
        self._lookup = dict(zip(self.labelled.tolist(), self.labelled_targets.tolist(), strict=True))

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def get(self, indices: np.ndarray) -> torch.Tensor:
        """Spectrograms (B, 1, F, T) of global indices, in the given order."""
        offsets = self._offsets
        out = [None] * len(indices)
        for k, source in enumerate(self.sources):
            mask = (indices >= offsets[k]) & (indices < offsets[k + 1])
            if mask.any():
                data = source.get(indices[mask] - offsets[k])
                for pos, row in zip(np.flatnonzero(mask), data, strict=True):
                    out[pos] = row
        return torch.stack(out)

    def target(self, indices: np.ndarray) -> torch.Tensor:
        """Labels of labelled-pool items given by global index."""
        return torch.tensor([self._lookup[int(i)] for i in indices], dtype=torch.long)


def prepare_data(cache_path: str, train: TrainConfig) -> TrainingData:
    """Open the caches and choose the labelled subset (seeded and stratified).

    The unsupervised BigGAN uses no labels: its labelled pool is empty and the cache may be
    unlabelled. The supervised BigGAN uses every label unless a fraction is given.
    """
    uses_labels = model_kind(train.model).uses_labels
    main = CacheSource(cache_path, in_memory=train.in_memory)
    sources = [main]
    if not uses_labels:
        if train.labelled_fraction is not None or train.labelled_cache:
            raise ConfigError(
                "the unsupervised BigGAN uses no labels: drop --labelled-fraction / --labelled-cache"
            )
        names = list(main.cache.label_names) if main.cache.has_labels else []
        labelled = np.zeros(0, np.int64)
        targets = np.zeros(0, np.int64)
        how = {"n_labelled": 0}
    elif train.labelled_cache:
        guide = CacheSource(train.labelled_cache, in_memory=train.in_memory)
        if not guide.cache.has_labels:
            raise ConfigError(f"labelled_cache={train.labelled_cache!r} has no labels")
        if guide.cache.config != main.cache.config:
            raise ConfigError(
                "labelled_cache was built with another transform config than the training cache"
            )
        sources.append(guide)
        known = np.flatnonzero(guide.labels >= 0)
        labelled = known + len(main)
        targets = guide.labels[known]
        names = guide.cache.label_names
        how = {"labelled_cache": os.path.abspath(train.labelled_cache), "n_labelled": int(known.size)}
    else:
        if not main.cache.has_labels:
            raise ConfigError(
                f"the cache {cache_path!r} has no labels: pass --labelled-cache OTHER to take the guidance "
                "from a labelled cache"
            )
        names = main.cache.label_names
        fraction = 1.0 if train.labelled_fraction is None else train.labelled_fraction
        labelled = labelled_subset(main.labels, fraction, n_classes=len(names), seed=train.seed)
        targets = main.labels[labelled]
        how = {"labelled_fraction": fraction, "n_labelled": int(labelled.size)}
    if len(names) < 2 and uses_labels:
        raise ConfigError(f"the labels {names} give fewer than 2 classes")
    unlabelled = np.arange(sum(len(s) for s in sources))
    description = {
        "cache": os.path.abspath(cache_path),
        "cache_items": len(main),
        "cache_stats": {k: v for k, v in main.cache.stats.to_dict().items() if k != "partial"},
        "label_names": list(names),
        "per_class_labelled": {names[k]: int(np.sum(targets == k)) for k in range(len(names))},
        **how,
    }
    return TrainingData(sources, unlabelled, labelled, targets.astype(np.int64), list(names), description)


# ---------------------------------------------------------------------------------------------------
# the batch of a step, per model kind (CPU tensors)

Batch = dict[str, torch.Tensor]


def gaae_batch(data: TrainingData, train: TrainConfig, s_dim: int, step: int, rank: int = 0) -> Batch:
    """The GAAE's batch of ``step``: unlabelled ``x`` (B, 1, F, T), guidance ``x_l`` / ``x_l_aug``
    (L, 1, F, T) and ``y_l`` (L,), the D step's prior ``s_prior`` (B, s_dim) and labels ``y_r``
    (B,), and the E/G/C step's ``s_prior_g`` / ``y_r_g`` (fresh draws, or the D step's)."""
    t, seed, k = train, train.seed, data.n_classes
    idx = batch_indices(
        data.unlabelled, t.batch_size, seed=seed, step=step, stream=_STREAM_UNLABELLED, rank=rank
    )
    lab = batch_indices(
        data.labelled, t.labelled_batch, seed=seed, step=step, stream=_STREAM_LABELLED, rank=rank
    )

    def draws(prior_stream: int, label_stream: int) -> tuple[torch.Tensor, torch.Tensor]:
        prior = torch.randn(t.batch_size, s_dim, generator=step_generator(seed, step, prior_stream, rank))
        labels = torch.randint(k, (t.batch_size,), generator=step_generator(seed, step, label_stream, rank))
        return prior, labels

    prior, y_r = draws(_STREAM_PRIOR, _STREAM_LABELS)
    prior_g, y_r_g = draws(_STREAM_PRIOR_G, _STREAM_LABELS_G) if t.fresh_g_draws else (prior, y_r)
    x_l = data.get(lab)
    augment = step_generator(seed, step, _STREAM_AUGMENT, rank)
    x = data.get(idx)
    batch = {
        "x": x,
        "x_l": x_l,
        "x_l_aug": spec_augment(x_l, generator=augment) if t.guidance_augment else x_l,
        "y_l": data.target(lab),
        "s_prior": prior,
        "y_r": y_r,
        "s_prior_g": prior_g,
        "y_r_g": y_r_g,
    }
    if t.g4 > 0 and t.pseudo_augment:  # the student's view of the unlabelled batch (L_cls,pseudo)
        batch["x_aug"] = spec_augment(x, generator=augment)
    return batch


def gan_batch(
    data: TrainingData, train: TrainConfig, s_dim: int, step: int, rank: int = 0, *, conditional: bool
) -> Batch:
    """The BigGAN's batch of ``step``: real ``x`` (with labels ``y`` and fake labels ``y_r`` when
    ``conditional``, drawn from the labelled pool) and the prior ``s_prior`` (B, s_dim)."""
    t, seed = train, train.seed
    pool = data.labelled if conditional else data.unlabelled
    stream = _STREAM_LABELLED if conditional else _STREAM_UNLABELLED
    idx = batch_indices(pool, t.batch_size, seed=seed, step=step, stream=stream, rank=rank)
    prior = torch.randn(t.batch_size, s_dim, generator=step_generator(seed, step, _STREAM_PRIOR, rank))
    batch = {"x": data.get(idx), "s_prior": prior}
    if conditional:
        batch["y"] = data.target(idx)
        batch["y_r"] = torch.randint(
            data.n_classes, (t.batch_size,), generator=step_generator(seed, step, _STREAM_LABELS, rank)
        )
    return batch


def cnn_batch(data: TrainingData, train: TrainConfig, step: int, rank: int = 0) -> Batch:
    """The simple CNN's batch of ``step``: labelled ``x`` (SpecAugment when ``train.spec_augment``)
    and ``y``."""
    t = train
    idx = batch_indices(
        data.labelled, t.batch_size, seed=t.seed, step=step, stream=_STREAM_LABELLED, rank=rank
    )
    x = data.get(idx)
    if t.spec_augment:
        x = spec_augment(x, generator=step_generator(t.seed, step, _STREAM_AUGMENT, rank))
    return {"x": x, "y": data.target(idx)}


def bigan_batch(data: TrainingData, train: TrainConfig, z_dim: int, step: int, rank: int = 0) -> Batch:
    """The BiGAN's batch of ``step``: unlabelled ``x`` and the prior ``z_prior`` (B, z_dim)."""
    t, seed = train, train.seed
    idx = batch_indices(
        data.unlabelled, t.batch_size, seed=seed, step=step, stream=_STREAM_UNLABELLED, rank=rank
    )
    prior = torch.randn(t.batch_size, z_dim, generator=step_generator(seed, step, _STREAM_PRIOR, rank))
    return {"x": data.get(idx), "z_prior": prior}


def to_device(batch: Batch, device: torch.device) -> Batch:
    """``batch`` with every tensor on ``device`` (asynchronously from pinned memory)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------------------
# prefetching


class StepBatches(torch.utils.data.Dataset):
    """A dataset whose item ``step`` is the batch of that step (``make(step)``): a DataLoader over
    it with a sampler of steps prefetches the batches of a run in worker processes.

    Parameters
    ----------
    make : callable
        ``make(step) -> dict of tensors``, picklable (a :func:`functools.partial` of one of the
        batch functions above).
    """

    def __init__(self, make: Callable[[int], Batch]) -> None:
        self.make = make

    def __getitem__(self, step: int) -> Batch:
        return self.make(int(step))

    def __len__(self) -> int:  # a dataset of every step; the sampler picks the range
        return 2**62


def loader_workers(train: TrainConfig, device: torch.device) -> int:
    """Worker processes for :func:`step_batches`: ``train.loader_workers``, or by default 0 on a
    CPU or with ``in_memory`` data (the training thread reads faster than workers start and
    compete for cores) and up to 4 on a GPU (leaving a core for the training thread)."""
    if train.loader_workers is not None:
        return train.loader_workers
    if device.type == "cpu" or train.in_memory:
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def step_batches(
    make: Callable[[int], Batch],
    steps: range,
    *,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch: int = 4,
) -> Iterator[Batch]:
    """The batches ``make(step)`` for ``step`` in ``steps``, in order.

    Parameters
    ----------
    make : callable
        ``make(step) -> dict of CPU tensors``; with ``workers``, it must be picklable.
    steps : range
    workers : int
        0: each batch is made on the calling thread when it is needed. Otherwise a
        ``torch.utils.data.DataLoader`` with that many worker processes (started with ``spawn``:
        zarr's I/O threads do not survive ``fork``) keeps ``prefetch`` batches per worker ready.
    pin_memory : bool
        Page-locked batches, for ``to_device(..., non_blocking=True)`` on a GPU.
    prefetch : int

    Yields
    ------
    dict of str to torch.Tensor
    """
    if workers == 0:
        for step in steps:
            yield make(step)
        return
    loader = torch.utils.data.DataLoader(
        StepBatches(make),
        sampler=list(steps),
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=prefetch,
        multiprocessing_context="spawn",
    )
    yield from loader


def batch_maker(
    kind: str, data: TrainingData, train: TrainConfig, latent_dim: int, rank: int
) -> Callable[[int], Batch]:
    """The picklable ``make(step)`` of a model kind (``train.model``); ``latent_dim`` is the
    generator's prior dimension (unused by the CNN). The kind's ``make_batches`` in
    :data:`gaae_models.kinds.KINDS` (ConfigError naming the kinds for another value)."""
    return model_kind(kind).make_batches(data, train, latent_dim, rank)
