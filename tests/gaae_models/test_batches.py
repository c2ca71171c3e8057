"""The batches of a run: pure functions of (seed, step, rank), the same on the training thread and
prefetched by DataLoader workers; a run trained with workers logs the same numbers."""

import json
import pickle

import numpy as np
import pytest
import torch

from gaae_models.batches import batch_maker, loader_workers, prepare_data, step_batches
from gaae_models.config import model_config
from gaae_models.errors import ConfigError
from gaae_models.train_config import TrainConfig
from gaae_models.training import fit

TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False}


def _train(kind, **overrides):
    fields = {"model": kind, "batch_size": 4, "labelled_batch_size": 2, "seed": 3, **overrides}
    if kind != "biggan-unsupervised":
        fields.setdefault("labelled_fraction", 0.5)
    return TrainConfig(**fields)


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["gaae", "cnn", "biggan-supervised", "biggan-unsupervised", "bigan"])
def test_batches_are_pure_functions_of_the_step(tiny_data, kind):
    train = _train(kind, guidance_augment=True)
    data = prepare_data(tiny_data["train"], train)
    make = batch_maker(kind, data, train, 16, 0)
    first = list(step_batches(make, range(3, 6)))
    again = [batch_maker(kind, prepare_data(tiny_data["train"], train), train, 16, 0)(s) for s in (3, 4, 5)]
    assert all(_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not _equal(first[0], first[1])  # another step, another batch
    other_rank = batch_maker(kind, data, train, 16, 1)(3)
    assert not _equal(first[0], other_rank)
    assert all(v.shape[0] in (2, 4) for v in first[0].values())


@pytest.mark.slow
def test_worker_processes_prefetch_the_same_batches(tiny_data):
    train = _train("gaae", guidance_augment=True)
    data = prepare_data(tiny_data["train"], train)
    make = batch_maker("gaae", data, train, 16, 0)
    here = list(step_batches(make, range(1, 5)))
    there = list(step_batches(make, range(1, 5), workers=2))
    assert len(there) == 4 and all(_equal(a, b) for a, b in zip(here, there, strict=True))


def test_cache_sources_pickle_as_their_path(tiny_data):
    train = _train("gaae")
    data = prepare_data(tiny_data["train"], train)
    blob = pickle.dumps(data.sources[0])
    assert len(blob) < 10_000  # the path, not the spectrograms
    idx = np.array([3, 0, 5])
    assert torch.equal(pickle.loads(blob).get(idx), data.sources[0].get(idx))


@pytest.mark.slow
def test_a_run_with_loader_workers_logs_the_same_numbers(tiny_data, tmp_path):
    logs = {}
    for workers in (0, 1):
        out = tmp_path / f"w{workers}"
        fit(
            tiny_data["train"],
            str(out),
            model_config=model_config("small", **TINY),
            train=_train("gaae", steps=3, loader_workers=workers, health_every=3),
            device="cpu",
            progress=False,
        )
        lines = [json.loads(line) for line in open(out / "log.jsonl")]
        logs[workers] = [{k: v for k, v in e.items() if not k.startswith("time/")} for e in lines]
    assert logs[0] == logs[1] and len(logs[0]) >= 3


def test_worker_count_is_validated_and_chosen_by_device():
    with pytest.raises(ConfigError, match=r"loader_workers=-1 must be null \(auto\) or an integer >= 0"):
        TrainConfig(loader_workers=-1)
    assert loader_workers(TrainConfig(), torch.device("cpu")) == 0
    assert loader_workers(TrainConfig(loader_workers=3), torch.device("cpu")) == 3
    assert loader_workers(TrainConfig(in_memory=True), torch.device("cuda")) == 0
    assert loader_workers(TrainConfig(), torch.device("cuda")) >= 0
