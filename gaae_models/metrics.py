"""Evaluation metrics for learned representations and generated samples.

* :func:`inception_score` (Salimans et al. 2016) from a classifier's class posteriors;
* :func:`activation_statistics`, :func:`sqrtm_psd`, :func:`frechet_distance` and :func:`fid`
  (Heusel et al. 2017) from feature activations;
* :func:`tsne` (exact t-SNE, van der Maaten & Hinton 2008, by scikit-learn) and :func:`plot_embedding`
  for pictures of a latent space;
* :func:`linear_probe` (from :mod:`gaae_models.probes`): the test accuracy of a multinomial logistic
  regression (scikit-learn) on frozen features.

Everything takes numpy arrays (converted to float64) and returns plain Python floats, numpy float64
arrays or JSON-ready dicts. Bad input raises :class:`gaae_models.errors.ConfigError` with a message
naming the argument, its value or shape and the rule it breaks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from scipy.special import xlogy

from audiospec.atomic import atomic_path
from gaae_models.errors import ConfigError, GaaeError
from gaae_models.probes import linear_probe
from gaae_models.validation import finite_float, float_array, int_at_least, label_array

__all__ = [
    "inception_score",
    "activation_statistics",
    "sqrtm_psd",
    "frechet_distance",
    "fid",
    "tsne",
    "plot_embedding",
    "CONTINUOUS_MIN_VALUES",
    "linear_probe",
]

_EPS = float(np.finfo(np.float64).eps)
# relative tolerances for "symmetric" and "positive semi-definite" (rounding, float32 inputs)
_SYMMETRY_RTOL = 1e-6
_PSD_RTOL = 1e-6
# the Frechet distance is clipped at 0 only when it is negative by rounding, relative to its terms
_FRECHET_RTOL = 1e-6
_TSNE_MAX_POINTS = 10_000
#: scikit-learn's smallest ``max_iter`` (its early-exaggeration phase is 250 iterations).
_TSNE_MIN_ITER = 250


def _symmetric_psd(name: str, value, size: int | None = None) -> np.ndarray:
    """A square, symmetric (to rounding) float64 matrix, symmetrised exactly."""
    a = float_array(name, value, 2, "(D, D)")
    if a.shape[0] != a.shape[1] or (size is not None and a.shape[0] != size):
        want = "(D, D)" if size is None else f"({size}, {size})"
        raise ConfigError(f"{name} has shape {a.shape}; it must be square {want}")
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    asym = float(np.max(np.abs(a - a.T))) if a.size else 0.0
    if asym > _SYMMETRY_RTOL * scale:
        raise ConfigError(
            f"{name} is not symmetric: max |A - A.T| = {asym:.3g} exceeds {_SYMMETRY_RTOL:g} x max |A| "
            f"= {_SYMMETRY_RTOL * scale:.3g}"
        )
    return 0.5 * (a + a.T)


def _check_psd(name: str, eigenvalues: np.ndarray) -> None:
    """Reject clearly negative eigenvalues (below -1e-6 x the largest |eigenvalue|); ascending input."""
    top = float(np.max(np.abs(eigenvalues))) if eigenvalues.size else 0.0
    if eigenvalues.size and eigenvalues[0] < -_PSD_RTOL * top:
        raise ConfigError(
            f"{name} is not positive semi-definite: its smallest eigenvalue {eigenvalues[0]:.6g} is below "
            f"-{_PSD_RTOL:g} x its largest |eigenvalue| {top:.6g}"
        )


def _clipped_eigh(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric matrix; clearly negative eigenvalues raise, the rest are clipped."""
    w, v = np.linalg.eigh(a)
    _check_psd(name, w)
    return np.clip(w, 0.0, None), v


# --------------------------------------------------------------------------------------------------
# Inception score


