"""load_run and generation: samples, interpolations, style transfer from audio, generated caches."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from audiospec.cache import open_cache
from gaae_models import generation
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.runs import is_run, load_run
from gaae_models.training import GAAE


def test_load_run_rebuilds_the_trained_networks(tiny_runs, tiny_data):
    run = load_run(tiny_runs["gaae"])
    assert run.kind == "gaae" and run.step == 2 and run.label_names == ["guitar", "string", "mallet"]
    assert run.labelled_fraction == 0.5 and run.conditional and run.can_classify
    # the same weights as the checkpoint: compare with a GAAE loaded by hand
    from gaae_models.checkpoint import latest_checkpoint, load_checkpoint

    # E and C are read from their EMA copies (train.ema_encoder_decay), unless use_ema=False
    x = open_cache(tiny_data["test"])[:3]
    for use_ema, prefix in ((True, "ema_"), (False, "")):
        model = GAAE(run.model_config)
        load_checkpoint(
            latest_checkpoint(tiny_runs["gaae"]),
            modules={
                f"{prefix}encoder": model.encoder,
                "decoder": model.decoder,
                f"{prefix}classifier": model.classifier,
            },
        )
        model.eval()
        with torch.no_grad():
            z, s = model.encoder(torch.from_numpy(x).unsqueeze(1))
            logits = model.classifier(z)
        loaded = load_run(tiny_runs["gaae"], use_ema=use_ema)
        codes = loaded.encode(x)
        np.testing.assert_allclose(codes["z"], z.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(codes["s"], s.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loaded.predict_logits(x), logits.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(run.encode(x)["z"], load_run(tiny_runs["gaae"], use_ema=False).encode(x)["z"])


def test_load_run_errors(tmp_path, tiny_runs):
    with pytest.raises(CheckpointError, match="is not a gaae run"):
        load_run(tmp_path)
    assert not is_run(tmp_path) and is_run(tiny_runs["cnn"])
    with pytest.raises(CheckpointError, match="does not exist"):
        load_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no generator"):
        load_run(tiny_runs["cnn"]).generate(2)
    with pytest.raises(ConfigError, match="not one of this run's labels"):
        load_run(tiny_runs["gaae"]).label_index("banjo")


def test_generate_is_seeded_balanced_and_in_range(tiny_runs):
    run = load_run(tiny_runs["biggan-supervised"])
    x, y = run.generate(7, seed=3)
    np.testing.assert_array_equal(y, [0, 1, 2, 0, 1, 2, 0])
    assert x.shape == (7, 256, 128) and np.abs(x).max() <= 1.0
    np.testing.assert_array_equal(run.generate(7, seed=3)[0], x)
    assert not np.array_equal(run.generate(7, seed=4)[0], x)
    x_u, y_u = load_run(tiny_runs["biggan-unsupervised"]).generate(2, seed=0)
    assert x_u.shape == (2, 256, 128) and list(y_u) == [-1, -1]


def _wav_ok(path, n_samples=16384):
    audio, sr = sf.read(path)
    assert sr == 16000 and audio.shape == (n_samples,) and np.all(np.isfinite(audio))


def test_sample_writes_a_grid_and_one_wav_per_sample(tiny_runs, tmp_path):
    run = load_run(tiny_runs["gaae"])
    index = generation.sample(run, str(tmp_path), labels=["string", "mallet"], n=2, seed=1, n_iter=0)
    assert os.path.getsize(index["grid"]) > 5000
    assert [item["label"] for item in index["items"]] == ["string", "string", "mallet", "mallet"]
    for item in index["items"]:
        _wav_ok(item["wav"])
    with open(tmp_path / "index.json") as f:
        assert json.load(f)["seed"] == 1
    with pytest.raises(ConfigError, match="generates without labels"):
        generation.sample(load_run(tiny_runs["biggan-unsupervised"]), str(tmp_path / "u"), labels=["guitar"])


def test_interpolation_moves_linearly_between_two_latents(tiny_runs, tmp_path):
    run = load_run(tiny_runs["gaae"])
    index = generation.interpolate(run, str(tmp_path), labels=["guitar"], n_steps=5, seed=2, n_iter=0)
    assert [round(item["t"], 2) for item in index["items"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    ends = run.sample_latents(2, seed=2)
    first = run.decode(ends[:1], np.array([0]))
    last = run.decode(ends[1:], np.array([0]))
    wav_first, _ = sf.read(index["items"][0]["wav"])
    assert os.path.getsize(index["grid"]) > 5000 and wav_first.shape == (16384,)
    # the end points of the path are the two latents themselves
    assert not np.allclose(first, last)


def test_from_audio_encodes_a_clip_and_decodes_it_under_every_label(tiny_runs, tiny_data, tmp_path):
    run = load_run(tiny_runs["gaae"])
    test = open_cache(tiny_data["test"])
    wav = os.path.join(test.attrs["root"], test.paths[0])
    index = generation.from_audio(run, wav, str(tmp_path), n_iter=0)
    assert index["predicted_label"] in run.label_names
    assert [item["label"] for item in index["items"]][1:] == run.label_names
    for item in index["items"]:
        _wav_ok(item["wav"])
    _wav_ok(index["input_wav"])
    with pytest.raises(ConfigError, match="needs a GAAE run"):
        generation.from_audio(load_run(tiny_runs["biggan-supervised"]), wav, str(tmp_path / "b"))


def test_generated_cache_opens_with_balanced_labels_and_provenance(tiny_runs, tmp_path):
    run = load_run(tiny_runs["biggan-supervised"])
    path = generation.generate_cache(run, str(tmp_path / "gen.zarr"), n=6, seed=5)
    cache = open_cache(path)
    assert len(cache) == 6 and cache.label_names == run.label_names
    np.testing.assert_array_equal(cache.labels, [0, 1, 2, 0, 1, 2])
    np.testing.assert_allclose(cache[:], run.generate(6, seed=5)[0], atol=1e-6)
    assert cache.reader == "gaae-generated" and cache.reader_options["seed"] == 5
    fields = ("mean", "std", "r", "upper")
    assert [getattr(cache.stats, k) for k in fields] == [getattr(run.stats, k) for k in fields]
    assert cache.config == run.audio_config
