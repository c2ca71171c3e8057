"""The training losses as pure functions of network outputs, and the weights of the GAAE objective.

Every function here takes scores, logits or samples that the networks already computed and returns a
tensor or a flat dict of named losses, keyed as the run log writes them (``loss/d_x``, ``loss/gen``,
...). The GAAE's E/G/C objective is the weighted sum of the named losses with the weights of
:func:`gaae_loss_weights`, one dict whose keys are those log keys (the DAC recipe: config weights
and log keys share names):

``L = psi [alpha L_gen + (1 - alpha) lambda_rec L_rec] + omega [g1 L_cls_lab + g2 L_cls_gen + g3 L_lat]``

Each function must be called inside the trainer's autocast context, as the step computed it before
the losses had their own module, so that a bf16 run reduces in the same precision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from gaae_models.train_config import TrainConfig

if TYPE_CHECKING:
    from gaae_models.batches import TrainingData

__all__ = [
    "GAAE_LOSS_KEYS",
    "one_hot",
    "hinge_d",
    "hinge_g",
    "joint_loss",
    "labelled_weight",
    "gaae_loss_weights",
    "gaae_d_losses",
    "gaae_g_losses",
    "weighted_terms",
]

#: The named losses of the GAAE's E/G/C objective, in the order they are summed.
GAAE_LOSS_KEYS: tuple[str, ...] = ("loss/gen", "loss/rec", "loss/cls_lab", "loss/cls_gen", "loss/lat")


def one_hot(labels: torch.Tensor, k: int) -> torch.Tensor:
    """Float one-hot codes of integer ``labels``: shape ``(*labels.shape, k)``."""
    return F.one_hot(labels, k).float()


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: ``mean relu(1 - real) + mean relu(1 + fake)``.

    Parameters
    ----------
    real, fake : torch.Tensor
        Discriminator scores of real and fake samples (any shape).

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: ``-mean fake`` for the discriminator scores of generated samples."""
    return -fake.mean()


def joint_loss(real_joint: torch.Tensor, fake_joint: torch.Tensor) -> torch.Tensor:
    """The BiGAN's G/E objective on the joint scores: ``mean D(x, E(x)) - mean D(G(e), e)``.

    Parameters
    ----------
    real_joint : torch.Tensor
        Joint discriminator scores of real pairs (x, E(x)).
    fake_joint : torch.Tensor
        Joint discriminator scores of fake pairs (G(e), e) with e ~ N(0, I).
    """
    return real_joint.mean() - fake_joint.mean()


def labelled_weight(train: TrainConfig, data: TrainingData) -> float:
    """Weight of one guidance pair relative to one unlabelled pair in D_x's real term.

    With ``train.dx_labelled_weight=None`` the guidance items count by their share of the data: a
    guidance item is drawn ``B_l / n_l`` times per step as "real" beside ``B / n_u`` draws as
    unlabelled, and weighting its guidance draws by ``(B / n_u) / (B_l / n_l)`` leaves every item
    equally "real". A number given in the config is used as it is.

    Parameters
    ----------
    train : TrainConfig
    data : TrainingData
        The run's pools (``labelled``, ``unlabelled`` index arrays).

    Returns
    -------
    float
        0 when the labelled pool is empty.
    """
    if train.dx_labelled_weight is not None:
        return float(train.dx_labelled_weight)
    n_l, n_u = data.labelled.size, data.unlabelled.size
    if n_l == 0:
        return 0.0
    return (train.batch_size / n_u) / (train.labelled_batch / n_l)


def gaae_loss_weights(train: TrainConfig) -> dict[str, float]:
    """The factor of each named loss in the GAAE's E/G/C objective, keyed as the log's ``loss/*``.

    Parameters
    ----------
    train : TrainConfig
        Reads ``psi``, ``alpha``, ``lambda_rec``, ``omega`` and ``g1``, ``g2``, ``g3``.

    Returns
    -------
    dict of str to float
        Keys :data:`GAAE_LOSS_KEYS`.

    Examples
    --------
    >>> w = gaae_loss_weights(TrainConfig())
    >>> list(w) == list(GAAE_LOSS_KEYS), w["loss/gen"] == 0.5 * 0.6
    (True, True)
    """
    t = train
    return {
        "loss/gen": t.psi * t.alpha,
        "loss/rec": t.psi * (1 - t.alpha) * t.lambda_rec,
        "loss/cls_lab": t.omega * t.g1,
        "loss/cls_gen": t.omega * t.g2,
        "loss/lat": t.omega * t.g3,
    } | ({"loss/cls_pseudo": t.omega * t.g4} if t.g4 > 0 else {})


