"""Linear probes: how much of a label a frozen representation gives to a linear classifier.

:func:`linear_probe` is the test accuracy of an L2 multinomial logistic regression
(:class:`sklearn.linear_model.LogisticRegression`) on standardised features, its penalty chosen by
stratified cross-validation on the training set. ``gaae evaluate`` probes z, s, e and the CNN's
features for the label and for attributes training never used.
"""

from __future__ import annotations

import warnings

import numpy as np

from gaae_models.errors import ConfigError
from gaae_models.validation import finite_float, float_array, int_at_least, label_array

__all__ = ["linear_probe", "spectral_profile"]


def spectral_profile(x: np.ndarray) -> np.ndarray:
    """The time-averaged spectrogram of each item: a representation nothing learned, the baseline
    that a learned one should beat on what it claims to capture.

    Parameters
    ----------
    x : np.ndarray, shape (N, F, T) or (N, 1, F, T)
        Normalised spectrograms.

    Returns
    -------
    np.ndarray, shape (N, F), float64
        The mean over frames of each frequency bin.

    Raises
    ------
    ConfigError
        ``x`` is not numeric, finite and (N, F, T) or (N, 1, F, T).
    """
    a = np.asarray(x)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ConfigError(
            f"x has shape {a.shape} and dtype {a.dtype}; it must be numeric (N, F, T) or (N, 1, F, T)"
        )
    profile = a.mean(axis=-1, dtype=np.float64)  # no float64 copy of the spectrograms
    if not np.all(np.isfinite(profile)):  # a NaN or inf anywhere in a row reaches its mean
        raise ConfigError("x has non-finite values (NaN or inf); spectrograms must be finite")
    return profile


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and inverse std (D,) of x; features constant in x (to rounding) get scale 0."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    constant = std <= 1e-9 * np.abs(mean)
    constant |= std == 0.0
    return mean, np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std))


