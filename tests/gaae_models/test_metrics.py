"""Tests of gaae_models.metrics against closed forms, slow reference loops and scipy (CPU, seconds)."""

from __future__ import annotations

import math
import os

import matplotlib.image
import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist

from gaae_models.errors import ConfigError
from gaae_models.metrics import (
    _trace_sqrt_product,
    activation_statistics,
    fid,
    frechet_distance,
    inception_score,
    linear_probe,
    plot_embedding,
    sqrtm_psd,
    tsne,
)


def _random_spd(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    b = rng.normal(size=(d, rank or d + 3))
    return b @ b.T + (0.0 if rank else 0.1 * np.eye(d))


# ----------------------------------------------------------------------------------------------------
# Inception score


@pytest.mark.parametrize("k", [2, 3, 10])
def test_inception_score_of_confident_uniform_classifier_is_k(k):
    # every split of 10 holds 3 one-hot rows of each class: p(y|x) certain, p(y) uniform
    probs = np.tile(np.eye(k), (10 * 3, 1))
    mean, std = inception_score(probs, n_splits=10)
    assert mean == pytest.approx(k, abs=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_of_identical_rows_is_one(rng):
    row = rng.dirichlet(np.ones(7))
    mean, std = inception_score(np.tile(row, (40, 1)), n_splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def _inception_score_reference(probs: np.ndarray, n_splits: int) -> tuple[float, float]:
    n, k = probs.shape
    scores = []
    for i in range(n_splits):
        part = probs[i * n // n_splits : (i + 1) * n // n_splits]
        marginal = [sum(row[j] for row in part) / len(part) for j in range(k)]
        kls = []
        for row in part:
            kls.append(sum(p * (math.log(p) - math.log(marginal[j])) for j, p in enumerate(row) if p > 0))
        scores.append(math.exp(sum(kls) / len(kls)))
    mean = sum(scores) / n_splits
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / n_splits)


def test_inception_score_matches_reference_loop(rng):
    probs = rng.dirichlet(np.full(5, 0.3), size=103)
    probs[::7, 2] = 0.0  # exact zeros exercise 0 log 0 = 0
    probs /= probs.sum(axis=1, keepdims=True)
    got = inception_score(probs, n_splits=4)
    want = _inception_score_reference(probs, 4)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert 1.0 <= got[0] <= 5.0
    assert inception_score(probs, n_splits=4) == got  # deterministic


@pytest.mark.parametrize(
    ("probs", "kwargs", "match"),
    [
        (np.full((10, 1), 1.0), {}, r"probs has shape \(10, 1\); it must be \(N, K\) with N >= 1 and K >= 2"),
        (np.full(10, 0.1), {}, r"probs has shape \(10,\)"),
        (np.array([[1.5, -0.5]] * 10), {}, "negative entries"),
        (np.array([[0.5, 0.6]] * 10), {}, "row 0 sums to 1.1; every row must sum to 1 within 1e-3"),
        (np.array([[0.5, np.nan]] * 10), {}, "non-finite"),
        (np.array([[0.5, 0.5]] * 5), {"n_splits": 10}, "n_splits=10 exceeds the number of rows N=5"),
        (np.array([[0.5, 0.5]] * 5), {"n_splits": 0}, "n_splits=0 must be an integer >= 1"),
    ],
)
def test_inception_score_rejects_bad_input(probs, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        inception_score(probs, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Frechet distance


def test_activation_statistics_match_numpy(rng):
    x = rng.normal(size=(50, 6)) * [1, 2, 3, 4, 5, 6] + 7
    mu, sigma = activation_statistics(x)
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False, ddof=1), rtol=1e-12)
    assert mu.shape == (6,) and sigma.shape == (6, 6) and np.array_equal(sigma, sigma.T)
    _, s1 = activation_statistics(x[:, :1])
    assert s1.shape == (1, 1)


def test_fid_of_a_sample_with_itself_is_zero(rng):
    x = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_a_mean_shift_is_its_squared_norm(rng):
    x = rng.normal(size=(400, 8))
    direction = rng.normal(size=8)
    previous = 0.0
    for scale in (0.25, 1.0, 4.0):
        shift = scale * direction
        got = fid(x, x + shift)
        assert got == pytest.approx(float(shift @ shift), abs=1e-6)
        assert got > previous
        previous = got


def test_frechet_distance_of_diagonal_and_commuting_gaussians_matches_closed_form(rng):
    a, b = rng.uniform(0.1, 4.0, size=(2, 5))
    mu1, mu2 = rng.normal(size=(2, 5))
    want = float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-10)
    # the same Gaussians in a rotated basis: the distance is invariant
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    got = frechet_distance(
        rotation @ mu1, rotation @ np.diag(a) @ rotation.T, rotation @ mu2, rotation @ np.diag(b) @ rotation.T
    )
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("d", [1, 4, 20])
def test_trace_term_agrees_with_scipy_sqrtm(rng, d):
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    reference = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert _trace_sqrt_product(s1, s2) == pytest.approx(reference, rel=1e-9)
    mu1, mu2 = rng.normal(size=(2, d))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * reference
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # symmetric in its two arguments
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("d", [1, 3, 30])
def test_sqrtm_psd_squares_back_on_spd_matrices(rng, d):
    a = _random_spd(rng, d)
    root = sqrtm_psd(a)
    np.testing.assert_allclose(root @ root, a, rtol=1e-10, atol=1e-10 * np.abs(a).max())
    np.testing.assert_array_equal(root, root.T)
    assert np.linalg.eigvalsh(root).min() > 0
    np.testing.assert_allclose(root, scipy.linalg.sqrtm(a).real, atol=1e-9 * np.abs(a).max())


def test_sqrtm_psd_clips_rounding_negatives_to_zero():
    root = sqrtm_psd(np.diag([4.0, 0.0, -1e-12]))
    np.testing.assert_array_equal(root, np.diag([2.0, 0.0, 0.0]))


def test_sqrtm_psd_of_rank_deficient_matrix(rng):
    a = _random_spd(rng, 6, rank=2)  # rank 2: four eigenvalues are 0 up to rounding, some negative
    root = sqrtm_psd(a)
    np.testing.assert_allclose(root @ root, a, atol=1e-7 * np.abs(a).max())
    assert np.all(np.isfinite(root)) and root.dtype == np.float64
    # identical singular Gaussians: clipped at 0, never negative, never NaN
    dist = frechet_distance(np.zeros(6), a, np.zeros(6), a)
    assert 0.0 <= dist < 1e-6


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(3), np.eye(3), np.zeros(2), np.eye(2)), r"mu1 has shape \(3,\) and mu2 \(2,\)"),
        (
            (np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)),
            r"sigma1 has shape \(2, 2\); it must be square \(3, 3\)",
        ),
        (
            (np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2)),
            "sigma1 is not symmetric",
        ),
        ((np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0])), "sigma2 is not positive semi-definite"),
        ((np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2)), "sigma1 is not positive semi-definite"),
    ],
)
def test_frechet_distance_rejects_bad_input(args, match):
    with pytest.raises(ConfigError, match=match):
        frechet_distance(*args)


