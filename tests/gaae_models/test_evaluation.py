"""gaae evaluate on tiny runs: every section of the report, numbers that agree with direct computation."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from audiospec.cache import open_cache
from gaae_models import metrics
from gaae_models.errors import ConfigError
from gaae_models.evaluation import evaluate
from gaae_models.runs import load_run


@pytest.fixture(scope="module")
def report(tiny_runs, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    runs = [tiny_runs[k] for k in ("gaae", "biggan-supervised", "biggan-unsupervised", "bigan", "cnn")]
    results = evaluate(
        runs,
        tiny_data["test"],
        str(out),
        metric_model=tiny_runs["cnn100"],
        n_generated=12,
        seeds=(0, 1),
        cas_steps=2,
        cas_batch_size=4,
        tsne_points=9,
        tsne_iter=250,
        n_iter=0,
        progress=False,
    )
    return str(out), results


@pytest.mark.slow
def test_report_has_every_section_and_links_existing_files(report):
    out, results = report
    with open(os.path.join(out, "report.md")) as f:
        text = f.read()
    for heading in (
        "## Runs",
        "## Classifier accuracy on the test split",
        "## Generation quality: IS and FID",
        "## Classification accuracy score",
        "## Representations: linear probes and t-SNE",
        "## Figures and audio",
    ):
        assert heading in text
    links = [part.split(")")[0] for part in text.split("](")[1:]]
    assert len(links) > 20
    for link in links:
        assert os.path.isfile(os.path.join(out, link)), link
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f) == json.loads(json.dumps(results))


def test_accuracies_match_the_runs_predictions(report, tiny_runs, tiny_data):
    _, results = report
    test = open_cache(tiny_data["test"])
    by_kind = {r["model_kind"]: r for r in results["runs"]}
    for kind in ("gaae", "bigan", "cnn"):
        run = load_run(tiny_runs[kind])
        expected = float(np.mean(run.predict_logits(test[:]).argmax(1) == test.labels))
        assert by_kind[kind]["accuracy"] == pytest.approx(expected)
    assert by_kind["biggan-supervised"]["accuracy"] is None


def test_is_and_fid_are_recomputable_from_the_metric_model(report, tiny_runs, tiny_data):
    _, results = report
    test = open_cache(tiny_data["test"])
    metric = load_run(tiny_runs["cnn100"])
    gen = load_run(tiny_runs["biggan-supervised"])
    x, _ = gen.generate(12, seed=1)
    import torch

    cnn = metric.modules["cnn"]
    with torch.no_grad():
        f_gen = cnn.features(torch.from_numpy(x).unsqueeze(1)).double().numpy()
        f_test = cnn.features(torch.from_numpy(test[:]).unsqueeze(1)).double().numpy()
        p_gen = torch.softmax(cnn(torch.from_numpy(x).unsqueeze(1)), 1).double().numpy()
    entry = next(r for r in results["runs"] if r["model_kind"] == "biggan-supervised")
    assert entry["fid"]["values"][1] == pytest.approx(metrics.fid(f_gen, f_test), rel=1e-4)
    assert entry["inception_score"]["values"][1] == pytest.approx(
        metrics.inception_score(p_gen, n_splits=1)[0], rel=1e-4
    )
    assert entry["fid"]["mean"] == pytest.approx(np.mean(entry["fid"]["values"]))
    assert results["reference"]["metric_model_test_accuracy"] == pytest.approx(
        float(np.mean(metric.predict_logits(test[:]).argmax(1) == test.labels))
    )


def test_cas_probes_and_tsne_are_reported(report):
    out, results = report
    by_kind = {r["model_kind"]: r for r in results["runs"]}
    for kind in ("gaae", "biggan-supervised"):
        cas = by_kind[kind]["cas"]
        for key in ("real", "generated", "real_plus_generated"):
            assert 0.0 <= cas[key] <= 1.0
    assert by_kind["biggan-unsupervised"]["cas"] is None  # no labels to condition on
    gaae = by_kind["gaae"]
    assert set(gaae["probes"]["label"]) == {"z", "s", "profile"}
    # the baseline: a probe of the time-averaged spectrogram, the same for every run
    assert gaae["probes"]["velocity"]["profile"] == by_kind["bigan"]["probes"]["velocity"]["profile"]
    assert "velocity" in gaae["probes"]  # an attribute training never used
    assert gaae["probes"]["label"]["z"]["source"] == "training cache -> test cache"
    for key in ("tsne_z_label", "tsne_s_label", "tsne_s_velocity"):
        path = os.path.join(out, gaae["figures"][key])
        assert os.path.getsize(path) > 5000
    assert os.path.getsize(os.path.join(out, by_kind["bigan"]["figures"]["tsne_e_label"])) > 5000
    assert len(gaae["audio"]) == 12 and all(
        os.path.isfile(os.path.join(out, a["wav"])) for a in gaae["audio"]
    )


def test_evaluate_errors(tiny_runs, tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="must be a CNN run"):
        evaluate(
            [tiny_runs["gaae"]],
            tiny_data["test"],
            str(tmp_path),
            metric_model=tiny_runs["gaae"],
            progress=False,
        )
    with pytest.raises(ConfigError, match="probe attribute 'gender' is not in the test cache"):
        evaluate(
            [tiny_runs["gaae"]],
            tiny_data["test"],
            str(tmp_path),
            probe_attributes=["gender"],
            cas_steps=0,
            progress=False,
        )
    with pytest.raises(ConfigError, match="n_generated=1 must be an integer >= 2"):
        evaluate([tiny_runs["gaae"]], tiny_data["test"], str(tmp_path), n_generated=1, progress=False)


def test_the_real_inception_score_does_not_split_a_class_sorted_cache_by_class():
    """A cache stores its items sorted by class: contiguous splits of a certain classifier's posteriors
    would each hold one class and score 1; shuffled, every split scores about K."""
    from gaae_models.evaluation import _real_inception_score

    probs = np.repeat(np.eye(3), 66, axis=0) * 0.98 + 0.02 / 3  # 198 items, sorted by class
    assert metrics.inception_score(probs, n_splits=3)[0] == pytest.approx(1.0)
    mean, _ = _real_inception_score(probs)
    assert mean > 2.5
    assert mean == pytest.approx(metrics.inception_score(probs, n_splits=1)[0], abs=0.15)
