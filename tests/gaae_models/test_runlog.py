"""gaae plot-log: a run's log.jsonl as a PNG of losses and health, and TensorBoard scalars (issue 13)."""

import importlib.util
import json
import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from gaae_cli.gaae_cli import main as gaae
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.runlog import plot_log, read_log, write_tensorboard


@pytest.fixture
def run(tmp_path):
    """A run folder whose log has losses every step, health every 10 steps, and a torn last line."""
    folder = tmp_path / "run"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for step in range(1, 121):
        lines.append(
            {"step": step, "loss/rec": 1 / step + 0.01 * rng.random(), "loss/d_x": 0.7, "time/step": 1.0}
        )
        if step % 10 == 0:
            lines.append({"step": step, "health/s_std_mean": 1 + 1 / step, "health/s_eff_rank": 50.0})
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"step": 121, "loss/re'
    (folder / "log.jsonl").write_text(text)
    return folder


def test_read_log_series(run):
    series = read_log(run)
    assert sorted(series) == ["health/s_eff_rank", "health/s_std_mean", "loss/d_x", "loss/rec", "time/step"]
    steps, values = series["health/s_std_mean"]
    assert steps.tolist() == list(range(10, 121, 10)) and values[0] == pytest.approx(1.1)
    assert series["loss/rec"][0].size == 120  # the torn last line is ignored


def test_plot_log_draws_every_group(run, tmp_path):
    path = plot_log(run)
    assert path == os.path.join(str(run), "log.png")
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 1000  # 3 groups: loss, health, health rank -> 2 x 2
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044 == 0o044  # readable by others
    only = plot_log(run, tmp_path / "rec.png", keys=["loss/rec"])
    assert imread(only).shape[1] < image.shape[1]  # one panel, one column
    with pytest.raises(ConfigError, match=r"keys=\['loss/nope'\] were never logged"):
        plot_log(run, keys=["loss/nope"])
    with pytest.raises(CheckpointError, match=r"holds no log.jsonl"):
        plot_log(tmp_path)


def test_corrupt_line_is_named(run):
    with open(run / "log.jsonl", "a") as f:
        f.write('x"}\n{"step": 122}\n')
    with pytest.raises(CheckpointError, match=r"line 133 is not JSON"):
        read_log(run)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_tensorboard_missing_says_how_to_install(run):
    with pytest.raises(ConfigError, match=r"pip install tensorboard"):
        write_tensorboard(run)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_scalars(run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = write_tensorboard(run, tmp_path / "tb")
    events = EventAccumulator(out)
    events.Reload()
    assert len(events.Scalars("loss/rec")) == 120


def test_cli(run, tmp_path):
    result = CliRunner().invoke(gaae, ["plot-log", str(run), "--out", str(tmp_path / "curves.png")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["png"] == str(tmp_path / "curves.png")
    bad = CliRunner().invoke(gaae, ["plot-log", str(run), "--out", str(tmp_path / "curves.jpg")])
    assert bad.exit_code == 2 and bad.output.startswith("Error: path=") and "must end in .png" in bad.output