def test_fid_and_friends_reject_bad_input(rng):
    with pytest.raises(ConfigError, match=r"features_a has shape \(10, 3\) and features_b \(10, 4\)"):
        fid(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(ConfigError, match=r"features_b has shape \(1, 3\); it must be \(N, D\) with N >= 2"):
        fid(rng.normal(size=(10, 3)), rng.normal(size=(1, 3)))
    with pytest.raises(ConfigError, match=r"features has shape \(5,\)"):
        activation_statistics(np.zeros(5))
    with pytest.raises(ConfigError, match=r"matrix has shape \(2, 3\); it must be square"):
        sqrtm_psd(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="matrix is not positive semi-definite: its smallest eigenvalue -2"):
        sqrtm_psd(np.diag([1.0, -2.0]))


# ----------------------------------------------------------------------------------------------------
# t-SNE


@pytest.fixture(scope="module")
def clusters() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 20)) * 6.0
    labels = np.repeat(np.arange(3), 40)
    return centres[labels] + rng.normal(size=(120, 20)), labels


@pytest.fixture(scope="module")
def cluster_embedding(clusters) -> np.ndarray:
    return tsne(clusters[0], seed=0)


def _one_nn_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    d = cdist(points, points)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[d.argmin(axis=1)] == labels))


def test_tsne_separates_well_separated_clusters(clusters, cluster_embedding):
    labels = clusters[1]
    assert cluster_embedding.shape == (120, 2) and cluster_embedding.dtype == np.float64
    assert np.all(np.isfinite(cluster_embedding))
    assert _one_nn_accuracy(cluster_embedding, labels) == 1.0
    # the clusters are apart: every between-cluster distance exceeds every within-cluster nearest distance
    d = cdist(cluster_embedding, cluster_embedding)
    same = labels[:, None] == labels[None, :]
    assert d[~same].min() > 2 * np.median(np.where(same & (d > 0), d, np.inf).min(axis=1))