def inception_score(probs: np.ndarray, *, n_splits: int = 10) -> tuple[float, float]:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))`` of a classifier's posteriors (Salimans et al. 2016).

    The rows are cut into ``n_splits`` contiguous, (near-)equal splits (boundaries ``i * N // n_splits``,
    as in the original implementation); on each split ``p(y)`` is the mean row and the score is the
    exponential of the mean KL divergence (nats), with ``0 log 0 = 0``. The score lies in ``[1, K]``:
    1 when every row is the same, K when the classifier is certain and its decisions uniform over K classes.

    Parameters
    ----------
    probs : np.ndarray, shape (N, K), K >= 2
        Class posteriors, one row per generated sample: non-negative, each row summing to 1 within
        1e-3 (rows are renormalised to sum exactly to 1, e.g. for float32 softmax outputs).
    n_splits : int >= 1, keyword-only
        Number of splits; ``N >= n_splits``. Use ``n_splits=1`` for the score of the whole set.

    Returns
    -------
    (mean, std) : tuple of float
        Mean and (population) standard deviation of the per-split scores.

    Raises
    ------
    ConfigError
        For a bad shape, negative or non-finite entries, rows not summing to 1, or a bad ``n_splits``.
    """
    p = float_array("probs", probs, 2, "(N, K) with K >= 2")
    n, k = p.shape
    if k < 2 or n < 1:
        raise ConfigError(f"probs has shape {p.shape}; it must be (N, K) with N >= 1 and K >= 2")
    n_splits = int_at_least("n_splits", n_splits)
    if n_splits > n:
        raise ConfigError(f"n_splits={n_splits} exceeds the number of rows N={n}; it must be <= N")
    if np.any(p < 0):
        raise ConfigError(f"probs has {int(np.count_nonzero(p < 0))} negative entries; it must be >= 0")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > 1e-3:
        raise ConfigError(f"probs row {worst} sums to {sums[worst]:.6g}; every row must sum to 1 within 1e-3")
    p = p / sums[:, None]
    scores = np.empty(n_splits)
    for i in range(n_splits):
        part = p[i * n // n_splits : (i + 1) * n // n_splits]
        marginal = part.mean(axis=0)
        kl = (xlogy(part, part) - xlogy(part, marginal[None, :])).sum(axis=1)
        scores[i] = np.exp(kl.mean())
    return float(scores.mean()), float(scores.std())


# --------------------------------------------------------------------------------------------------
# Frechet distance


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of feature activations, in float64.

    Parameters
    ----------
    features : np.ndarray, shape (N, D), N >= 2
        One feature vector per row.

    Returns
    -------
    mu : np.ndarray, shape (D,)
    sigma : np.ndarray, shape (D, D)
        Covariance with the ``N - 1`` denominator, exactly symmetric.
    """
    x = float_array("features", features, 2, "(N, D) with N >= 2 and D >= 1")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ConfigError(f"features has shape {x.shape}; it must be (N, D) with N >= 2 and D >= 1")
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (x.shape[0] - 1)
    return mu, 0.5 * (sigma + sigma.T)


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Principal square root of a symmetric positive semi-definite matrix.

    Computed from ``numpy.linalg.eigh`` as ``V diag(sqrt(max(w, 0))) V.T``: negative eigenvalues
    within rounding of 0 are clipped to 0, so the result is real, symmetric and PSD.

    Parameters
    ----------
    matrix : np.ndarray, shape (D, D)
        Symmetric to a relative 1e-6 (it is symmetrised) and PSD: no eigenvalue below
        -1e-6 x the largest |eigenvalue|.

    Returns
    -------
    np.ndarray, shape (D, D)
        ``S`` with ``S @ S == matrix`` up to rounding.
    """
    a = _symmetric_psd("matrix", matrix)
    return _sqrtm_checked("matrix", a)


def _sqrtm_checked(name: str, a: np.ndarray) -> np.ndarray:
    w, v = _clipped_eigh(name, a)
    root = (v * np.sqrt(w)) @ v.T
    return 0.5 * (root + root.T)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((sigma1 sigma2)^{1/2})`` as the sum of sqrt of the eigenvalues of ``S1^½ sigma2 S1^½`` (PSD).

    ``sigma1 sigma2`` is similar to the symmetric PSD ``S1^½ sigma2 S1^½``, so both have the same real,
    non-negative eigenvalues; ``eigvalsh`` of the symmetric form avoids the complex rounding residue of
    ``scipy.linalg.sqrtm`` on the non-symmetric product.
    """
    root1 = _sqrtm_checked("sigma1", sigma1)
    middle = root1 @ sigma2 @ root1
    w = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Frechet (2-Wasserstein) distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^{1/2})`` (Dowson & Landau 1982),
    with the trace term computed as the sum of the square roots of the (clipped) eigenvalues of the
    symmetric PSD matrix ``sqrtm_psd(sigma1) @ sigma2 @ sqrtm_psd(sigma1)``, never through a complex
    ``scipy.linalg.sqrtm``. A negative result within rounding (above ``-1e-6`` times the sum of the
    other terms) is returned as 0.

    Parameters
    ----------
    mu1, mu2 : np.ndarray, shape (D,)
        Means.
    sigma1, sigma2 : np.ndarray, shape (D, D)
        Symmetric PSD covariances (see :func:`sqrtm_psd` for the tolerances).

    Returns
    -------
    float
        The distance, in squared feature units.

    Raises
    ------
    ConfigError
        For mismatched shapes, non-finite values, or non-symmetric / non-PSD covariances.
    GaaeError
        If rounding made the result clearly negative (ill-conditioned covariances).
    """
    m1 = float_array("mu1", mu1, 1, "(D,)")
    m2 = float_array("mu2", mu2, 1, "(D,)")
    d = m1.shape[0]
    if d < 1 or m2.shape != m1.shape:
        raise ConfigError(f"mu1 has shape {m1.shape} and mu2 {m2.shape}; both must be the same (D,), D >= 1")
    s1 = _symmetric_psd("sigma1", sigma1, d)
    s2 = _symmetric_psd("sigma2", sigma2, d)
    _check_psd("sigma2", np.linalg.eigvalsh(s2))  # sigma1 is checked when its square root is taken
    return _frechet_distance(m1, s1, m2, s2)


def _frechet_distance(m1: np.ndarray, s1: np.ndarray, m2: np.ndarray, s2: np.ndarray) -> float:
    """:func:`frechet_distance` on validated float64 input (``s1``, ``s2`` exactly symmetric)."""
    diff = m1 - m2
    mean_term = float(diff @ diff)
    tr1, tr2 = float(np.trace(s1)), float(np.trace(s2))
    dist = mean_term + tr1 + tr2 - 2.0 * _trace_sqrt_product(s1, s2)
    if dist < 0.0:
        scale = mean_term + tr1 + tr2
        if dist < -_FRECHET_RTOL * scale:
            raise GaaeError(
                f"the Frechet distance came out as {dist:.6g}, below -{_FRECHET_RTOL:g} x its terms' sum "
                f"{scale:.6g}: the covariances are too ill-conditioned for float64"
            )
        dist = 0.0
    return dist


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Frechet Inception Distance).

    Parameters
    ----------
    features_a : np.ndarray, shape (N_a, D), N_a >= 2
    features_b : np.ndarray, shape (N_b, D), N_b >= 2
        Activations of the same feature extractor (e.g. real and generated samples). Estimates are
        biased for small N; compare FIDs only at equal sample sizes.

    Returns
    -------
    float
        :func:`frechet_distance` of their :func:`activation_statistics`.
    """
    a = float_array("features_a", features_a, 2, "(N_a, D)")
    b = float_array("features_b", features_b, 2, "(N_b, D)")
    if a.shape[1] != b.shape[1]:
        raise ConfigError(
            f"features_a has shape {a.shape} and features_b {b.shape}; their feature sizes D must match"
        )
    for name, x in (("features_a", a), ("features_b", b)):
        if x.shape[0] < 2 or x.shape[1] < 1:
            raise ConfigError(f"{name} has shape {x.shape}; it must be (N, D) with N >= 2 and D >= 1")
    mu_a, sigma_a = activation_statistics(a)
    mu_b, sigma_b = activation_statistics(b)
    # covariances of finite data are PSD by construction: skip frechet_distance's extra eigvalsh check
    return _frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


