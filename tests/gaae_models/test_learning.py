"""The fixes that let the GAAE learn: full-rank latents, plain cBN embeddings, a standardised E_s,
fresh draws for the E/G/C step, the departures record, and the training-health measurements."""

import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gaae_cli.gaae_cli import main as gaae_main
from gaae_models.config import LEGACY_DEFAULTS, PAPER_MODEL_SETTINGS, ModelConfig, model_config
from gaae_models.errors import ConfigError
from gaae_models.health import (
    effective_rank,
    format_health,
    gaae_health,
    gradient_shares,
    latent_moments,
    saturation,
    two_sample_accuracy,
)
from gaae_models.models import Classifier, Decoder, Encoder
from gaae_models.models.layers import scale_grad
from gaae_models.train_config import (
    CNN_TRAIN_FIELDS,
    PAPER_TRAIN_SETTINGS,
    TrainConfig,
    departures_from_paper,
)
from gaae_models.training import GAAETrainer, fit, labelled_weight, prepare_data

TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False}


# --- the configs ----------------------------------------------------------------------------------
def test_rank_deficient_latents_are_refused_for_new_runs():
    small = model_config("small", n_classes=3)
    assert small.pooled_features == 32
    with pytest.raises(ConfigError, match=r"pools 32 features.*max\(z_dim, s_dim\) = 128.*--preset cpu"):
        small.check_trainable()
    model_config("cpu", n_classes=3).check_trainable()
    model_config("paper", n_classes=3).check_trainable()
    model_config("small", z_dim=32, s_dim=16).check_trainable()
    with pytest.raises(ConfigError, match="pools 16 features"):
        model_config("small", **{**TINY, "z_dim": 17}).check_trainable()


def test_width_fields_are_validated_and_round_trip():
    with pytest.raises(ConfigError, match=r"encoder_channels=\(8, 8\) must be None or 6 positive"):
        ModelConfig(encoder_channels=(8, 8))
    with pytest.raises(ConfigError, match="generator_channels=.*7 positive integers"):
        ModelConfig(generator_channels=(8,) * 6)
    cfg = model_config("cpu", n_classes=4)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_stored_configs_without_the_new_fields_load_as_they_were_trained():
    stored = {"ch": 2, "z_dim": 128, "s_dim": 128, "n_classes": 3, "attention": False}
    old = ModelConfig.from_stored(stored)
    assert (
        (old.cbn_sn, old.s_norm) == (True, "none") == tuple(LEGACY_DEFAULTS[k] for k in ("cbn_sn", "s_norm"))
    )
    new = ModelConfig.from_dict(stored)
    assert (new.cbn_sn, new.s_norm) == (False, "whiten")
    assert old.freq_pool_block is None and new.freq_pool_block == 3  # the old runs' global sum pool
    assert old.pooled_features == 32 < new.pooled_features
    # an old (format-1) encoder state dict loads into the network that from_stored rebuilds
    state = {k: v for k, v in Encoder(old).state_dict().items()}
    assert "head_s.weight" in {k.replace(".parametrizations.weight.original", ".weight") for k in state}
    Encoder(ModelConfig.from_stored(stored)).load_state_dict(state)
    train = TrainConfig.from_stored({"seed": 3})
    assert all(getattr(train, k) == v for k, v in PAPER_TRAIN_SETTINGS.items())
    assert TrainConfig.from_dict({"seed": 3}).gen_latent == "prior"


def test_departures_are_recorded_and_paper_settings_undo_them():
    cfg, train = model_config("cpu", n_classes=3), TrainConfig()
    record = departures_from_paper(cfg, train)
    assert record["model"] == {
        "cbn_sn": [True, False],
        "s_norm": ["none", "whiten"],
        "c_norm": ["none", "batch"],
        "freq_pool_block": [None, 3],
    }
    changed = {k for k, v in PAPER_TRAIN_SETTINGS.items() if getattr(train, k) != v}
    assert set(record["train"]) == changed - set(CNN_TRAIN_FIELDS)  # a GAAE run: not the CNN's fields
    assert {"gen_latent", "fresh_g_draws", "cls_gen_gate", "lr_c"} <= set(record["train"])
    assert "guidance_augment" not in record["train"]  # available, off by default as in the paper
    paper = departures_from_paper(cfg.replace(**PAPER_MODEL_SETTINGS), train.replace(**PAPER_TRAIN_SETTINGS))
    assert paper == {"model": {}, "train": {}}


