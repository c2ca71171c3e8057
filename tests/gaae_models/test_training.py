import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gaae_cli.gaae_cli import main as gaae_main
from gaae_models.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from gaae_models.config import model_config
from gaae_models.data import labelled_subset
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.train_config import TrainConfig
from gaae_models.training import GAAETrainer, prepare_data, spec_augment
from tests.gaae_models.helpers import GAAE_LOSSES, TINY_FIT_ARGS, fit_on_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False}


def tiny_trainer(cache, **train_overrides):
    train = TrainConfig(batch_size=3, labelled_batch_size=2, labelled_fraction=0.5, seed=1, **train_overrides)
    data = prepare_data(cache, train)
    cfg = model_config("small", n_classes=data.n_classes, **TINY)
    return GAAETrainer(cfg, train, data, device=torch.device("cpu"))


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module):
    """Did any *parameter* move? (Spectral-norm power-iteration buffers move in every forward.)"""
    return any(not torch.equal(before[k], v) for k, v in module.named_parameters())


def test_one_step_updates_what_it_should(tiny_data):
    t = tiny_trainer(tiny_data["train"])
    m = t.model
    batch = t.make_batch(1)
    gen = {n: snapshot(getattr(m, n)) for n in ("encoder", "decoder", "classifier")}
    disc = {n: snapshot(getattr(m, n)) for n in ("d_x", "d_latent")}
    # D step alone: only D_x and D_latent move
    t.opt_d.zero_grad()
    loss, metrics = t.d_loss(batch)
    loss.backward()
    t.opt_d.step()
    assert all(changed(disc[n], getattr(m, n)) for n in disc)
    assert not any(changed(gen[n], getattr(m, n)) for n in ("encoder", "classifier"))
    # E/G/C step alone, with D frozen: D gets no gradient and does not move
    disc = {n: snapshot(getattr(m, n)) for n in ("d_x", "d_latent")}
    t.opt_d.zero_grad(set_to_none=True)
    m.d_x.requires_grad_(False)
    m.d_latent.requires_grad_(False)
    t.opt_g.zero_grad()
    loss, g_metrics = t.g_loss(batch)
    loss.backward()
    t.opt_g.step()
    assert all(p.grad is None for p in m.discriminator_parameters())
    assert not any(changed(disc[n], getattr(m, n)) for n in disc)
    assert all(changed(gen[n], getattr(m, n)) for n in gen)
    names = set(GAAE_LOSSES)
    all_metrics = {**metrics, **g_metrics}
    assert names <= set(all_metrics) and all(np.isfinite(v) for v in all_metrics.values())
    # the total is the documented weighted sum of the named terms
    # (L_cls,gen only when the gate is open: C's accuracy on the generated batch beats chance)
    c = t.train
    gate = g_metrics["gate/cls_gen"]
    k = t.data.n_classes
    assert gate == float(g_metrics["acc/gen_batch"] >= 1 / k + c.cls_gen_gate * (1 - 1 / k))
    expected = c.psi * (
        c.alpha * g_metrics["loss/gen"] + (1 - c.alpha) * c.lambda_rec * g_metrics["loss/rec"]
    ) + c.omega * (
        c.g1 * g_metrics["loss/cls_lab"]
        + c.g2 * gate * g_metrics["loss/cls_gen"]
        + c.g3 * g_metrics["loss/lat"]
    )
    assert g_metrics["loss/total"] == pytest.approx(expected, rel=1e-5)


def test_checkpoint_round_trip_is_bit_exact(tiny_data, tmp_path):
    a = tiny_trainer(tiny_data["train"], ema_decay=0.9, ema_start=0)
    for step in (1, 2):
        a.train_step(step)
    save_checkpoint(str(tmp_path), 2, modules=a.modules(), optimizers=a.optimizers(), meta={"x": 1})
    b = tiny_trainer(tiny_data["train"], ema_decay=0.9, ema_start=0)
    meta = load_checkpoint(latest_checkpoint(str(tmp_path)), modules=b.modules(), optimizers=b.optimizers())
    assert meta["step"] == 2 and meta["x"] == 1
    for name, module in a.modules().items():
        other = b.modules()[name].state_dict()
        for key, value in module.state_dict().items():
            assert torch.equal(value, other[key]), (name, key)
    for name, opt in a.optimizers().items():
        sa, sb = opt.state_dict(), b.optimizers()[name].state_dict()
        assert sa["param_groups"] == sb["param_groups"]
        for pid, state in sa["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb["state"][pid][key]))
    # and the next step is identical
    assert a.train_step(3) == b.train_step(3)
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if ".tmp-" in p.name]


def _losses(run_dir):
    lines = [json.loads(x) for x in open(os.path.join(run_dir, "log.jsonl")) if x.strip()]
    return {
        e["step"]: {k: v for k, v in e.items() if k.startswith("loss/")} for e in lines if "loss/gen" in e
    }


