"""The baselines of the zoo: supervised and unsupervised BigGAN, BiGAN with its probe (appendix A-A..A-C)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from gaae_models.batches import _STREAM_LABELLED
from gaae_models.config import model_config
from gaae_models.data import batch_indices
from gaae_models.errors import ConfigError
from gaae_models.models import Decoder, SampleDiscriminator
from gaae_models.runs import load_run
from gaae_models.train_config import TrainConfig
from gaae_models.training import BiGANTrainer, BigGANTrainer, hinge_d, prepare_data

CPU = torch.device("cpu")


def _trainer(cache, kind, **fields):
    train = TrainConfig.from_dict({"model": kind, "steps": 3, "batch_size": 4, **fields})
    data = prepare_data(cache, train)
    cfg = model_config("small", n_classes=max(2, data.n_classes))
    if kind == "bigan":
        return BiGANTrainer(cfg, train, data, device=CPU)
    return BigGANTrainer(cfg, train, data, conditional=kind == "biggan-supervised", device=CPU)


def test_supervised_biggan_uses_every_label_and_conditions_both_networks(tiny_data):
    trainer = _trainer(tiny_data["train"], "biggan-supervised")
    assert trainer.data.labelled.size == trainer.data.unlabelled.size  # all labels by default
    assert trainer.decoder.conditional and trainer.d_x.conditional
    batch = trainer.make_batch(1)
    assert set(batch) == {"x", "s_prior", "y", "y_r"}
    idx = batch_indices(trainer.data.labelled, 4, seed=0, step=1, stream=_STREAM_LABELLED)
    np.testing.assert_array_equal(batch["y"].numpy(), trainer.data.target(idx).numpy())
    np.testing.assert_array_equal(batch["x"].numpy(), trainer.data.get(idx).numpy())


def test_biggan_d_loss_is_the_hinge_of_its_scores(tiny_data):
    """Recompute the D loss of one step from the networks' outputs before the update."""
    trainer = _trainer(tiny_data["train"], "biggan-supervised")
    batch = trainer.make_batch(1)
    y = torch.nn.functional.one_hot(batch["y"], 3).float()
    y_r = torch.nn.functional.one_hot(batch["y_r"], 3).float()
    decoder = Decoder(trainer.cfg, conditional=True)
    d_x = SampleDiscriminator(trainer.cfg, conditional=True)
    decoder.load_state_dict(trainer.decoder.state_dict())
    d_x.load_state_dict(trainer.d_x.state_dict())
    decoder.train()
    d_x.train()
    with torch.no_grad():
        expected = hinge_d(d_x(batch["x"], y), d_x(decoder(batch["s_prior"], y_r), y_r)).item()
    metrics = trainer.train_step(1)
    assert metrics["loss/d_x"] == pytest.approx(expected, rel=1e-4)


def test_unsupervised_biggan_needs_no_labels(tiny_data):
    trainer = _trainer(tiny_data["unlabelled"], "biggan-unsupervised")
    assert trainer.data.labelled.size == 0 and not trainer.decoder.conditional
    before = [p.detach().clone() for p in trainer.decoder.parameters()]
    metrics = trainer.train_step(1)
    assert set(metrics) == {"loss/d_x", "loss/gen", "d_x/real", "d_x/fake"}
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.decoder.parameters(), strict=True))
    x = trainer.generate(torch.zeros(3, dtype=torch.long), seed=0)
    assert x.shape == (3, 1, 256, 128) and float(x.abs().max()) <= 1.0


def test_unsupervised_biggan_refuses_labels(tiny_data):
    with pytest.raises(ConfigError, match="uses no labels"):
        _trainer(tiny_data["train"], "biggan-unsupervised", labelled_fraction=0.5)


def test_bigan_step_updates_g_and_e_and_probe_learns_the_labelled_pool(tiny_data):
    trainer = _trainer(tiny_data["train"], "bigan", labelled_fraction=0.5, probe_steps=200)
    feature_before = [p.detach().clone() for p in trainer.feature.parameters()]
    metrics = trainer.train_step(1)
    assert {"loss/d_x", "loss/d_joint", "loss/gen", "loss/bigan"} <= set(metrics)
    after = trainer.feature.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(feature_before, after, strict=True))
    probe_before = [p.detach().clone() for p in trainer.probe.parameters()]
    done = trainer.finish()
    # 9 labelled items in a 128-d feature space: a trained dense probe separates them
    assert done["probe/train_accuracy"] == 1.0
    assert any(not torch.equal(a, b) for a, b in zip(probe_before, trainer.probe.parameters(), strict=True))
    # the feature extractor is frozen while the probe trains
    feats = trainer.features(trainer.data.get(trainer.data.labelled[:2]))
    assert feats.shape == (2, trainer.cfg.z_dim)


def test_bigan_needs_equal_latent_sizes(tiny_data):
    train = TrainConfig(model="bigan", steps=1, batch_size=2, labelled_fraction=0.5)
    data = prepare_data(tiny_data["train"], train)
    with pytest.raises(ConfigError, match="s_dim == z_dim"):
        BiGANTrainer(model_config("small", n_classes=3, s_dim=64), train, data, device=CPU)


@pytest.mark.parametrize("kind", ["biggan-supervised", "bigan"])
def test_baselines_are_deterministic(tiny_data, kind):
    fields = {"labelled_fraction": 0.5} if kind == "bigan" else {}
    a = _trainer(tiny_data["train"], kind, **fields)
    b = _trainer(tiny_data["train"], kind, **fields)
    assert a.train_step(1) == b.train_step(1)


def test_fit_writes_runs_of_every_baseline(tiny_runs):
    for name in ("biggan-supervised", "biggan-unsupervised", "bigan"):
        run = tiny_runs[name]
        with open(os.path.join(run, "config.json")) as f:
            assert json.load(f)["model_kind"] == name
        assert os.path.isfile(os.path.join(run, "samples", "step-0000002.png"))
        loaded = load_run(run)
        assert loaded.kind == name and loaded.step == 2
    with open(os.path.join(tiny_runs["bigan"], "log.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    assert any("probe/train_accuracy" in line for line in lines)