# --- the networks ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_style_heads_match_the_first_two_moments():
    torch.manual_seed(0)
    cfg = model_config("small", n_classes=3, **TINY)
    x = torch.rand(16, 1, 256, 128) * 2 - 1
    # batch norm: zero mean and unit variance per dimension, over the batch
    _, s = Encoder(cfg.replace(s_norm="batch")).train()(x)
    assert torch.allclose(s.mean(0), torch.zeros(16), atol=1e-5)
    assert torch.allclose(s.var(0, unbiased=False), torch.ones(16), atol=1e-3)
    plain = Encoder(cfg.replace(s_norm="none")).train()
    assert plain(x)[1].std(0).mean() < 0.2  # the paper's dense head: a tiny code at init
    # whitening: after tracking many batches, zero mean and identity covariance on new data from
    # the same distribution; eval mode applies it without tracking
    enc = Encoder(cfg.replace(ch=2)).train()  # 32 pooled features (at ch=1, 7 of 16 are dead ReLUs)
    with torch.no_grad():
        for _ in range(60):
            enc(torch.rand(8, 1, 256, 128) * 2 - 1)
        enc.eval()
        s = enc(torch.rand(400, 1, 256, 128) * 2 - 1)[1]
        before = enc.head_s[1].whitening.clone()
        enc(torch.rand(8, 1, 256, 128))
    assert torch.equal(before, enc.head_s[1].whitening)
    assert torch.allclose(s.mean(0), torch.zeros(16), atol=0.25)
    assert torch.allclose(s.var(0), torch.ones(16), atol=0.35)
    assert effective_rank(s) > 12  # of 16


def test_whitening_of_a_known_covariance():
    from gaae_models.models.layers import Whitening

    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=g)
    layer = Whitening(6, momentum=0.005)
    x = torch.randn(8, 6, generator=g)
    assert torch.equal(layer.eval()(x), x)  # the identity before any update
    layer.train()
    for _ in range(1000):  # batches of 8 cannot estimate a 6 x 6 covariance; 1000 of them can
        layer(torch.randn(8, 6, generator=g) @ mixing + 3.0)
    out = layer.eval()(torch.randn(20000, 6, generator=g) @ mixing + 3.0)
    assert torch.allclose(out.mean(0), torch.zeros(6), atol=0.1)
    assert torch.allclose(torch.cov(out.T), torch.eye(6), atol=0.1)
    # W is the symmetric (ZCA) inverse square root: the closest whitening to the identity
    assert torch.allclose(layer.whitening, layer.whitening.T, atol=1e-5)
    with pytest.raises(ValueError, match="at least 2 items"):
        layer.train()(torch.zeros(1, 6))
    # the first batch of 4 items in 32 dimensions (a rank-3 estimate): finite, and the unseen
    # directions amplified by orders of magnitude (see the class docstring)
    fresh = Whitening(32).train()
    out = fresh(torch.randn(4, 32, generator=g))
    assert int(fresh.items_seen) == 4 and bool(torch.isfinite(out).all())
    assert float(fresh.whitening.abs().max()) > 1e4
    # a batch with an overflow (inf / NaN codes) leaves the statistics and W untouched, instead of
    # poisoning them for the rest of the run
    stats = [fresh.running_mean.clone(), fresh.running_cov.clone(), fresh.whitening.clone()]
    bad = torch.randn(4, 32, generator=g)
    bad[0, 3], bad[2, 5] = float("inf"), float("nan")
    fresh(bad)
    assert torch.equal(fresh.running_mean, stats[0]) and torch.equal(fresh.running_cov, stats[1])
    assert torch.equal(fresh.whitening, stats[2]) and int(fresh.items_seen) == 4


