"""Gradient-norm clipping of the GAAE's two Adam steps (``train.grad_clip``, ``train.grad_clip_d``).

The first steps' gradients are up to 1e12 times the later ones (E_s's whitening amplifies the
directions its rank-deficient first estimate has not seen); Adam's second moment then keeps that
step for thousands of steps, and E's trunk stops moving. Clipping bounds what the moment stores.
"""

import math

import pytest
import torch

from gaae_models.config import model_config
from gaae_models.errors import ConfigError
from gaae_models.train_config import PAPER_TRAIN_SETTINGS, TrainConfig, departures_from_paper
from gaae_models.training.common import clip_gradients
from gaae_models.training.gaae import STANDING_ITEMS_PER_DIM
from tests.gaae_models.helpers import tiny_gaae_trainer


def _params_with_grads():
    a, b, c = (torch.nn.Parameter(torch.zeros(n)) for n in (2, 3, 4))
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([0.0, 4.0, 12.0])  # global norm sqrt(9 + 16 + 144) = 13; c has no gradient
    return [a, b, c]


def test_clip_gradients_returns_the_norm_and_scales_to_the_limit():
    params = _params_with_grads()
    assert clip_gradients(params, None) == pytest.approx(13.0)
    assert params[1].grad.tolist() == [0.0, 4.0, 12.0]  # measured only
    assert clip_gradients(params, 26.0) == pytest.approx(13.0)
    assert params[1].grad.tolist() == [0.0, 4.0, 12.0]  # under the limit: unchanged
    assert clip_gradients(params, 1.3) == pytest.approx(13.0)  # the norm before clipping
    assert params[0].grad.tolist() == pytest.approx([0.3, 0.0], rel=1e-5)
    assert params[1].grad.tolist() == pytest.approx([0.0, 0.4, 1.2], rel=1e-5)
    assert clip_gradients(params, None) == pytest.approx(1.3, rel=1e-5)
    assert clip_gradients([torch.nn.Parameter(torch.zeros(2))], 1.0) == 0.0  # no gradient at all


def test_grad_clip_options_are_checked_and_off_in_the_paper_and_old_runs():
    for name in ("grad_clip", "grad_clip_d"):
        for bad in (0, -1.0, True, "big"):
            rule = rf"{name}={bad!r} must be null \(no clipping\) or a positive"
            with pytest.raises(ConfigError, match=rule):
                TrainConfig(**{name: bad})
        assert PAPER_TRAIN_SETTINGS[name] is None
        assert getattr(TrainConfig.from_stored({}), name) is None  # runs written before the fields
    assert TrainConfig.from_stored({}).whiten_standing_items == 0


def test_clipping_and_standing_statistics_are_recorded_departures_by_default():
    """Since run format 7 the defaults clip (1000 / 50) and refit the average's whitening (512 items):
    the run's record names them against the paper's values, and ``--paper-settings`` undoes them."""
    model, train = model_config("cpu"), TrainConfig()
    train_departures = departures_from_paper(model, train)["train"]
    assert train_departures["grad_clip"] == [None, 1000.0]
    assert train_departures["grad_clip_d"] == [None, 50.0]
    assert train_departures["whiten_standing_items"] == [0, 512]
    paper = departures_from_paper(model, train.replace(**PAPER_TRAIN_SETTINGS))["train"]
    assert not {"grad_clip", "grad_clip_d", "whiten_standing_items"} & set(paper)


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_the_first_adam_moment_holds_the_clipped_gradient(tiny_data, clip):
    torch.set_num_threads(1)
    trainer = tiny_gaae_trainer(tiny_data["train"], grad_clip=clip, grad_clip_d=clip)
    metrics = trainer.train_step(1)
    beta2 = trainer.train.beta2
    for opt, key in ((trainer.opt_g, "grad_norm/g"), (trainer.opt_d, "grad_norm/d")):
        norm = metrics[key]
        assert math.isfinite(norm) and norm > 0
        stored = min(norm, clip) if clip is not None else norm
        # after Adam's first step, v = (1 - beta2) g^2 element-wise: its sum is (1 - beta2) ||g||^2
        v = sum(float(s["exp_avg_sq"].sum()) for s in opt.state.values())
        assert v == pytest.approx((1 - beta2) * stored**2, rel=1e-3)
    if clip is not None:
        assert metrics["grad_norm/g"] > clip and metrics["grad_norm/d"] > clip  # the limit did bite


