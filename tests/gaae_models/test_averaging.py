"""What makes C's last steps count: the classifier's running standardisation (``c_norm="running"``)
and the Polyak average of E and C (``ema_encoder_decay``) that predicts, evaluates and is published."""

import copy
import json

import pytest
import torch

from gaae_models.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from gaae_models.config import model_config
from gaae_models.errors import ConfigError
from gaae_models.models import Classifier
from gaae_models.models.layers import RunningStandardize
from gaae_models.runs import ema_key, load_run
from gaae_models.train_config import PAPER_TRAIN_SETTINGS, TrainConfig
from gaae_models.training import GAAETrainer, prepare_data
from gaae_models.training.common import average_into
from gaae_models.training.loop import cache_accuracy
from tests.gaae_models.helpers import fit_one_thread

TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False}


def _trainer(cache, *, c_norm="running", **overrides):
    fields = {"batch_size": 4, "labelled_batch_size": 2, "labelled_fraction": 0.5, "seed": 1, **overrides}
    train = TrainConfig(**fields)
    data = prepare_data(cache, train)
    cfg = model_config("small", n_classes=data.n_classes, c_norm=c_norm, **TINY)
    return GAAETrainer(cfg, train, data, device=torch.device("cpu"))


# --- the running standardisation ------------------------------------------------------------------
def test_running_standardize_uses_only_its_running_statistics():
    norm = RunningStandardize(3, momentum=0.25, eps=0.0)
    x = torch.tensor([[1.0, 2.0, -4.0], [3.0, 6.0, 0.0], [5.0, 10.0, 4.0]])
    assert torch.equal(norm(x), x)  # mean 0, variance 1 before any update, in training mode too
    norm.update(x)
    mean = 0.25 * torch.tensor([3.0, 6.0, 0.0])
    var = 0.75 + 0.25 * torch.tensor([4.0, 16.0, 16.0])  # unbiased batch variances
    assert torch.allclose(norm.running_mean, mean) and torch.allclose(norm.running_var, var)
    expected = (x - mean) / var.sqrt()
    assert torch.allclose(norm.train()(x), expected) and torch.allclose(norm.eval()(x), expected)
    norm.update(torch.tensor([[float("nan"), 0.0, 0.0], [0.0, 0.0, 0.0]]))  # ignored
    assert torch.allclose(norm.running_mean, mean)
    with pytest.raises(ValueError, match=r"x has shape \(1, 3\); expected \(B, 3\) with at least 2"):
        norm.update(x[:1])


def test_running_classifier_is_the_same_map_in_training_and_eval():
    cfg = model_config("cpu", n_classes=3, z_dim=8, c_norm="running")
    torch.manual_seed(0)
    c = Classifier(cfg).train()
    z = 5.0 + 0.1 * torch.randn(64, 8)
    for _ in range(200):
        c.update_statistics(z)
    with torch.no_grad():
        train_out = c(z[:2])  # two items: a batch norm would standardise them by each other
        assert torch.allclose(train_out, c.eval()(z[:2]))
        paper = Classifier(cfg.replace(c_norm="none")).eval()
        paper.load_state_dict({k: v for k, v in c.state_dict().items() if not k.startswith("norm.")})
        standardised = (z - z.mean(0)) / z.std(0)
        assert torch.allclose(c(z), paper(standardised), atol=1e-3)
    batch = Classifier(cfg.replace(c_norm="batch"))
    batch.update_statistics(z)  # a no-op for the batch norm
    assert torch.equal(batch.norm.running_mean, torch.zeros(8))
    with pytest.raises(ConfigError, match="c_norm='layer' must be one of batch, running, none"):
        cfg.replace(c_norm="layer")


def test_the_d_step_feeds_c_the_real_unlabelled_codes_only(tiny_data):
    t = _trainer(tiny_data["train"])
    batch = t.make_batch(1)
    with torch.no_grad():  # E before the step, with the power iteration its D step makes
        z = copy.deepcopy(t.model.encoder).train().encode_z(batch["x"])
    t.train_step(1, batch)
    norm = t.model.classifier.norm
    assert torch.allclose(norm.running_mean, 0.1 * z.mean(0), atol=1e-6)
    assert torch.allclose(norm.running_var, 0.9 + 0.1 * z.var(0), atol=1e-6)
    with pytest.raises(ConfigError, match=r"labelled_batch_size=1 but model.c_norm='batch'"):
        _trainer(tiny_data["train"], c_norm="batch", labelled_batch_size=1)
    _trainer(tiny_data["train"], labelled_batch_size=1)  # running statistics need no batch of 2


# --- the average of E and C -----------------------------------------------------------------------
def test_average_into_parameters_and_buffers():
    a, b = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        b.weight.fill_(3.0)
        b.running_mean.fill_(8.0)
        b.num_batches_tracked.fill_(5)
    average_into(a, b, 0.75)
    assert torch.allclose(a.weight, torch.full((2,), 1.5)) and torch.allclose(
        a.running_mean, torch.full((2,), 2.0)
    )
    assert int(a.num_batches_tracked) == 5
    with torch.no_grad():
        b.running_mean.fill_(-1.0)
    average_into(a, b, 0.5, exclude=("running_",))
    assert torch.allclose(a.weight, torch.full((2,), 0.5 * 1.5 + 0.5 * 3.0)) and a.running_mean[0] == 2.0


