"""A tiny labelled spectrogram cache (synthetic NSynth-layout notes) shared by the gaae tests."""

from __future__ import annotations

import pytest

from audiospec.cache import build_cache
from audiospec.readers import list_folder, list_nsynth
from audiospec.synth import make_nsynth_demo


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