def test_tsne_is_deterministic_and_leaves_its_input_alone(clusters, cluster_embedding):
    x = clusters[0].copy()
    again = tsne(x, seed=0)
    np.testing.assert_array_equal(again, cluster_embedding)
    np.testing.assert_array_equal(x, clusters[0])
    r1 = tsne(x, n_iter=500, init="random", seed=1)
    np.testing.assert_array_equal(r1, tsne(x, n_iter=500, init="random", seed=1))
    assert not np.array_equal(r1, tsne(x, n_iter=500, init="random", seed=2))
    assert _one_nn_accuracy(r1, clusters[1]) == 1.0
    assert tsne(x[:30], n_components=3, perplexity=5.0, n_iter=250).shape == (30, 3)


def test_tsne_and_probe_restore_torch_threads(clusters):
    before = torch.get_num_threads()
    x, y = clusters[0][::4], clusters[1][::4]
    tsne(x, perplexity=5.0, n_iter=250, num_threads=before + 1)
    assert torch.get_num_threads() == before
    linear_probe(x, y, x, y, l2_grid=(0.1,), num_threads=before + 1)
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="num_threads=0 must be an integer >= 1"):
        tsne(x, perplexity=5.0, num_threads=0)


def test_tsne_is_scikit_learns_exact_tsne_with_our_options(clusters, monkeypatch):
    """The numerics belong to scikit-learn: tsne() validates, then hands every option over."""
    import sklearn.manifold

    x = clusters[0][::4]
    want = sklearn.manifold.TSNE(
        perplexity=5.0, early_exaggeration=6.0, learning_rate=80.0, max_iter=300, init="random",
        method="exact", random_state=3,
    ).fit_transform(x)  # fmt: skip
    got = tsne(
        x, perplexity=5.0, early_exaggeration=6.0, learning_rate=80.0, n_iter=300, init="random", seed=3
    )
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    seen = {}

    class Spy(sklearn.manifold.TSNE):
        def fit_transform(self, data, y=None):
            seen.update(self.get_params())
            return super().fit_transform(data, y)

    monkeypatch.setattr(sklearn.manifold, "TSNE", Spy)
    tsne(x, perplexity=5.0, n_iter=250)
    assert seen["method"] == "exact" and seen["max_iter"] == 250 and seen["init"] == "pca"
    assert (
        seen["learning_rate"] == "auto" and seen["early_exaggeration"] == 12.0 and seen["random_state"] == 0
    )