def test_ema_of_e_and_c_follows_its_schedule_and_predicts(tiny_data):
    t = _trainer(tiny_data["train"], c_norm="batch", ema_encoder_decay=0.9)
    start = {n: v.detach().clone() for n, v in t.model.classifier.state_dict().items()}
    t.train_step(1)
    decay = min(0.9, 2 / 11)  # warm-up: (1 + t) / (10 + t) at t = 1
    live = t.model.classifier.state_dict()
    for name, value in t.ema_classifier.state_dict().items():  # parameters and batch-norm statistics
        want = decay * start[name] + (1 - decay) * live[name] if value.is_floating_point() else live[name]
        assert torch.allclose(value, want, atol=1e-6), name
    # E_s's whitening of the average tracks the average's own codes of the step's real batch
    x1 = t.make_batch(1)["x"]
    whitening = t.ema_encoder.head_s[-1]
    assert int(whitening.num_batches_tracked) == 1 and int(whitening.items_seen) == x1.shape[0]
    with torch.no_grad():
        codes = t.ema_encoder.head_s[0](t.ema_encoder.trunk(x1)).double()
    assert torch.allclose(whitening.running_mean, codes.mean(0), atol=1e-6)
    assert not torch.allclose(whitening.running_mean, t.model.encoder.head_s[-1].running_mean)
    for step in range(2, 5):
        t.train_step(step)
    x = t.make_batch(9)["x"]
    with torch.no_grad():
        z, _ = t.ema_encoder(x)
        expected = t.ema_classifier(z)
        live = t.model.classifier.eval()(t.model.encoder.eval()(x)[0])
    assert torch.allclose(t.predict(x), expected) and not torch.allclose(t.predict(x), live)
    assert not t.ema_encoder.training and not t.ema_classifier.training
    with pytest.raises(ConfigError, match=r"ema_encoder_decay=1.0 must be in \[0, 1\)"):
        TrainConfig(ema_encoder_decay=1.0)
    assert PAPER_TRAIN_SETTINGS["ema_encoder_decay"] == 0.0
    assert TrainConfig.from_stored({"seed": 3}).ema_encoder_decay == 0.0  # format-3 runs had none


def test_ema_copies_round_trip_and_are_what_a_run_loads(tiny_data, tmp_path):
    a = _trainer(tiny_data["train"], ema_encoder_decay=0.5)
    for step in (1, 2):
        a.train_step(step)
    save_checkpoint(str(tmp_path), 2, modules=a.modules(), optimizers=a.optimizers(), meta={})
    b = _trainer(tiny_data["train"], ema_encoder_decay=0.5)
    load_checkpoint(latest_checkpoint(str(tmp_path)), modules=b.modules(), optimizers=b.optimizers())
    for name in ("ema_encoder", "ema_classifier"):
        for key, value in a.modules()[name].state_dict().items():
            assert torch.equal(value, b.modules()[name].state_dict()[key]), (name, key)
    assert a.train_step(3) == b.train_step(3)
    keys = {"encoder.w", "ema_encoder.w", "decoder.w"}
    assert ema_key(keys, "encoder") == "ema_encoder" and ema_key(keys, "decoder") == "decoder"
    assert ema_key(keys, "encoder", use_ema=False) == "encoder"


@pytest.mark.slow
def test_a_run_publishes_its_averaged_encoder(tiny_data, tmp_path):
    train = TrainConfig(
        steps=3, batch_size=3, labelled_batch_size=2, labelled_fraction=0.5, seed=4, ema_encoder_decay=0.5
    ).replace(eval_every=3)
    cfg = model_config("small", n_classes=3, c_norm="running", **TINY)
    out = fit_one_thread(
        tiny_data["train"], tmp_path / "run", model_config=cfg, train=train, eval_cache=tiny_data["test"]
    )
    run, live = load_run(out), load_run(out, use_ema=False)
    # the log holds the accuracy of the average (what predicts) and of the live networks beside it
    (entry,) = [e for e in map(json.loads, open(f"{out}/log.jsonl")) if "eval/accuracy" in e]
    for loaded, key in ((run, "eval/accuracy"), (live, "eval/accuracy_live")):
        accuracy = cache_accuracy(
            lambda x, m=loaded.modules: m["classifier"](m["encoder"](x)[0]),
            tiny_data["test"],
            device=torch.device("cpu"),
            batch_size=8,
        )
        assert entry[key] == pytest.approx(accuracy, abs=1e-9)
    ckpt = load_checkpoint_state(out)
    for name in ("encoder", "classifier"):
        for key, value in run.modules[name].state_dict().items():
            assert torch.equal(value, ckpt[f"ema_{name}.{key}"]), key
    x = torch.rand(2, 1, 256, 128) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(run.modules["encoder"](x)[0], live.modules["encoder"](x)[0])


def load_checkpoint_state(run_dir):
    from safetensors.torch import load_file

    return load_file(f"{latest_checkpoint(run_dir)}/model.safetensors")
