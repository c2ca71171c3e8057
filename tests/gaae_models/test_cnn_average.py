"""The simple CNN's Polyak average (``cnn_ema_decay``): what predicts, evaluates and is saved as
``ema_cnn``, with the schedule of the GAAE's average of E and C; the live CNN is logged beside it."""

import copy
import json
import os

import pytest
import torch
from safetensors.torch import load_file

from gaae_models.checkpoint import latest_checkpoint
from gaae_models.config import model_config
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.runs import load_run
from gaae_models.train_config import PAPER_TRAIN_SETTINGS, TrainConfig, departures_from_paper
from gaae_models.training import CNNTrainer, prepare_data
from tests.gaae_models.helpers import fit_one_thread

TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False}


def _cnn(cache, **overrides):
    train = TrainConfig(model="cnn", batch_size=4, seed=2, **overrides)
    data = prepare_data(cache, train)
    return CNNTrainer(train, data, (256, 128), device=torch.device("cpu"))


def test_average_follows_its_schedule_and_predicts(tiny_data):
    torch.set_num_threads(1)
    trainer = _cnn(tiny_data["train"], cnn_ema_decay=0.5)
    assert trainer.keeps_average and set(trainer.modules()) == {"cnn", "ema_cnn"}
    expected = {k: v.clone() for k, v in trainer.model.state_dict().items()}  # the average starts at init
    for step in (1, 2, 3):
        trainer.train_step(step)
        decay = min(0.5, (1 + step) / (10 + step))  # 0.1818..., 0.25, 0.3077... and never above 0.5
        for name, value in trainer.model.state_dict().items():
            if value.dtype.is_floating_point:
                expected[name] = decay * expected[name] + (1 - decay) * value
            else:
                expected[name] = value.clone()  # batch-norm counters are copied
    got = trainer.average.state_dict()
    assert all(torch.allclose(got[k], v, atol=1e-6) for k, v in expected.items())
    assert not all(torch.equal(got[k], v) for k, v in trainer.model.state_dict().items())
    x = torch.randn(3, 1, 256, 128)
    with torch.no_grad():
        reference = copy.deepcopy(trainer.model).eval()
        reference.load_state_dict(expected)
        assert torch.allclose(trainer.predict(x), reference(x), atol=1e-5)
        assert torch.allclose(trainer.predict_live(x), trainer.model.eval()(x))
        assert not torch.allclose(trainer.predict(x), trainer.predict_live(x))


def test_no_average_is_the_live_cnn_and_the_live_training_is_unchanged(tiny_data):
    torch.set_num_threads(1)
    plain, averaged = _cnn(tiny_data["train"], cnn_ema_decay=0.0), _cnn(tiny_data["train"])
    assert not plain.keeps_average and set(plain.modules()) == {"cnn"}
    losses = [(plain.train_step(t)["loss/cls"], averaged.train_step(t)["loss/cls"]) for t in (1, 2)]
    assert all(a == b for a, b in losses)  # averaging reads the live CNN, never changes it
    x = torch.randn(2, 1, 256, 128)
    assert torch.equal(plain.predict(x), plain.predict_live(x))
    assert torch.equal(plain.predict(x), averaged.predict_live(x))


def test_cnn_ema_decay_is_validated_recorded_and_absent_from_old_runs():
    for bad in (1.0, -0.1, True):
        with pytest.raises(ConfigError, match=rf"cnn_ema_decay={bad!r} must be in \[0, 1\)"):
            TrainConfig(model="cnn", cnn_ema_decay=bad)
    assert TrainConfig.from_stored({"model": "cnn"}).cnn_ema_decay == 0.0  # runs before format 6
    cfg = model_config("cpu", n_classes=3)
    assert departures_from_paper(cfg, TrainConfig(model="cnn"))["train"] == {"cnn_ema_decay": [0.0, 0.99]}
    assert "cnn_ema_decay" not in departures_from_paper(cfg, TrainConfig())["train"]  # the GAAE's record
    paper = TrainConfig(model="cnn").replace(**PAPER_TRAIN_SETTINGS)
    assert departures_from_paper(cfg, paper)["train"] == {}


def test_fit_logs_both_accuracies_and_load_run_reads_the_average(tiny_data, tmp_path):
    out = fit_one_thread(
        tiny_data["train"],
        tmp_path / "cnn",
        model_config=model_config("small", **TINY),
        train=TrainConfig(model="cnn", steps=4, batch_size=4, eval_every=2, seed=1),
        eval_cache=tiny_data["test"],
    )
    log = [json.loads(line) for line in open(tmp_path / "cnn" / "log.jsonl")]
    evals = [e for e in log if "eval/accuracy" in e]
    assert [e["step"] for e in evals] == [2, 4] and all("eval/accuracy_live" in e for e in evals)
    record = json.load(open(tmp_path / "cnn" / "config.json"))
    assert record["format_version"] == 7 and record["departures_from_paper"]["train"] == {
        "cnn_ema_decay": [0.0, 0.99]
    }
    weights = load_file(os.path.join(latest_checkpoint(out), "model.safetensors"))
    assert {k.split(".")[0] for k in weights} == {"cnn", "ema_cnn"}
    for use_ema, key in ((True, "ema_cnn"), (False, "cnn")):
        net = load_run(out, use_ema=use_ema).modules["cnn"]
        stored = {k.removeprefix(f"{key}."): v for k, v in weights.items() if k.startswith(f"{key}.")}
        assert all(torch.equal(net.state_dict()[k].cpu(), v) for k, v in stored.items())


def test_a_cnn_run_from_before_the_average_resumes_without_it(tiny_data, tmp_path):
    kwargs = {"model_config": model_config("small", **TINY), "eval_cache": tiny_data["test"]}
    out = tmp_path / "old"
    fit_one_thread(tiny_data["train"], out, train=TrainConfig(model="cnn", steps=2, batch_size=4), **kwargs)
    # rewrite it as format 5 wrote it: no cnn_ema_decay, no average in the checkpoint
    record = json.load(open(out / "config.json"))
    record["format_version"] = 5
    for table in ("train", "train_compare"):
        record[table].pop("cnn_ema_decay")
    record["departures_from_paper"]["train"] = {}
    json.dump(record, open(out / "config.json", "w"))
    longer = TrainConfig(model="cnn", steps=3, batch_size=4)
    hint = (
        r"cnn_ema_decay: 0\.0 -> 0\.99 "
        r"\(to continue it as it was trained, pass --set train\.cnn_ema_decay=0\.0\)"
    )
    with pytest.raises(CheckpointError, match=hint):
        fit_one_thread(tiny_data["train"], out, train=longer, resume=True, **kwargs)
    fit_one_thread(tiny_data["train"], out, train=longer.replace(cnn_ema_decay=0.0), resume=True, **kwargs)
    assert load_run(str(out)).step == 3
