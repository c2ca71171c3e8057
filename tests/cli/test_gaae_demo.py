"""gaae demo --quick: the README's main job at tiny sizes, so the whole path cannot silently break."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from audiospec.cache import open_cache
from gaae_cli.gaae_cli import main
from gaae_models import Encoder


@pytest.mark.slow
def test_quick_demo_runs_the_whole_mission(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", str(out), "--quick", "--quiet"])
    assert result.exit_code == 0, result.output
    with open(out / "summary.json") as f:
        summary = json.load(f)
    art = summary["artefacts"]
    # every artefact the summary names exists, and the printed summary names them too
    for key in ("train_cache", "test_cache", "samples_grid", "report", "encoder", "features"):
        assert os.path.exists(art[key]), key
        assert art[key] in result.output
    assert len(open_cache(art["train_cache"])) == summary["numbers"]["n_train"] == 60
    # the training health is printed and recorded (measured at the last step)
    health = summary["numbers"]["health"]
    assert f"accuracy {health['health_s_two_sample_acc']:.2f} (0.5 = matched)" in result.output
    assert "saturated pixels" in result.output and "gradient shares on E's trunk" in result.output
    assert f"at the top rail {100 * health['health_sat_prior_high']:.1f} %" in result.output
    for name in ("gaae", "cnn_few", "cnn_all"):
        assert os.path.isfile(os.path.join(art[f"run_{name}"], "checkpoints", "latest"))
    with open(os.path.join(art["report"], "results.json")) as f:
        results = json.load(f)
    gaae = next(r for r in results["runs"] if r["model_kind"] == "gaae")
    assert summary["numbers"]["gaae_classifier_accuracy"] == gaae["accuracy"]
    assert gaae["labelled_fraction"] == 0.05 and gaae["n_labelled"] == 3  # one label per class
    assert os.path.getsize(os.path.join(art["report"], gaae["figures"]["tsne_s_label"])) > 5000
    wavs = [f for f in os.listdir(art["samples_dir"]) if f.endswith(".wav")]
    assert len(wavs) == 12  # 4 per class
    # the saved encoder reproduces the run's encoder on the features it wrote
    features = np.load(art["features"])
    encoder = Encoder.from_pretrained(art["encoder"])
    first = features["files"][0]
    emb = encoder.embed(str(first))
    rows = features["file_index"] == 0
    np.testing.assert_allclose(features["z"][rows], emb.z, rtol=1e-4, atol=1e-5)
    assert "headline numbers" in result.output and "GAAE classifier C, 5 % labels" in result.output
    # --overwrite replaces a previous demo (and only a demo)
    again = CliRunner().invoke(main, ["demo", str(out), "--quick", "--quiet", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert len(open_cache(art["train_cache"])) == 60


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep")
    result = CliRunner().invoke(main, ["demo", str(tmp_path), "--quick", "--quiet"])
    assert result.exit_code == 2 and "is not empty" in result.output and "--overwrite" in result.output
    result = CliRunner().invoke(main, ["demo", str(tmp_path), "--quick", "--quiet", "--overwrite"])
    assert result.exit_code == 2 and "holds no gaae demo (no .gaae-demo)" in result.output
    assert (tmp_path / "x").read_text() == "keep"