def test_cbn_class_embedding_is_not_capped():
    """With spectral norm, one class's gain column has norm <= 1 whatever it learns; without, it
    can grow (here scaled x10) and changes the output accordingly."""
    torch.manual_seed(0)
    cfg = model_config("small", n_classes=3, **TINY)
    dec = Decoder(cfg).eval()
    cbn = dec.blocks[0].bn1
    with torch.no_grad():
        cbn.gain.weight.mul_(10.0)
    assert cbn.gain.weight[:, 0].norm() > 1.5
    legacy = Decoder(cfg.replace(cbn_sn=True)).eval()
    with torch.no_grad():
        legacy.blocks[0].bn1.gain.parametrizations.weight.original.mul_(10.0)
    assert legacy.blocks[0].bn1.gain.weight[:, 0].norm() <= 1.0 + 1e-4


# --- the trainer ----------------------------------------------------------------------------------
def _trainer(cache, *, c_norm=None, **overrides):
    fields = {"batch_size": 4, "labelled_batch_size": 2, "labelled_fraction": 0.5, "seed": 1, **overrides}
    train = TrainConfig(**fields)
    data = prepare_data(cache, train)
    cfg = model_config("small", n_classes=data.n_classes, **TINY)
    return GAAETrainer(
        cfg if c_norm is None else cfg.replace(c_norm=c_norm), train, data, device=torch.device("cpu")
    )


def test_egc_step_draws_its_own_prior_and_labels(tiny_data):
    fresh = _trainer(tiny_data["train"]).make_batch(5)
    assert not torch.equal(fresh["s_prior"], fresh["s_prior_g"])
    again = _trainer(tiny_data["train"]).make_batch(5)
    assert torch.equal(fresh["s_prior_g"], again["s_prior_g"]) and torch.equal(fresh["y_r_g"], again["y_r_g"])
    shared = _trainer(tiny_data["train"], fresh_g_draws=False).make_batch(5)
    assert torch.equal(shared["s_prior"], shared["s_prior_g"]) and torch.equal(shared["y_r"], shared["y_r_g"])
    assert torch.equal(shared["s_prior"], fresh["s_prior"])
    # SpecAugment on the guidance batch only: masked bins at the floor, the D batch untouched
    assert torch.equal(fresh["x_l_aug"], fresh["x_l"])  # off by default
    augmented = _trainer(tiny_data["train"], guidance_augment=True).make_batch(5)
    assert torch.equal(augmented["x_l"], fresh["x_l"]) and torch.equal(augmented["x"], fresh["x"])
    assert (augmented["x_l_aug"] == -1).sum() > (augmented["x_l"] == -1).sum()


def test_a_batch_of_one_is_refused_with_a_clear_error(tiny_data):
    with pytest.raises(ConfigError, match=r"batch_size=1 but model.s_norm='whiten'.*at least 2"):
        _trainer(tiny_data["train"], batch_size=1)
    with pytest.raises(ConfigError, match=r"labelled_batch_size=1 but model.c_norm='batch'.*at least 2"):
        _trainer(tiny_data["train"], labelled_batch_size=1, c_norm="batch")


def test_classifier_standardises_z_first():
    cfg = model_config("cpu", n_classes=3, z_dim=8, c_norm="batch")
    torch.manual_seed(0)
    z = 5.0 + 0.1 * torch.randn(64, 8)  # a common offset and a small spread, as a dense layer gives
    c = Classifier(cfg).train()
    for _ in range(300):  # running statistics converge to the data's
        c(z)
    c.eval()
    paper = Classifier(cfg.replace(c_norm="none")).eval()
    paper.load_state_dict({k: v for k, v in c.state_dict().items() if not k.startswith("norm.")})
    standardised = (z - z.mean(0)) / z.std(0, unbiased=True)
    with torch.no_grad():
        assert torch.allclose(c(z), paper(standardised), atol=2e-2)
        assert not torch.allclose(paper(z), paper(standardised), atol=1.0)
    with pytest.raises(ConfigError, match="c_norm='layer' must be one of batch, running, none"):
        cfg.replace(c_norm="layer")


def test_guidance_pairs_weigh_by_their_share_of_the_data(tiny_data):
    t = _trainer(tiny_data["train"])
    n_l, n_u = t.data.labelled.size, t.data.unlabelled.size
    # per item and step: drawn as guidance 2 / n_l times, as unlabelled 4 / n_u times
    assert labelled_weight(t.train, t.data) == pytest.approx((4 / n_u) / (2 / n_l))
    assert labelled_weight(t.train.replace(dx_labelled_weight=1.0), t.data) == 1.0