@pytest.mark.slow
def test_resume_equals_uninterrupted(tiny_data, tmp_path):
    train = dict(
        batch_size=3,
        labelled_batch_size=2,
        labelled_fraction=0.5,
        seed=2,
        checkpoint_every=2,
        sample_every=3,
        log_every=1,
        n_sample_wavs=1,
    )
    cfg = model_config("small", **TINY)
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    fit_on_cpu(
        tiny_data["train"],
        full,
        model_config=cfg,
        train=TrainConfig(steps=4, **train),
    )
    fit_on_cpu(
        tiny_data["train"],
        part,
        model_config=cfg,
        train=TrainConfig(steps=2, **train),
    )
    with open(os.path.join(part, "log.jsonl"), "a") as f:  # a crash after step 2's checkpoint logged step 3
        f.write(json.dumps({"step": 3, "loss/gen": 123.0}) + "\n")
    fit_on_cpu(
        tiny_data["train"],
        part,
        model_config=cfg,
        train=TrainConfig(steps=4, **train),
        resume=True,
    )
    a, b = _losses(full), _losses(part)
    assert sorted(b) == [1, 2, 3, 4]
    for step in (3, 4):
        assert a[step] == b[step]  # exactly equal, not approximately
    assert (tmp_path / "full" / "samples" / "step-0000003.png").exists()
    assert list((tmp_path / "full" / "samples").glob("*.wav"))
    config = json.load(open(os.path.join(full, "config.json")))
    assert config["model"]["ch"] == 1 and config["train"]["seed"] == 2 and "torch" in config["versions"]
    assert len(config["labelled_indices"]) == config["data"]["n_labelled"] == 9
    with pytest.raises(CheckpointError, match="config differs from the run's: train_compare.lr_d"):
        fit_on_cpu(
            tiny_data["train"],
            part,
            model_config=cfg,
            train=TrainConfig(steps=6, lr_d=1e-3, **train),
            resume=True,
        )
    with pytest.raises(CheckpointError, match="already holds a run; pass --resume"):
        fit_on_cpu(
            tiny_data["train"],
            part,
            model_config=cfg,
            train=TrainConfig(steps=6, **train),
        )


def test_labelled_subset_is_stratified_and_seeded():
    labels = np.repeat([0, 1, 2], [100, 40, 20])
    labels = np.concatenate([labels, [-1] * 10])
    subset = labelled_subset(labels, 0.05, n_classes=3, seed=0)
    assert np.bincount(labels[subset], minlength=3).tolist() == [5, 2, 1]
    assert np.array_equal(subset, labelled_subset(labels, 0.05, n_classes=3, seed=0))
    assert not np.array_equal(subset, labelled_subset(labels, 0.05, n_classes=3, seed=1))
    assert np.all(labels[subset] >= 0)
    with pytest.raises(ConfigError, match="leaves class 2 with no labelled item"):
        labelled_subset(labels, 0.02, n_classes=3, seed=0)