def _fit_predict(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, l2: float, max_iter: int
) -> np.ndarray:
    """Standardise with train statistics, fit an L2 logistic regression (scikit-learn), predict test labels.

    scikit-learn minimises ``mean cross-entropy + ||W||^2 / (2 C n)`` (bias not penalised), so
    ``C = 1 / (l2 n)``; its binary model has one weight vector ``w = w_1 - w_0`` where the
    multinomial one has two, whose penalty ``(||w_0||^2 + ||w_1||^2) l2 / 2`` is ``||w||^2 l2 / 4``
    at the optimum, so two classes take ``C = 2 / (l2 n)``: the same fit as a K-class softmax.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(train_y)
    if classes.size == 1:
        return np.full(test_x.shape[0], classes[0], dtype=np.int64)
    mean, scale = _standardiser(train_x)
    n = train_x.shape[0]
    c = np.inf if l2 == 0 else (2.0 if classes.size == 2 else 1.0) / (l2 * n)
    model = LogisticRegression(C=c, tol=1e-6, max_iter=max_iter)
    with warnings.catch_warnings():
        # an unconverged fit after max_iter L-BFGS steps is still the probe (as scipy's result was)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        model.fit((train_x - mean) * scale, train_y)
    return model.predict((test_x - mean) * scale).astype(np.int64)


def _stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (N,) in [0, n_folds): each class shuffled and dealt round-robin over the folds.

    (Kept rather than scikit-learn's StratifiedKFold so that the folds, hence the chosen ``l2`` and
    the reported accuracies, stay those of earlier reports.)
    """
    rng = np.random.default_rng(seed)
    fold = np.empty(y.shape[0], dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold[members] = (np.arange(members.size) + offset) % n_folds
        offset += members.size  # continue the deal, so small classes do not all start in fold 0
    return fold


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    n_classes: int | None = None,
    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0),
    n_folds: int = 3,
    seed: int = 0,
    max_iter: int = 500,
    num_threads: int = 1,
) -> dict:
    """Test accuracy of a multinomial logistic regression on frozen features (a linear probe).

    Features are standardised with the training set's mean and std only (features constant on the
    training set are set to 0, so they cannot influence the probe, whatever their test values).
    The objective is the mean cross-entropy plus ``l2 / 2 * ||W||_F^2`` (bias not penalised),
    minimised by scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` (L-BFGS, float64).
    ``l2`` is the value of ``l2_grid`` with the best mean accuracy over stratified ``n_folds``-fold
    cross-validation on the training set (ties go to the larger ``l2``); the probe is then refitted
    on the whole training set. The model only has outputs for classes present in ``train_y``.

    Parameters
    ----------
    train_x : np.ndarray, shape (N_train, D)
    train_y : np.ndarray, shape (N_train,)
        Integer labels in ``[0, n_classes)``; rows with a label < 0 (unknown) are dropped.
    test_x : np.ndarray, shape (N_test, D)
    test_y : np.ndarray, shape (N_test,)
        As ``train_y``; at least one labelled row must remain.
    n_classes : int >= 2 or None, keyword-only
        Number of classes K (size of the confusion matrix); None: ``1 + the largest label``.
    l2_grid : tuple of float >= 0, keyword-only
        Candidate penalties (a single value skips the cross-validation).
    n_folds : int >= 2, keyword-only
        Cross-validation folds, at most the number of labelled training rows.
    seed : int, keyword-only
        Seeds the fold assignment (the fits themselves are deterministic).
    max_iter : int >= 1, keyword-only
        L-BFGS iterations per fit.
    num_threads : int >= 1, keyword-only
        BLAS / OpenMP threads during the fits (threadpoolctl; restored on return).

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy`` (mean per-class recall over the classes present in the test
        set), ``majority_baseline`` (test accuracy of always predicting the most frequent training
        class, ties to the smaller label), ``l2`` (chosen), ``cv_accuracy`` (mean validation accuracy
        per ``l2_grid`` entry; NaN when not cross-validated), ``n_train``, ``n_test`` (labelled rows
        used), ``n_dropped`` (unlabelled rows dropped from both sets), ``n_classes`` and
        ``confusion`` (K x K list of int counts, row = true class, column = prediction).

    Raises
    ------
    ConfigError
        For bad shapes or options, labels >= n_classes, fewer than 2 classes in the labelled training
        rows, or no labelled test rows.
    """
    from threadpoolctl import threadpool_limits

    xtr = float_array("train_x", train_x, 2, "(N_train, D)")
    xte = float_array("test_x", test_x, 2, "(N_test, D)")
    if xtr.shape[1] != xte.shape[1] or xtr.shape[1] < 1:
        raise ConfigError(
            f"train_x has shape {xtr.shape} and test_x {xte.shape}; they must share a feature size D >= 1"
        )
    ytr = label_array("train_y", train_y, xtr.shape[0])
    yte = label_array("test_y", test_y, xte.shape[0])
    rule = "a non-empty sequence of finite numbers >= 0"
    try:
        grid = tuple(finite_float("l2_grid", v, rule) for v in l2_grid)
    except (ConfigError, TypeError):
        raise ConfigError(f"l2_grid={l2_grid!r} must be {rule}") from None
    if not grid or min(grid) < 0:
        raise ConfigError(f"l2_grid={l2_grid!r} must be {rule}")
    n_folds = int_at_least("n_folds", n_folds, minimum=2)
    max_iter = int_at_least("max_iter", max_iter)
    num_threads = int_at_least("num_threads", num_threads)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed={seed!r} must be an integer")

    keep_tr, keep_te = ytr >= 0, yte >= 0
    n_dropped = int((~keep_tr).sum() + (~keep_te).sum())
    xtr, ytr, xte, yte = xtr[keep_tr], ytr[keep_tr], xte[keep_te], yte[keep_te]
    largest = int(max(ytr.max(initial=-1), yte.max(initial=-1)))
    if n_classes is None:
        k = largest + 1
    else:
        k = int_at_least("n_classes", n_classes, minimum=2)
        if largest >= k:
            raise ConfigError(f"labels go up to {largest}; with n_classes={k} they must be < {k}")
    present = np.unique(ytr)
    if present.size < 2:
        raise ConfigError(
            f"train_y has {present.size} class(es) among its {ytr.size} labelled rows "
            f"({n_dropped} unlabelled rows dropped); a linear probe needs at least 2"
        )
    if yte.size == 0:
        raise ConfigError(f"test_y has no labelled rows (all {keep_te.size} are < 0); nothing to evaluate")
    if n_folds > ytr.size and len(grid) > 1:
        raise ConfigError(f"n_folds={n_folds} exceeds the {ytr.size} labelled training rows")

    cv_accuracy = [float("nan")] * len(grid)
    best = grid[0]
    with threadpool_limits(limits=num_threads):
        if len(grid) > 1:
            fold = _stratified_folds(ytr, n_folds, seed)
            for i, l2 in enumerate(grid):
                correct = 0.0
                for f in range(n_folds):
                    val = fold == f
                    pred = _fit_predict(xtr[~val], ytr[~val], xtr[val], l2, max_iter)
                    correct += float(np.mean(pred == ytr[val]))
                cv_accuracy[i] = correct / n_folds
            top = max(cv_accuracy)
            best = max(l2 for l2, acc in zip(grid, cv_accuracy, strict=True) if acc >= top - 1e-12)
        pred = _fit_predict(xtr, ytr, xte, best, max_iter)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (yte, pred), 1)
    recalls = [confusion[c, c] / confusion[c].sum() for c in np.unique(yte)]
    counts = np.bincount(ytr, minlength=k)
    majority = int(np.argmax(counts))
    return {
        "accuracy": float(np.mean(pred == yte)),
        "balanced_accuracy": float(np.mean(recalls)),
        "majority_baseline": float(np.mean(yte == majority)),
        "l2": best,
        "cv_accuracy": cv_accuracy,
        "n_train": int(ytr.size),
        "n_test": int(yte.size),
        "n_dropped": n_dropped,
        "n_classes": k,
        "confusion": confusion.tolist(),
    }