def test_tsne_rejects_bad_input(rng):
    x = rng.normal(size=(20, 3))
    with pytest.raises(ConfigError, match=r"perplexity=19.0 must satisfy 1 < perplexity < N - 1 = 19"):
        tsne(x, perplexity=19.0)
    with pytest.raises(ConfigError, match="perplexity=0.5"):
        tsne(x, perplexity=0.5)
    with pytest.raises(ConfigError, match="perplexity='thirty' must be a number"):
        tsne(x, perplexity="thirty")
    with pytest.raises(ConfigError, match="early_exaggeration=0.5 must be a finite number >= 1"):
        tsne(x, perplexity=5.0, early_exaggeration=0.5)
    with pytest.raises(ConfigError, match="x has 10001 rows.*subsample"):
        tsne(np.zeros((10_001, 1)))
    with pytest.raises(ConfigError, match=r"x has shape \(20,\); it must be \(N, D\)"):
        tsne(x[:, 0])
    with pytest.raises(ConfigError, match="n_components=4 exceeds x's feature size D=3.*init='random'"):
        tsne(x, n_components=4, perplexity=5.0)
    with pytest.raises(ConfigError, match="learning_rate='fast' must be 'auto' or a positive number"):
        tsne(x, perplexity=5.0, learning_rate="fast")
    with pytest.raises(ConfigError, match="learning_rate=-1"):
        tsne(x, perplexity=5.0, learning_rate=-1)
    with pytest.raises(ConfigError, match="n_iter=100 must be an integer >= 250"):
        tsne(x, perplexity=5.0, n_iter=100)
    with pytest.raises(ConfigError, match="init='spectral'"):
        tsne(x, perplexity=5.0, init="spectral")
    with pytest.raises(ConfigError, match="all rows identical"):
        tsne(np.ones((20, 3)), perplexity=5.0)


# ----------------------------------------------------------------------------------------------------
# plot_embedding


def test_plot_embedding_writes_a_readable_png(tmp_path, cluster_embedding, clusters):
    labels = clusters[1].copy()
    labels[::9] = -1
    path = str(tmp_path / "tsne.png")
    out = plot_embedding(
        cluster_embedding, labels, label_names=["brass", "flute", "guitar"], path=path, title="t-SNE"
    )
    assert out == path
    assert os.path.getsize(path) > 5_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 100
    assert os.listdir(tmp_path) == ["tsne.png"]  # no temporary file left behind
    # overwrites in place
    plot_embedding(cluster_embedding, clusters[1], label_names=["a", "b", "c"], path=path, marker_size=4)
    assert os.listdir(tmp_path) == ["tsne.png"]


def test_plot_embedding_rejects_bad_input(tmp_path):
    e = np.zeros((4, 2))
    good = {"label_names": ["a", "b"], "path": str(tmp_path / "x.png")}
    with pytest.raises(ConfigError, match=r"embedding has shape \(4, 3\); it must be \(N, 2\)"):
        plot_embedding(np.zeros((4, 3)), np.zeros(4, int), **good)
    with pytest.raises(ConfigError, match=r"labels range over \[-1, 2\]; they must lie in \[-1, 2\)"):
        plot_embedding(e, np.array([0, 1, 2, -1]), **good)
    with pytest.raises(ConfigError, match=r"labels has shape \(3,\); it must be \(4,\)"):
        plot_embedding(e, np.zeros(3, int), **good)
    with pytest.raises(ConfigError, match="marker_size=0 must be a positive number"):
        plot_embedding(e, np.zeros(4, int), **good, marker_size=0)
    with pytest.raises(ConfigError, match="must end in .png"):
        plot_embedding(e, np.zeros(4, int), label_names=["a"], path=str(tmp_path / "x.jpg"))
    with pytest.raises(ConfigError, match="does not exist"):
        plot_embedding(e, np.zeros(4, int), label_names=["a"], path=str(tmp_path / "no" / "x.png"))
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------------------------------
# linear probe


def _blobs(rng, n_per_class: int, n_classes: int, d: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(n_classes, d)) * spread
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.normal(size=(y.size, d)), y