def test_whitening_fit_whitens_its_sample_exactly_and_then_keeps_tracking():
    from gaae_models.models.layers import Whitening

    g = torch.Generator().manual_seed(0)
    mix = torch.randn(6, 6, generator=g)
    x = torch.randn(400, 6, generator=g) @ mix + torch.arange(6.0)  # correlated, offset codes
    layer = Whitening(6).eval()
    layer.fit(x)
    s = layer(x).double()
    assert s.mean(0).abs().max() < 1e-5
    assert torch.allclose(torch.cov(s.T), torch.eye(6, dtype=torch.float64), atol=1e-4)
    before = layer.running_mean.clone()
    layer.train()
    layer(x[:8] + 10.0)  # a later update moves the statistics by weight `momentum`
    assert torch.allclose(layer.running_mean, before.lerp(x[:8].double().mean(0) + 10.0, layer.momentum))
    with pytest.raises(ValueError, match=r"expected \(N, 6\) with N >= 2"):
        layer.fit(x[:1])


def test_the_average_stands_on_its_own_codes_and_the_live_training_is_unchanged(tiny_data):
    torch.set_num_threads(1)
    plain = tiny_gaae_trainer(tiny_data["train"], s_dim=4, health_every=2, whiten_standing_items=0)
    standing = tiny_gaae_trainer(tiny_data["train"], s_dim=4, health_every=2, whiten_standing_items=16)
    losses = [(plain.train_step(t)["loss/rec"], standing.train_step(t)["loss/rec"]) for t in (1, 2)]
    assert all(a == b for a, b in losses)  # only the average's whitening differs
    pool = standing.data.unlabelled
    assert pool.size <= 128  # the tiny pool is all held batch: the standing sample draws from it
    x = standing.standing_batch()
    assert x.shape[0] == 16 == STANDING_ITEMS_PER_DIM * 4  # just enough items for 4 dimensions
    encoder = standing.ema_encoder
    whitening = encoder.head_s[1]
    with torch.no_grad():
        codes = encoder.head_s[0](encoder.trunk(x)).double()
    assert torch.allclose(whitening.running_mean, codes.mean(0), atol=1e-6)  # refitted at step 2
    assert torch.allclose(whitening.running_cov, torch.cov(codes.T), atol=1e-6)
    assert not torch.allclose(plain.ema_encoder.head_s[1].running_mean, whitening.running_mean)
    for bad in (-1, 1, True, 2.5):
        with pytest.raises(
            ConfigError, match=rf"whiten_standing_items={bad!r} must be 0 \(off\) or an integer"
        ):
            TrainConfig(whiten_standing_items=bad)


def test_the_standing_sample_leaves_out_the_held_batch(tiny_data, monkeypatch):
    trainer = tiny_gaae_trainer(tiny_data["train"], whiten_standing_items=100)
    pool = trainer.data.unlabelled
    monkeypatch.setattr(trainer, "_held_indices", lambda n=128: pool[:10])  # as with a larger pool
    x = trainer.standing_batch()
    assert x.shape[0] == pool.size - 10  # capped by what is left
    held = trainer.data.get(pool[:10])
    assert not any(torch.equal(a, b) for a in x for b in held)


def test_a_standing_sample_too_small_for_its_dimensions_leaves_the_running_estimate(tiny_data):
    """With fewer than STANDING_ITEMS_PER_DIM items per dimension of s the refit is skipped: a
    covariance fitted to 15 items in 4 dimensions would whiten its own sample exactly and other
    codes badly (``gaae demo``: 172 items for 128 dimensions read a held-out std of 3.7)."""
    torch.set_num_threads(1)
    plain = tiny_gaae_trainer(tiny_data["train"], s_dim=4, health_every=2, whiten_standing_items=0)
    short = tiny_gaae_trainer(tiny_data["train"], s_dim=4, health_every=2, whiten_standing_items=15)
    for t in (1, 2):
        plain.train_step(t)
        short.train_step(t)
    assert short.standing_batch().shape[0] == 15
    a, b = plain.ema_encoder.head_s[1], short.ema_encoder.head_s[1]
    assert torch.equal(a.running_mean, b.running_mean) and torch.equal(a.running_cov, b.running_cov)
    assert torch.equal(a.whitening, b.whitening)
