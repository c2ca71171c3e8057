"""Shared fixtures: a seeded rng, the default config, a tiny labelled cache, a short run of every model and
a loopback Hub."""

from __future__ import annotations

import numpy as np
import pytest

import audiospec
from audiospec.cache import build_cache
from audiospec.readers import list_folder, list_nsynth
from audiospec.synth import make_nsynth_demo


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(440)


@pytest.fixture
def config() -> audiospec.SpectrogramConfig:
    return audiospec.SpectrogramConfig()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("gaae_data")
    splits = {"train": 1.0, "test": 0.5}
    make_nsynth_demo(str(root / "nsynth"), per_family=6, splits=splits, seed=0, duration=1.1)
    paths = {}
    for split in ("train", "test"):
        listing = list_nsynth(str(root / "nsynth"), split=split, sources=("all",))
        paths[split] = str(root / f"{split}.zarr")
        build_cache(
            listing,
            paths[split],
            workers=1,
            progress=False,
            stats_from=paths.get("train") if split == "test" else None,
        )
    unlabelled = list_folder(str(root / "nsynth" / "nsynth-train" / "audio"), labels="none")
    paths["unlabelled"] = str(root / "unlabelled.zarr")
    build_cache(unlabelled, paths["unlabelled"], workers=1, progress=False)
    return paths


@pytest.fixture(scope="session")
def tiny_runs(tiny_data, tmp_path_factory):
    """One short run of every model kind on the tiny cache (the CNN twice: 50 % and all labels)."""
    from gaae_models.config import model_config
    from gaae_models.train_config import TrainConfig
    from gaae_models.training import fit

    root = tmp_path_factory.mktemp("gaae_runs")
    specs = {
        "gaae": {"model": "gaae", "labelled_fraction": 0.5},
        "biggan-supervised": {"model": "biggan-supervised"},
        "biggan-unsupervised": {"model": "biggan-unsupervised"},
        "bigan": {"model": "bigan", "labelled_fraction": 0.5, "probe_steps": 30},
        "cnn": {"model": "cnn", "labelled_fraction": 0.5},
        "cnn100": {"model": "cnn", "steps": 4},
    }
    runs = {}
    for name, fields in specs.items():
        train = TrainConfig.from_dict({"steps": 2, "batch_size": 4, "n_sample_wavs": 1, **fields})
        runs[name] = str(root / name)
        fit(
            tiny_data["train"],
            runs[name],
            # E_s with a batch norm: a whitening's first (rank-deficient) batches blow s up
            # on purpose, and a G trained for 2 steps would then ignore s (see nn.Whitening)
            model_config=model_config("cpu", s_norm="batch"),
            train=train,
            device="cpu",
            progress=False,
        )
    return runs


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback Hub server (:mod:`tests.gaae_models.hub_server`) that huggingface_hub talks to."""
    from tests.gaae_models.hub_server import HubServer, point_client_at

    with HubServer() as server:
        point_client_at(monkeypatch, tmp_path, server.url)
        yield server