def gaae_d_losses(
    *,
    real: torch.Tensor,
    fake_rec: torch.Tensor,
    fake_gen: torch.Tensor,
    latent_real: torch.Tensor,
    latent_fake: torch.Tensor,
    n_unlabelled: int,
    labelled_weight: float,
) -> dict[str, torch.Tensor]:
    """The losses of the GAAE's D step: D_x's and D_latent's hinge losses.

    D_x's real term weighs its first ``n_unlabelled`` scores (the pairs (x, y_hat)) by 1 and the
    rest (the guidance pairs (x_l, y_l)) by ``labelled_weight``; its fake term averages the two fake
    batches.

    Parameters
    ----------
    real : torch.Tensor, shape (B + B_l, 1)
        D_x's scores of the unlabelled pairs, then of the guidance pairs.
    fake_rec, fake_gen : torch.Tensor
        D_x's scores of (x_rec, y_hat) and (x_gen, y_r).
    latent_real, latent_fake : torch.Tensor
        D_latent's scores of prior samples and of E_s(x).
    n_unlabelled : int
        B, the number of unlabelled pairs at the head of ``real``.
    labelled_weight : float
        From :func:`labelled_weight`.

    Returns
    -------
    dict of str to torch.Tensor
        ``loss/d_x`` and ``loss/d_latent`` (scalars).
    """
    n_u, w = n_unlabelled, labelled_weight
    hinge_real = F.relu(1.0 - real)
    real_term = (hinge_real[:n_u].sum() + w * hinge_real[n_u:].sum()) / (n_u + w * (len(real) - n_u))
    loss_x = real_term + 0.5 * (F.relu(1.0 + fake_rec).mean() + F.relu(1.0 + fake_gen).mean())
    return {"loss/d_x": loss_x, "loss/d_latent": hinge_d(latent_real, latent_fake)}


def gaae_g_losses(
    *,
    x: torch.Tensor,
    x_rec: torch.Tensor,
    score_rec: torch.Tensor,
    score_gen: torch.Tensor,
    logits_labelled: torch.Tensor,
    y_labelled: torch.Tensor,
    logits_gen: torch.Tensor,
    y_gen: torch.Tensor,
    latent_score: torch.Tensor,
    logits_unlabelled: torch.Tensor | None = None,
    teacher_probs: torch.Tensor | None = None,
    threshold: float = 0.95,
) -> dict[str, torch.Tensor]:
    """The named losses of the GAAE's E/G/C step (unweighted).

    Parameters
    ----------
    x, x_rec : torch.Tensor, shape (B, 1, F, T)
        The unlabelled batch and its reconstruction G(E_s(x), y_hat).
    score_rec, score_gen : torch.Tensor
        D_x's scores of (x_rec, y_hat) and (x_gen, y_r).
    logits_labelled, y_labelled : torch.Tensor
        C(E_z(x_l)) and the guidance labels.
    logits_gen, y_gen : torch.Tensor
        C(E_z(x_gen)) (x_gen detached) and the labels x_gen was generated for.
    latent_score : torch.Tensor
        D_latent's scores of E_s(x).
    logits_unlabelled, teacher_probs : torch.Tensor, shape (B, K), optional
        C(E_z(x)) of the unlabelled batch and the teacher's class probabilities of the same items;
        given together, they add ``loss/cls_pseudo``.
    threshold : float
        The teacher's confidence from which an item counts in ``loss/cls_pseudo``.

    Returns
    -------
    dict of str to torch.Tensor
        Keys :data:`GAAE_LOSS_KEYS`: ``loss/gen`` (generator hinge averaged over x_rec and x_gen),
        ``loss/rec`` (MSE), ``loss/cls_lab`` and ``loss/cls_gen`` (cross-entropies, in float32),
        ``loss/lat`` (``-mean D_latent(s)``); with the teacher, ``loss/cls_pseudo``: the
        cross-entropy against the teacher's top class, summed over the items whose top probability is
        at least ``threshold`` and divided by the batch size B (FixMatch's normalisation: 0 when none is).
    """
    losses = {
        "loss/gen": 0.5 * (-score_rec.mean() - score_gen.mean()),
        "loss/rec": F.mse_loss(x_rec.float(), x.float()),
        "loss/cls_lab": F.cross_entropy(logits_labelled.float(), y_labelled),
        "loss/cls_gen": F.cross_entropy(logits_gen.float(), y_gen),
        "loss/lat": hinge_g(latent_score),
    }
    if logits_unlabelled is not None and teacher_probs is not None:
        confidence, target = teacher_probs.float().max(dim=1)
        mask = (confidence >= threshold).float()
        ce = F.cross_entropy(logits_unlabelled.float(), target, reduction="none")
        losses["loss/cls_pseudo"] = (ce * mask).mean()
    return losses


def weighted_terms(
    losses: dict[str, torch.Tensor],
    weights: dict[str, float],
    *,
    gates: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """The terms of an objective, ``weights[key] * losses[key]`` (times ``gates[key]`` when given).

    Parameters
    ----------
    losses : dict of str to torch.Tensor
        Named losses (keys ``loss/<name>``).
    weights : dict of str to float
        One weight per term, same keys; terms without a weight are left out.
    gates : dict of str to float, optional
        Factors 0 or 1 that switch a term off (``loss/cls_gen`` until C reads G's samples).

    Returns
    -------
    dict of str to torch.Tensor
        Keyed by the term's name, the log key without its ``loss/`` namespace (``gen``, ``rec``,
        ...), the names of the gradient shares ``grad/<name>``; the objective is their sum.
    """
    gates = gates or {}
    terms = {}
    for key, weight in weights.items():
        term = weight * losses[key]
        if key in gates:
            term = term * gates[key]
        terms[key.removeprefix("loss/")] = term
    return terms