def test_linear_probe_on_separable_data_is_perfect(rng):
    x, y = _blobs(rng, 80, 3, 5, spread=8.0)
    order = rng.permutation(y.size)
    x, y = x[order], y[order]
    train, test = slice(0, 150), slice(150, None)
    result = linear_probe(x[train], y[train], x[test], y[test])
    assert result["accuracy"] == 1.0 and result["balanced_accuracy"] == 1.0
    assert result["n_train"] == 150 and result["n_test"] == 90 and result["n_classes"] == 3
    assert result["n_dropped"] == 0
    assert result["l2"] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0) and len(result["cv_accuracy"]) == 5
    confusion = np.array(result["confusion"])
    np.testing.assert_array_equal(confusion, np.diag(np.bincount(y[test], minlength=3)))
    majority = np.argmax(np.bincount(y[train]))
    assert result["majority_baseline"] == pytest.approx(np.mean(y[test] == majority))
    assert all(isinstance(v, int) for row in result["confusion"] for v in row)


def test_linear_probe_on_noise_is_near_chance():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 10))
    y = np.tile([0, 1], 200)
    result = linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert result["accuracy"] < 0.75
    assert result["majority_baseline"] == 0.5
    assert result["balanced_accuracy"] == pytest.approx(result["accuracy"])  # balanced test set


def test_linear_probe_standardises_with_training_statistics_only(rng):
    # class = sign of feature 0; feature 1 is noise
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] > 0).astype(int)
    xtr, ytr, xte, yte = x[:200], y[:200], x[200:], y[200:]
    grid = {"l2_grid": (1e-3,)}
    base = linear_probe(xtr, ytr, xte, yte, **grid)
    assert base["accuracy"] > 0.95
    # a test set shifted by a huge constant in the informative feature: with training statistics the
    # whole test set lands on the positive side (per-test-set statistics would undo the shift)
    shifted = xte + np.array([1e6, 0.0])
    result = linear_probe(xtr, ytr, shifted, yte, **grid)
    assert result["accuracy"] == pytest.approx(np.mean(yte == 1))
    assert np.array(result["confusion"])[:, 0].sum() == 0
    # a feature constant on the training set cannot matter, whatever its (huge) test values
    useless_tr = np.column_stack([xtr, np.full(200, 0.1)])
    useless_te = np.column_stack([xte, rng.normal(size=100) * 1e9])
    assert linear_probe(useless_tr, ytr, useless_te, yte, **grid)["confusion"] == base["confusion"]
    # rescaling and shifting a feature in both sets alike changes nothing
    affine = np.array([1e6, 1e-3]), np.array([-5e7, 3.0])
    moved = linear_probe(xtr * affine[0] + affine[1], ytr, xte * affine[0] + affine[1], yte, **grid)
    assert moved["confusion"] == base["confusion"]


def test_linear_probe_drops_unlabelled_rows(rng):
    x, y = _blobs(rng, 40, 2, 3, spread=4.0)
    order = rng.permutation(y.size)
    x, y = x[order], y[order]
    xtr, ytr, xte, yte = x[:50], y[:50], x[50:], y[50:]
    grid = {"l2_grid": (1e-2, 1.0)}
    base = linear_probe(xtr, ytr, xte, yte, **grid)
    # unlabelled rows with wild features, which would wreck the statistics and the fit if used
    junk = rng.normal(size=(7, 3)) * 1e5
    result = linear_probe(
        np.vstack([xtr, junk]), np.r_[ytr, [-1] * 7], np.vstack([junk[:3], xte]), np.r_[[-1] * 3, yte], **grid
    )
    assert result["n_dropped"] == 10 and result["n_train"] == 50 and result["n_test"] == 30
    for key in ("accuracy", "balanced_accuracy", "majority_baseline", "l2", "confusion", "cv_accuracy"):
        assert result[key] == base[key]