def test_scale_grad_scales_only_the_backward_pass():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for factor in (1.0, 0.25, 0.0):
        x.grad = None
        y = scale_grad(x, factor)
        assert torch.equal(y, x)
        (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
        assert torch.allclose(x.grad, factor * torch.tensor([1.0, 2.0, 3.0]))


@pytest.mark.slow
def test_style_path_gradient_into_the_trunk_is_scaled(tiny_data):
    """With s_trunk_grad = f, E's trunk gets grad(cls terms) + f * grad(style-path terms)."""

    def trunk_grads(trainer, names):
        trainer.model.zero_grad(set_to_none=True)
        trainer.model.eval()  # no running statistics or power iterations move between the passes
        terms, _ = trainer.g_terms(batch)
        sum(terms[n] for n in names or terms).backward()
        return [p.grad.clone() for p in trainer.model.encoder.trunk.parameters()]

    full = _trainer(tiny_data["train"], cls_gen_gate=0.0)
    batch = full.make_batch(1)
    grads = {}
    for factor in (1.0, 0.3):
        t = _trainer(tiny_data["train"], cls_gen_gate=0.0, s_trunk_grad=factor)
        t.model.load_state_dict(full.model.state_dict())
        grads[factor] = {
            "all": trunk_grads(t, None),
            "cls": trunk_grads(t, ("cls_lab", "cls_gen")),
            "style": trunk_grads(t, ("gen", "rec", "lat")),
        }
    for g_all, g_cls, g_style in zip(*(grads[0.3][k] for k in ("all", "cls", "style")), strict=True):
        assert torch.allclose(g_all, g_cls + g_style, rtol=1e-4, atol=1e-6 * g_all.abs().max())
    for g03, g1 in zip(grads[0.3]["style"], grads[1.0]["style"], strict=True):
        assert torch.allclose(g03, 0.3 * g1, rtol=1e-4, atol=1e-6 * g1.abs().max())
    for g03, g1 in zip(grads[0.3]["cls"], grads[1.0]["cls"], strict=True):
        assert torch.allclose(g03, g1, rtol=1e-4, atol=1e-6 * g1.abs().max())
    assert any(g.abs().sum() > 0 for g in grads[1.0]["style"])


def test_encoder_and_classifier_get_their_own_optimiser_groups(tiny_data):
    t = _trainer(tiny_data["train"], lr_ez=3e-4, ez_beta1=0.5, lr_c=2e-3, c_beta1=0.9)
    groups = t.opt_g.param_groups
    by_param = {id(p): g for g in groups for p in g["params"]}
    e = t.model.encoder
    assert all(
        by_param[id(p)]["lr"] == 3e-4 and by_param[id(p)]["betas"] == (0.5, 0.999)
        for p in [*e.trunk.parameters(), *e.head_z.parameters()]
    )
    assert all(by_param[id(p)]["lr"] == 1e-4 for p in e.head_s.parameters())
    assert all(by_param[id(p)]["lr"] == 2e-3 for p in t.model.classifier.parameters())
    assert all(by_param[id(p)]["lr"] == 1e-4 for p in t.model.decoder.parameters())
    assert len(by_param) == sum(len(g["params"]) for g in groups)  # each parameter in one group
    paper = _trainer(tiny_data["train"], **PAPER_TRAIN_SETTINGS)
    assert len(paper.opt_g.param_groups) == 1
    format2 = _trainer(tiny_data["train"], lr_ez=None, ez_beta1=None)  # E and G share, C alone
    assert len(format2.opt_g.param_groups) == 2
    with pytest.raises(ConfigError, match=r"lr_ez=-1 must be null \(use lr_g\) or a positive number"):
        TrainConfig(lr_ez=-1)
    with pytest.raises(ConfigError, match=r"s_trunk_grad=2 must be in \[0, 1\]"):
        TrainConfig(s_trunk_grad=2)


@pytest.mark.slow
def test_health_and_gradient_shares_are_logged(tiny_data, tmp_path):
    train = TrainConfig(
        steps=4, batch_size=4, labelled_batch_size=2, labelled_fraction=0.5, health_every=2, sample_every=4
    )
    fit(
        tiny_data["train"],
        str(tmp_path / "run"),
        model_config=model_config("small", **TINY),
        train=train,
        device="cpu",
        progress=False,
    )
    lines = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    health = [entry for entry in lines if "health/s_std_mean" in entry]
    assert [entry["step"] for entry in health] == [2, 4]
    shares = [entry for entry in lines if "grad/rec" in entry]
    assert [entry["step"] for entry in shares] == [2, 4]
    for entry in shares:
        total = sum(entry[f"grad/{k}"] for k in ("gen", "rec", "cls_lab", "cls_gen", "lat"))
        assert total == pytest.approx(1.0)
    for entry in health:
        assert 0 <= entry["health/sat_prior"] <= 1 and 0 <= entry["health/s_two_sample_acc"] <= 1
        assert entry["health/rec_ratio"] > 0
    record = json.load(open(tmp_path / "run" / "config.json"))
    assert record["format_version"] == 7 and record["departures_from_paper"]["train"]["gen_latent"] == [
        "encoder",
        "prior",
    ]
    summary = json.load(open(tmp_path / "run" / "summary.json"))
    assert summary["health"]["health/s_std_mean"] == health[-1]["health/s_std_mean"]
    assert (tmp_path / "run" / "log.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # curves at a glance


def test_tensorboard_logging_needs_its_package_or_writes_events(tiny_data, tmp_path):
    kwargs = {
        "model_config": model_config("small", **TINY),
        "train": TrainConfig(steps=2, batch_size=4, labelled_batch_size=2, labelled_fraction=0.5),
        "device": "cpu",
        "progress": False,
        "tensorboard": str(tmp_path / "tb"),
    }
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"tensorboard=.*pip install tensorboard"):
            fit(tiny_data["train"], str(tmp_path / "run"), **kwargs)
        return
    fit(tiny_data["train"], str(tmp_path / "run"), **kwargs)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))


