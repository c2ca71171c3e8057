"""Training health of a GAAE: is the style latent matched, does sampling saturate, does C read G?

A GAAE whose losses go down can still fail in ways that no loss shows: E_s(x) shrinks to a point
that D_latent separates from N(0, I), G then saturates on prior samples it never saw, C cannot
classify what G generates, or the classification terms never reach the encoder. These functions
measure each of those on a fixed held batch, with no gradient and no change to any network's
state, so that a run's ``log.jsonl`` (keys ``health/*``) says why it fails.

* :func:`latent_moments`: per-dimension mean and standard deviation of E_s(x) against N(0, I).
* :func:`two_sample_accuracy`: a classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017) with
  regularised QDA, cross-validated: 0.5 when two samples are indistinguishable.
* :func:`effective_rank`: how many dimensions a code really uses.
* :func:`saturation`: the fraction of pixels at the tanh rails.
* :func:`gradient_shares`: each loss term's share of the gradient norm on a set of parameters.
* :func:`gaae_health`: all of them for a GAAE's networks on a held batch.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gaae_models.errors import ConfigError

__all__ = [
    "SATURATION_THRESHOLD",
    "latent_moments",
    "two_sample_accuracy",
    "effective_rank",
    "saturation",
    "gradient_shares",
    "gaae_health",
    "format_health",
]

#: |x| at or above this counts as saturated (tanh output at the rails).
SATURATION_THRESHOLD: float = 0.99


def latent_moments(s: torch.Tensor) -> dict[str, float]:
    """Per-dimension moments of latent codes, summarised over dimensions.

    Parameters
    ----------
    s : torch.Tensor, shape (N, D)
        Codes of N items (N >= 2).

    Returns
    -------
    dict
        ``mean_abs`` (mean over dimensions of |mean|; 0 for N(0, I)), ``std_mean``, ``std_min``,
        ``std_max`` (of the per-dimension standard deviations; 1 for N(0, I)).
    """
    s = s.double()
    std = s.std(dim=0)
    return {
        "mean_abs": float(s.mean(dim=0).abs().mean()),
        "std_mean": float(std.mean()),
        "std_min": float(std.min()),
        "std_max": float(std.max()),
    }


def two_sample_accuracy(a: torch.Tensor, b: torch.Tensor, *, folds: int = 4, seed: int = 0) -> float:
    """Cross-validated accuracy of a classifier telling sample ``a`` from sample ``b``.

    A classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017) with regularised quadratic
    discriminant analysis (scikit-learn, covariances shrunk halfway to the identity): each class is
    modelled as a Gaussian, so the test sees differences of mean and covariance, the ways a style
    code fails N(0, I) (collapse, low rank, correlated dimensions). About 0.5 when the samples are
    indistinguishable; near 1 for a rank-16 code against N(0, I) in 128 dimensions. (k nearest
    neighbours is not used: in 128 dimensions every point's neighbours are the concentrated
    sample's, which scores a complete mismatch as 0.5.) Equal sample sizes make 0.5 the chance
    level.

    Parameters
    ----------
    a, b : torch.Tensor, shape (N, D) and (M, D)
    folds : int
        Stratified cross-validation folds (shuffled with ``seed``).

    Returns
    -------
    float in [0, 1]
        1.0 when a fold's covariance is degenerate (a collapsed code).
    """
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be (N, D) and (M, D) (got {tuple(a.shape)}, {tuple(b.shape)})")
    x = torch.cat([a, b]).double().cpu().numpy()
    label = np.r_[np.zeros(len(a)), np.ones(len(b))]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    # shrink each class covariance halfway to a scaled identity (N < D items per fold)
    if "solver" in inspect.signature(QuadraticDiscriminantAnalysis).parameters:  # scikit-learn >= 1.8
        qda = QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=0.5)
    else:
        qda = QuadraticDiscriminantAnalysis(reg_param=0.5)
    try:
        return float(cross_val_score(qda, x, label, cv=cv, error_score="raise").mean())
    except np.linalg.LinAlgError:
        # a sample whose covariance is (numerically) zero even after shrinkage: a collapsed code,
        # which any classifier tells from a non-degenerate one
        return 1.0


def effective_rank(s: torch.Tensor) -> float:
    """Effective rank of the covariance of codes ``s`` (N, D): ``exp`` of the entropy of its
    normalised eigenvalues (Roy & Vetterli, 2007). D for white codes and infinitely many items;
    a sample of N(0, I) of N = D items gives about 0.55 D; a collapsed code gives a few."""
    eig = torch.linalg.eigvalsh(torch.cov(s.double().T)).clamp_min(0)
    p = eig / eig.sum().clamp_min(1e-300)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def saturation(x: torch.Tensor, *, threshold: float = SATURATION_THRESHOLD, rail: str = "both") -> float:
    """Fraction of values at the tanh rails of spectrograms in [-1, 1].

    Parameters
    ----------
    x : torch.Tensor
        Normalised spectrograms, any shape.
    threshold : float
        A value is saturated when ``|x| >= threshold``.
    rail : {"both", "high", "low"}
        Which rails count: ``"high"`` (``x >= threshold``: louder than the training data's upper
        clip, which real spectrograms seldom reach and a broken sampling path fills), ``"low"``
        (``x <= -threshold``: the floor, where silence lies in real audio too) or both.

    Raises
    ------
    ConfigError
        ``rail`` is not one of the three.
    """
    if rail == "both":
        hit = x.abs() >= threshold
    elif rail == "high":
        hit = x >= threshold
    elif rail == "low":
        hit = x <= -threshold
    else:
        raise ConfigError(f"rail={rail!r} is not a rail; choose 'both', 'high' or 'low'")
    return float(hit.double().mean())


def gradient_shares(terms: dict[str, torch.Tensor], params: Sequence[torch.nn.Parameter]) -> dict[str, float]:
    """Each loss term's share of the summed gradient norms on ``params``.

    ``share_i = ||d term_i / d params|| / sum_j ||d term_j / d params||``, with the terms as they
    enter the objective (weights included). The graph is kept (``retain_graph``), so the caller
    can still back-propagate the total.

    Parameters
    ----------
    terms : dict of str to scalar torch.Tensor
    params : sequence of Parameter

    Returns
    -------
    dict of str to float
        Shares summing to 1 (all 0 when no term reaches ``params``).
    """
    params = [p for p in params if p.requires_grad]
    norms = {}
    for name, term in terms.items():
        if not term.requires_grad:
            norms[name] = 0.0
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        norms[name] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None) + 0.0))
    total = sum(norms.values())
    return {name: (value / total if total > 0 else 0.0) for name, value in norms.items()}


@torch.no_grad()
def gaae_health(
    *,
    encoder: torch.nn.Module,
    decoder: torch.nn.Module,
    classifier: torch.nn.Module,
    x: torch.Tensor,
    n_classes: int,
    seed: int,
    autocast: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Health of a GAAE on a held batch of real spectrograms, with the networks in eval mode.

    Parameters
    ----------
    encoder, decoder, classifier : torch.nn.Module
        E (``forward(x) -> (z, s)``), G (``forward(s, y)``, the sampling one, e.g. its EMA) and C.
        Their train/eval mode is restored afterwards.
    x : torch.Tensor, shape (N, 1, F, T)
        Held real spectrograms (N >= 4), on the networks' device.
    n_classes : int
    seed : int
        Seeds the prior draws and labels (deterministic for a given step).
    autocast : callable, optional
        A context-manager factory (mixed precision), e.g. ``lambda: torch.autocast(...)``.

    Returns
    -------
    dict of str to float
        ``s_mean_abs``, ``s_std_mean``, ``s_std_min``, ``s_std_max`` (E_s(x) against N(0, I));
        ``s_two_sample_acc`` (QDA test E_s(x) vs N(0, I), 0.5 = matched); ``s_eff_rank`` and
        ``prior_eff_rank`` (effective ranks of E_s(x) and of as many prior draws); ``sat_prior`` (saturated
        fraction of G(s ~ N(0, I), y)) and ``sat_prior_high`` (its part at the upper rail: real
        spectrograms hold silence at the floor, not at the top), ``sat_encoded`` (of
        G(E_s(x), C(E_z(x)))) and ``sat_real``;
        ``c_acc_gen`` (C(E_z(G(s, y))) against y, chance 1/K); ``rec_ratio`` (MSE of the
        reconstruction divided by the MSE of the batch's mean image: 1 = no better than the mean).
    """
    modules = (encoder, decoder, classifier)
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    context = autocast or contextlib.nullcontext
    try:
        n = x.shape[0]
        gen = torch.Generator().manual_seed(int(seed))
        prior = torch.randn(n, decoder.config.s_dim, generator=gen).to(x.device)
        labels = (torch.arange(n) % n_classes).to(x.device)
        y = F.one_hot(labels, n_classes).float()
        with context():
            z, s = encoder(x)
            y_hat = F.one_hot(classifier(z).argmax(dim=1), n_classes).float()
            x_rec = decoder(s, y_hat).float()
            x_gen = decoder(prior, y).float()
            z_gen, _ = encoder(x_gen)
            c_gen = classifier(z_gen).argmax(dim=1)
        s = s.float()
        moments = latent_moments(s)
        xf = x.float()
        baseline = F.mse_loss(xf, xf.mean(dim=0, keepdim=True).expand_as(xf))
        return {
            "s_mean_abs": moments["mean_abs"],
            "s_std_mean": moments["std_mean"],
            "s_std_min": moments["std_min"],
            "s_std_max": moments["std_max"],
            "s_two_sample_acc": two_sample_accuracy(s.cpu(), prior.float().cpu()),
            "s_eff_rank": effective_rank(s),
            "prior_eff_rank": effective_rank(prior.float()),
            "sat_prior": saturation(x_gen),
            "sat_prior_high": saturation(x_gen, rail="high"),
            "sat_encoded": saturation(x_rec),
            "sat_real": saturation(xf),
            "c_acc_gen": float((c_gen == labels).double().mean()),
            "rec_ratio": float(F.mse_loss(x_rec, xf) / baseline.clamp_min(1e-12)),
        }
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


def _rails(h: dict[str, float]) -> str:
    """`` (top x %, real y %)`` where the health holds them (older logs have no ``sat_prior_high``)."""
    rails = (("top", "sat_prior_high"), ("real", "sat_real"))
    parts = [f"{name} {100 * h[key]:.1f} %" for name, key in rails if key in h]
    return f" ({', '.join(parts)})" if parts else ""


def format_health(health: dict[str, float]) -> str:
    """One line of the main health numbers (see :func:`gaae_models.health.gaae_health`)."""
    h = {k.split("/", 1)[-1]: v for k, v in health.items()}
    return (
        f"E_s std {h['s_std_mean']:.2f} (prior 1), 2-sample acc {h['s_two_sample_acc']:.2f} (matched 0.5), "
        f"eff. rank {h['s_eff_rank']:.0f} (prior {h['prior_eff_rank']:.0f}), "
        f"G(prior) saturated {100 * h['sat_prior']:.1f} %{_rails(h)}, C on G(prior) {h['c_acc_gen']:.2f}, "
        f"rec/mean-image {h['rec_ratio']:.2f}"
    )