# --------------------------------------------------------------------------------------------------
# t-SNE


def tsne(
    x: np.ndarray,
    *,
    n_components: int = 2,
    perplexity: float = 30.0,
    n_iter: int = 1000,
    learning_rate: float | str = "auto",
    early_exaggeration: float = 12.0,
    seed: int = 0,
    init: str = "pca",
    num_threads: int = 1,
) -> np.ndarray:
    """Exact t-SNE embedding (van der Maaten & Hinton 2008) of up to a few thousand points.

    :class:`sklearn.manifold.TSNE` with ``method="exact"``: each point's Gaussian bandwidth is
    found by bisection so that its conditional distribution over the others (on squared Euclidean
    distances) has the given perplexity; ``P`` is symmetrised, and the embedding minimises
    ``KL(P || Q)`` with a Student-t ``Q`` by gradient descent with momentum and adaptive gains, ``P``
    multiplied by ``early_exaggeration`` during scikit-learn's first 250 iterations (its
    exploration phase, momentum 0.5; then 0.8). Every step is O(N^2) time and memory.

    Parameters
    ----------
    x : np.ndarray, shape (N, D)
        Points, N <= 10000 (subsample larger sets), not all identical.
    n_components : int >= 1, keyword-only
        Embedding dimension (2 for pictures).
    perplexity : float, keyword-only
        Effective number of neighbours, ``1 < perplexity < N - 1`` (5 to 50 is usual).
    n_iter : int >= 250, keyword-only
        Maximum number of gradient steps, the 250 exaggerated ones included (scikit-learn's
        ``max_iter``; it stops earlier once the gradient vanishes or the KL stops improving).
    learning_rate : float > 0 or "auto", keyword-only
        "auto" is ``max(N / early_exaggeration / 4, 50)`` (Belkina et al. 2019).
    early_exaggeration : float >= 1, keyword-only
    seed : int, keyword-only
        ``random_state`` of scikit-learn (the "random" initialisation and the PCA solver).
    init : {"pca", "random"}, keyword-only
        "pca": the first principal-component scores scaled so that the first column has std 1e-4
        (needs ``D >= n_components``); "random": ``N(0, 1e-4^2)`` draws.
    num_threads : int >= 1, keyword-only
        BLAS / OpenMP threads during the call (threadpoolctl; restored on return). One is fastest up
        to a few thousand points and immune to busy cores.

    Returns
    -------
    np.ndarray, shape (N, n_components)
        The embedding (float64). Identical inputs and options give identical outputs.

    Raises
    ------
    ConfigError
        A bad shape or option (the message names it and the rule).
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    a = float_array("x", x, 2, "(N, D)")
    n, dim = a.shape
    if n > _TSNE_MAX_POINTS:
        raise ConfigError(
            f"x has {n} rows; exact t-SNE needs N <= {_TSNE_MAX_POINTS} (O(N^2) memory and time): "
            "subsample the points first"
        )
    if n < 3 or dim < 1:
        raise ConfigError(f"x has shape {a.shape}; it must be (N, D) with N >= 3 and D >= 1")
    n_components = int_at_least("n_components", n_components)
    n_iter = int_at_least("n_iter", n_iter, minimum=_TSNE_MIN_ITER)
    num_threads = int_at_least("num_threads", num_threads)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed={seed!r} must be an integer")
    perplexity = finite_float("perplexity", perplexity, f"a number with 1 < perplexity < N - 1 = {n - 1}")
    if not 1.0 < perplexity < n - 1:
        raise ConfigError(
            f"perplexity={perplexity!r} must satisfy 1 < perplexity < N - 1 = {n - 1} (N = {n} points); "
            "lower it or embed more points"
        )
    early_exaggeration = finite_float("early_exaggeration", early_exaggeration, "a finite number >= 1")
    if early_exaggeration < 1.0:
        raise ConfigError(f"early_exaggeration={early_exaggeration!r} must be a finite number >= 1")
    lr: float | str = "auto"
    if isinstance(learning_rate, str):
        if learning_rate != "auto":
            raise ConfigError(f"learning_rate={learning_rate!r} must be 'auto' or a positive number")
    else:
        lr = finite_float("learning_rate", learning_rate, "'auto' or a positive number")
        if lr <= 0:
            raise ConfigError(f"learning_rate={learning_rate!r} must be 'auto' or a positive number")
    if init not in ("pca", "random"):
        raise ConfigError(f"init={init!r} must be 'pca' or 'random'")
    if init == "pca" and n_components > dim:
        raise ConfigError(
            f"n_components={n_components} exceeds x's feature size D={dim}; PCA initialisation needs "
            "n_components <= D (use init='random')"
        )
    if float(np.ptp(a, axis=0).max()) == 0.0:
        raise ConfigError(f"x (shape {a.shape}) has all rows identical; t-SNE needs distinct points")
    model = TSNE(
        n_components=n_components,
        perplexity=perplexity,
        early_exaggeration=early_exaggeration,
        learning_rate=lr,
        max_iter=n_iter,
        init=init,
        method="exact",
        random_state=int(seed),
    )
    with threadpool_limits(limits=num_threads):
        return np.asarray(model.fit_transform(a), dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# pictures


#: Above this many distinct numeric values, :func:`plot_embedding` uses a continuous colour map.
CONTINUOUS_MIN_VALUES: int = 10


def _numeric_names(names: Sequence[str]) -> list[float] | None:
    """The names as numbers when every one is a finite number, else None."""
    try:
        values = [float(n) for n in names]
    except ValueError:
        return None
    return values if values and all(math.isfinite(v) for v in values) else None


def plot_embedding(
    embedding: np.ndarray,
    labels: np.ndarray,
    *,
    label_names: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
    marker_size: float = 12.0,
    continuous: bool | None = None,
    colour_label: str = "",
) -> str:
    """Write a scatter plot of a 2-D embedding, coloured by class, as a PNG.

    Classes whose names are all numbers ("25", "100", "127": velocities, pitches) are listed in
    numeric order; with more than :data:`CONTINUOUS_MIN_VALUES` of them present (pitch, say) the
    points are coloured on a continuous colour map with a colour bar instead of a legend.

    Drawn with matplotlib's Agg renderer on a standalone ``Figure`` (no pyplot state). Points with
    label -1 are drawn first, in grey, as "unknown"; a legend names the classes present. The file is
    written to a temporary name in the same folder and moved into place with ``os.replace``, so a
    reader never sees a partial PNG.

    Parameters
    ----------
    embedding : np.ndarray, shape (N, 2)
        E.g. the output of :func:`tsne`.
    labels : np.ndarray, shape (N,)
        Integer labels in ``[-1, len(label_names))``; -1 means unknown.
    label_names : sequence of str, keyword-only
        Name of class k at index k.
    path : str or os.PathLike, keyword-only
        Output file, ending in ``.png``; its folder must exist. Overwritten if present.
    title : str, keyword-only
    marker_size : float > 0, keyword-only
        Marker area in points^2 (matplotlib's ``s``).
    continuous : bool, optional, keyword-only
        Colour by the numeric value of the names on a continuous map [default: when every name is
        a number and more than ``CONTINUOUS_MIN_VALUES`` values are present].
    colour_label : str, keyword-only
        Label of the colour bar.

    Returns
    -------
    str
        ``path``.
    """
    e = float_array("embedding", embedding, 2, "(N, 2)")
    if e.shape[1] != 2 or e.shape[0] < 1:
        raise ConfigError(f"embedding has shape {e.shape}; it must be (N, 2) with N >= 1")
    y = label_array("labels", labels, e.shape[0])
    names = [str(name) for name in label_names]
    if y.size and (y.min() < -1 or y.max() >= len(names)):
        raise ConfigError(
            f"labels range over [{y.min()}, {y.max()}]; they must lie in [-1, {len(names)}) "
            f"for {len(names)} label_names (-1 = unknown)"
        )
    if finite_float("marker_size", marker_size, "a positive number") <= 0:
        raise ConfigError(f"marker_size={marker_size!r} must be a positive number")
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ConfigError(f"path={path!r} must end in .png")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"path={path!r}: its folder {folder!r} does not exist")

    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    numbers = _numeric_names(names)
    order = sorted(range(len(names)), key=lambda k: numbers[k]) if numbers is not None else range(len(names))
    present = [k for k in order if np.any(y == k)]
    if continuous is None:
        continuous = numbers is not None and len(present) > CONTINUOUS_MIN_VALUES
    if continuous and numbers is None:
        raise ConfigError(f"continuous=True needs numeric label_names; got {names[:5]}...")
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20" if len(names) <= 20 else "turbo"]
    fig = Figure(figsize=(7.0, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    unknown = y == -1
    if np.any(unknown):
        ax.scatter(*e[unknown].T, s=marker_size, c="0.7", label="unknown", linewidths=0)
    if continuous:
        known = ~unknown
        value = np.asarray([numbers[k] for k in y[known]], dtype=np.float64)  # type: ignore[index]
        points = ax.scatter(*e[known].T, s=marker_size, c=value, cmap="viridis", linewidths=0)
        fig.colorbar(points, ax=ax, label=colour_label or "value")
        present = []  # the colour bar replaces the legend
    for rank, k in enumerate(present):
        colour = cmap(rank / max(len(present) - 1, 1)) if len(names) > 20 else cmap(rank % cmap.N)
        ax.scatter(*e[y == k].T, s=marker_size, color=colour, label=names[k], linewidths=0)
    if title:
        ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if present or np.any(unknown):
        n_entries = len(present) + int(np.any(unknown))
        ax.legend(
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
            fontsize=8,
            markerscale=max(1.0, 24.0 / marker_size) ** 0.5,
            ncols=1 if n_entries <= 25 else 2,
            frameon=False,
        )
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