def test_linear_probe_counts_classes_missing_from_train(rng):
    x, y = _blobs(rng, 30, 3, 4, spread=6.0)
    train = y < 2
    result = linear_probe(x[train], y[train], x, y, l2_grid=(0.01,))
    assert result["n_classes"] == 3 and len(result["confusion"]) == 3
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["balanced_accuracy"] == pytest.approx(2 / 3)  # recall 1, 1, 0
    assert linear_probe(x[train], y[train], x, y, l2_grid=(0.01,), n_classes=5)["n_classes"] == 5


def test_linear_probe_rejects_bad_input(rng):
    x = rng.normal(size=(20, 3))
    y = np.tile([0, 1], 10)
    with pytest.raises(ConfigError, match=r"train_y has 1 class\(es\) among its 10 labelled rows"):
        linear_probe(x, np.where(y == 1, -1, 0), x, y)
    with pytest.raises(ConfigError, match=r"train_x has shape \(20, 3\) and test_x \(20, 2\)"):
        linear_probe(x, y, x[:, :2], y)
    with pytest.raises(ConfigError, match=r"train_y has shape \(19,\); it must be \(20,\)"):
        linear_probe(x, y[:19], x, y)
    with pytest.raises(ConfigError, match="labels go up to 2; with n_classes=2 they must be < 2"):
        linear_probe(x, y, x, np.where(y == 1, 2, 0), n_classes=2)
    with pytest.raises(ConfigError, match="n_classes=1 must be an integer >= 2"):
        linear_probe(x, y, x, y, n_classes=1)
    with pytest.raises(ConfigError, match="test_y holds non-integral values"):
        linear_probe(x, y, x, y + 0.5)
    with pytest.raises(ConfigError, match="test_y has no labelled rows"):
        linear_probe(x, y, x, np.full(20, -1))
    with pytest.raises(ConfigError, match="n_folds=1 must be an integer >= 2"):
        linear_probe(x, y, x, y, n_folds=1)
    for grid in [(), (0.1, -1.0), (0.1, float("nan")), ("big",)]:
        with pytest.raises(
            ConfigError, match=r"l2_grid=.* must be a non-empty sequence of finite numbers >= 0"
        ):
            linear_probe(x, y, x, y, l2_grid=grid)
    with pytest.raises(ConfigError, match="n_folds=30 exceeds the 20 labelled training rows"):
        linear_probe(x, y, x, y, n_folds=30)


def test_linear_probe_is_scikit_learns_logistic_regression(rng):
    """The fit is scikit-learn's: cross-entropy + l2/2 ||W||^2 is C = 1 / (l2 n), 2 / (l2 n) for K=2."""
    from sklearn.linear_model import LogisticRegression

    for n_classes in (2, 3):
        x, y = _blobs(rng, 40, n_classes, 4, spread=0.7)
        order = rng.permutation(y.size)
        x, y = x[order], y[order]
        h = y.size // 2
        l2 = 0.05
        mean, std = x[:h].mean(axis=0), x[:h].std(axis=0)
        scale = (2.0 if n_classes == 2 else 1.0) / (l2 * h)
        direct = LogisticRegression(C=scale, tol=1e-6, max_iter=500).fit((x[:h] - mean) / std, y[:h])
        want = direct.predict((x[h:] - mean) / std)
        got = linear_probe(x[:h], y[:h], x[h:], y[h:], l2_grid=(l2,))
        assert got["accuracy"] == pytest.approx(np.mean(want == y[h:]))


def test_spectral_profile_is_the_mean_over_frames(rng):
    from gaae_models.probes import spectral_profile

    x = rng.standard_normal((5, 1, 8, 6)).astype(np.float32)
    expected = np.array([[x[n, 0, f].astype(np.float64).sum() / 6 for f in range(8)] for n in range(5)])
    np.testing.assert_allclose(spectral_profile(x), expected, rtol=1e-12)
    np.testing.assert_allclose(spectral_profile(x[:, 0]), expected, rtol=1e-12)
    with pytest.raises(ConfigError, match=r"x has shape \(5, 8\)"):
        spectral_profile(x[:, 0, :, 0])
    bad = x[:, 0].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="non-finite"):
        spectral_profile(bad)