def test_clear_errors(tiny_data, tmp_path):
    cfg = model_config("small", **TINY)
    refused = [
        ("unlabelled", TrainConfig(steps=1), False, ConfigError, "has no labels: pass --labelled-cache"),
        ("train", TrainConfig(steps=1, labelled_fraction=0.01), False, ConfigError, "leaves class"),
        ("train", TrainConfig(steps=1), True, CheckpointError, "holds no run"),
    ]
    for i, (cache, train, resume, error, match) in enumerate(refused):
        with pytest.raises(error, match=match):
            fit_on_cpu(tiny_data[cache], str(tmp_path / str(i)), model_config=cfg, train=train, resume=resume)
    with pytest.raises(ConfigError, match="batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match=r"unknown training option\(s\) \['lr'\]"):
        TrainConfig.from_dict({"lr": 1})


def test_labelled_cache_guidance_joins_the_unlabelled_pool(tiny_data):
    train = TrainConfig(batch_size=4, labelled_cache=tiny_data["train"], seed=0)
    data = prepare_data(tiny_data["unlabelled"], train)
    assert data.n_classes == 3 and data.unlabelled.size == 18 + 18
    assert data.labelled.min() >= 18  # guidance items are the labelled cache's
    t = GAAETrainer(model_config("small", n_classes=3, **TINY), train, data, device=torch.device("cpu"))
    metrics = t.train_step(1)
    assert np.isfinite(metrics["loss/cls_lab"])


def test_cnn_trains_and_spec_augment_masks(tiny_data, tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 1, 256, 128)
    masked = spec_augment(x, generator=g, n_masks=1, max_freq=10, max_time=5)
    assert masked.shape == x.shape and (masked == -1).any() and (x == 0).all()
    summary = fit_on_cpu(
        tiny_data["train"],
        str(tmp_path / "cnn"),
        model_config=model_config("small", **TINY),
        train=TrainConfig(model="cnn", steps=3, batch_size=4, eval_every=3),
        eval_cache=tiny_data["test"],
    )
    assert 0.0 <= summary["eval_accuracy"] <= 1.0
    log = [json.loads(x) for x in open(tmp_path / "cnn" / "log.jsonl")]
    assert [e["step"] for e in log if "loss/cls" in e] == [1, 2, 3]
    assert any("eval/accuracy" in e for e in log)


@pytest.mark.slow
def test_gaae_fit_cli(tiny_data, tmp_path):
    out = tmp_path / "run"
    args = [
        "fit",
        tiny_data["train"],
        "--out",
        str(out),
        *TINY_FIT_ARGS,
        "--eval-cache",
        tiny_data["test"],
    ]
    result = CliRunner().invoke(gaae_main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["steps"] == 2
    result = CliRunner().invoke(gaae_main, [*args[:4], "--set", "model.chh=1"])
    assert result.exit_code == 2 and "chh" in result.output


DDP_SCRIPT = r"""
import sys, torch
from gaae_models.config import model_config
from gaae_models.train_config import TrainConfig
from gaae_models.training import fit
train = TrainConfig(steps=1, batch_size=2, labelled_batch_size=2, labelled_fraction=0.5, seed=5,
                    sample_every=100, checkpoint_every=1, grad_clip=None, grad_clip_d=None)
cfg = model_config("small", ch=1, z_dim=16, s_dim=16, attention=False)
fit(sys.argv[1], sys.argv[2], model_config=cfg, train=train,
    device="cpu", progress=False)
"""


@pytest.mark.slow
def test_ddp_two_processes_average_gradients(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    script = tmp_path / "ddp_fit.py"
    script.write_text(DDP_SCRIPT)
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        str(script),
        tiny_data["train"],
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        raise
    assert proc.returncode == 0, stderr[-3000:]
    config = json.load(open(out / "config.json"))
    assert config["world_size"] == 2
    # reproduce in one process: each rank's gradients, averaged, then one optimiser step each
    # no clipping on either side: this reproduces the averaged gradients' Adam step by hand
    train = TrainConfig(
        steps=1,
        batch_size=2,
        labelled_batch_size=2,
        labelled_fraction=0.5,
        seed=5,
        grad_clip=None,
        grad_clip_d=None,
    )
    data = prepare_data(tiny_data["train"], train)
    t = GAAETrainer(
        model_config("small", n_classes=3, ch=1, z_dim=16, s_dim=16, attention=False),
        train,
        data,
        device=torch.device("cpu"),
    )
    m = t.model
    m.train()
    start = {n: snapshot(mod) for n, mod in t.modules().items()}

    def grads_for(loss_fn, params, batches):
        total = [torch.zeros_like(p) for p in params]
        after = None
        for batch in batches:
            for n, mod in t.modules().items():  # every rank starts from the same buffers (SN, BN)
                mod.load_state_dict(start_state[n])
            loss, _ = loss_fn(batch)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            total = [a + (g if g is not None else 0) for a, g in zip(total, grads, strict=True)]
            after = {n: snapshot(mod) for n, mod in t.modules().items()}
        return [g / len(batches) for g in total], after

    batches = [t.make_batch(1, rank=r) for r in (0, 1)]
    start_state = start
    d_grads, buffers = grads_for(t.d_loss, m.discriminator_parameters(), batches)
    for n, mod in t.modules().items():
        mod.load_state_dict(buffers[n])
    for p, g in zip(m.discriminator_parameters(), d_grads, strict=True):
        p.grad = g
    t.opt_d.step()
    start_state = {n: snapshot(mod) for n, mod in t.modules().items()}
    m.d_x.requires_grad_(False)
    m.d_latent.requires_grad_(False)
    g_grads, buffers = grads_for(t.g_loss, m.generator_parameters(), batches)
    for n, mod in t.modules().items():
        mod.load_state_dict(buffers[n])
    for p, g in zip(m.generator_parameters(), g_grads, strict=True):
        p.grad = g
    t.opt_g.step()
    # compare with rank 0's checkpoint of the 2-process run
    other = GAAETrainer(
        model_config("small", n_classes=3, ch=1, z_dim=16, s_dim=16, attention=False),
        train,
        data,
        device=torch.device("cpu"),
    )
    load_checkpoint(latest_checkpoint(str(out)), modules=other.modules())
    # elements whose averaged gradient is rounding noise (e.g. conv biases that feed a BatchNorm) are
    # skipped: Adam's first step is about lr * sign(g), so noise of either sign moves them by +-lr
    has_grad = {id(p): g.abs() > 1e-6 for p, g in zip(m.discriminator_parameters(), d_grads, strict=True)}
    has_grad.update({id(p): g.abs() > 1e-6 for p, g in zip(m.generator_parameters(), g_grads, strict=True)})
    compared = 0
    for name in ("encoder", "decoder", "classifier", "d_x", "d_latent"):
        theirs = dict(other.modules()[name].named_parameters())
        for key, value in t.modules()[name].named_parameters():
            mask = has_grad[id(value)]
            torch.testing.assert_close(
                value[mask], theirs[key][mask], rtol=1e-5, atol=1e-6, msg=f"{name}.{key}"
            )
            compared += int(mask.sum())
    assert compared > 1000  # most weights carry a real gradient