@pytest.mark.slow
def test_cli_refuses_small_for_new_runs_and_accepts_paper_settings(tiny_data, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        gaae_main, ["fit", tiny_data["train"], "--out", str(tmp_path / "a"), "--preset", "small"]
    )
    assert result.exit_code == 2 and "pools 32 features" in result.output
    args = ["fit", tiny_data["train"], "--out", str(tmp_path / "b"), "--preset", "small", "--paper-settings"]
    args += [f"--set=model.{k}={v}" for k, v in (("ch", 1), ("z_dim", 16), ("s_dim", 16))]
    result = runner.invoke(gaae_main, [*args, "--steps", "1", "--batch-size", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.load(open(os.path.join(tmp_path, "b", "config.json")))
    assert record["departures_from_paper"] == {"model": {}, "train": {}}
    assert record["model"]["cbn_sn"] is True and record["train"]["gen_latent"] == "encoder"


# --- the health measurements ----------------------------------------------------------------------
def test_two_sample_accuracy_separates_collapsed_codes():
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(128, 64, generator=g)
    same = torch.randn(128, 64, generator=g)
    assert two_sample_accuracy(same, prior) < 0.62
    low_rank = torch.randn(128, 4, generator=g) @ torch.randn(4, 64, generator=g)
    low_rank = (low_rank - low_rank.mean(0)) / low_rank.std(0)  # per-dimension moments matched
    assert two_sample_accuracy(low_rank, prior) > 0.9
    assert effective_rank(low_rank) < 4.5 < 30 < effective_rank(prior)


def test_moments_saturation_and_shares_on_known_values():
    s = torch.tensor([[1.0, 0.0], [-1.0, 4.0]])
    assert latent_moments(s) == pytest.approx(
        {
            "mean_abs": 1.0,
            "std_mean": (np.sqrt(2) + np.sqrt(8)) / 2,
            "std_min": np.sqrt(2),
            "std_max": np.sqrt(8),
        }
    )
    assert saturation(torch.tensor([-1.0, -0.995, 0.5, 0.98, 1.0])) == pytest.approx(0.6)
    assert saturation(torch.tensor([-1.0, -0.995, 0.5, 0.98, 1.0]), rail="high") == pytest.approx(0.2)
    assert saturation(torch.tensor([-1.0, -0.995, 0.5, 0.98, 1.0]), rail="low") == pytest.approx(0.4)
    with pytest.raises(ConfigError, match="rail='top' is not a rail"):
        saturation(torch.zeros(3), rail="top")
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    shares = gradient_shares({"a": 3.0 * p.sum(), "b": (p**2).sum(), "c": torch.tensor(2.0)}, [p])
    # |grad a| = 3 sqrt(2), |grad b| = |2p| = 2 sqrt(5)
    a, b = 3 * np.sqrt(2), 2 * np.sqrt(5)
    assert shares == pytest.approx({"a": a / (a + b), "b": b / (a + b), "c": 0.0})


def test_gaae_health_sees_a_saturating_generator():
    torch.manual_seed(0)
    cfg = model_config("small", n_classes=3, **TINY)
    enc, dec = Encoder(cfg), Decoder(cfg)
    from gaae_models.models import Classifier

    clf = Classifier(cfg)
    x = torch.rand(8, 1, 256, 128) * 1.6 - 0.8
    h = gaae_health(encoder=enc, decoder=dec, classifier=clf, x=x, n_classes=3, seed=0)
    assert h["sat_real"] == 0.0 and enc.training and dec.training  # modes restored
    with torch.no_grad():
        dec.out_conv.bias.fill_(50.0)  # every pixel at +1
    h = gaae_health(encoder=enc, decoder=dec, classifier=clf, x=x, n_classes=3, seed=0)
    assert h["sat_prior"] == 1.0 and h["sat_encoded"] == 1.0 and h["sat_prior_high"] == 1.0
    assert "top 100.0 %, real 0.0 %" in format_health(h)
    with torch.no_grad():
        dec.out_conv.bias.fill_(-50.0)  # every pixel at -1: the floor, not the top
    h = gaae_health(encoder=enc, decoder=dec, classifier=clf, x=x, n_classes=3, seed=0)
    assert h["sat_prior"] == 1.0 and h["sat_prior_high"] == 0.0


@pytest.mark.slow
def test_a_format_1_run_loads_and_resumes(tiny_data, tmp_path):
    """A run written before the departures existed (no cbn_sn / s_norm / gen_latent ... in its
    records, run format 1) rebuilds the networks it trained and resumes with its own settings."""
    from gaae_models.runs import load_run

    run_dir = tmp_path / "old"
    old_model = model_config("small", **TINY).replace(**PAPER_MODEL_SETTINGS)
    old_train = TrainConfig(steps=2, batch_size=4, labelled_batch_size=2, labelled_fraction=0.5).replace(
        **PAPER_TRAIN_SETTINGS
    )
    fit(
        tiny_data["train"],
        str(run_dir),
        model_config=old_model,
        train=old_train,
        device="cpu",
        progress=False,
    )
    before = load_run(str(run_dir)).generate(2, seed=3)[0]
    # rewrite the records as format 1 wrote them: without the fields added since
    new_fields = set(LEGACY_DEFAULTS) | {"encoder_channels", "discriminator_channels", "generator_channels"}
    record = json.load(open(run_dir / "config.json"))
    record["format_version"] = 1
    record.pop("departures_from_paper")
    for key in new_fields:
        record["model"].pop(key)
    for key in (*PAPER_TRAIN_SETTINGS, "health_every", "lr_c"):
        record["train"].pop(key, None)
        record["train_compare"].pop(key, None)
    json.dump(record, open(run_dir / "config.json", "w"))
    for meta_path in run_dir.glob("checkpoints/step-*/meta.json"):
        meta = json.load(open(meta_path))
        for key in new_fields:
            meta["model"].pop(key)
        json.dump(meta, open(meta_path, "w"))
        (meta_path.parent / "checksums.json").unlink()  # format-1 checkpoints had no checksums
    old = load_run(str(run_dir))
    assert old.model_config.cbn_sn and old.model_config.s_norm == "none"
    assert np.array_equal(old.generate(2, seed=3)[0], before)
    # and it resumes with the format-1 settings (the CLI defaults would now differ)
    fit(
        tiny_data["train"],
        str(run_dir),
        model_config=old_model,
        train=old_train.replace(steps=3),
        device="cpu",
        resume=True,
        progress=False,
    )
    assert (run_dir / "checkpoints" / "step-0000003").exists()
