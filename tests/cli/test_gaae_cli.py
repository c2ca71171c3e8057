"""gaae sample and gaae evaluate from the command line."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from audiospec.cache import open_cache
from gaae_cli.gaae_cli import main


def _invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_sample_modes(tiny_runs, tiny_data, tmp_path):
    run = tiny_runs["gaae"]
    result = _invoke(["sample", run, tmp_path / "s", "--label", "guitar", "--n", "2", "--n-iter", "0"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "s")) == [
        "index.json",
        "sample-guitar-000.wav",
        "sample-guitar-001.wav",
        "samples.png",
    ]
    result = _invoke(["sample", run, tmp_path / "i", "--interpolate", "--steps", "3", "--n-iter", "0"])
    assert result.exit_code == 0, result.output
    assert len([f for f in os.listdir(tmp_path / "i") if f.endswith(".wav")]) == 9  # 3 labels x 3 steps
    test = open_cache(tiny_data["test"])
    wav = os.path.join(test.attrs["root"], test.paths[1])
    result = _invoke(["sample", run, tmp_path / "a", "--from-audio", wav, "--n-iter", "0"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "a" / "index.json") as f:
        assert json.load(f)["kind"] == "from-audio"
    result = _invoke(["sample", run, "--to-cache", tmp_path / "gen.zarr", "--n", "4"])
    assert result.exit_code == 0, result.output
    assert list(open_cache(tmp_path / "gen.zarr").labels) == [0, 1, 2, 0]


def test_sample_errors_are_one_line(tiny_runs, tmp_path):
    result = _invoke(["sample", tiny_runs["gaae"], tmp_path / "x", "--label", "banjo"])
    assert result.exit_code == 2 and "label='banjo' is not one of this run's labels" in result.output
    result = _invoke(["sample", tmp_path, tmp_path / "x"])
    assert result.exit_code == 2 and "is not a gaae run" in result.output
    result = _invoke(
        ["sample", tiny_runs["gaae"], tmp_path / "x", "--interpolate", "--to-cache", tmp_path / "c"]
    )
    assert result.exit_code == 2 and "choose one of" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    result = _invoke(["sample", tiny_runs["gaae"], tmp_path / "full"])
    assert result.exit_code == 2 and "is not empty" in result.output


@pytest.mark.slow
def test_evaluate_cli_writes_the_report(tiny_runs, tiny_data, tmp_path):
    out = tmp_path / "report"
    args = [
        "evaluate",
        tiny_runs["gaae"],
        tiny_runs["cnn"],
        tiny_runs["cnn100"],
        "--test-cache",
        tiny_data["test"],
        "--out",
        out,
        "--n",
        "8",
        "--seeds",
        "0",
        "--cas-steps",
        "0",
        "--tsne-points",
        "0",
        "--n-iter",
        "0",
        "--quiet",
    ]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    with open(out / "results.json") as f:
        results = json.load(f)
    # the metric model defaults to the CNN run trained with every label
    assert results["reference"]["metric_model"] == os.path.abspath(tiny_runs["cnn100"])
    assert [r["model_kind"] for r in results["runs"]] == ["gaae", "cnn", "cnn"]
    assert (out / "report.md").stat().st_size > 1000
    result = _invoke([*args[:-1], "--seeds", "a,b"])
    assert result.exit_code == 2 and "--seeds" in result.output
