"""The GAAE and its trainer (Algorithm 1 as the project reads it).

One GAAE iteration (model.md section 4; BigGAN-PyTorch step order):

1. **D step.** With (z, s) = E(x), y_hat = one-hot argmax C(z), x_rec = G(s, y_hat), y_r uniform over
   the K classes and x_gen = G(s, y_r), all without gradient: D_x learns with the hinge loss on the real
   pairs (x, y_hat) and (x_l, y_l) (one batch) against the fakes (x_rec, y_hat) and (x_gen, y_r)
   (averaged); D_latent on samples of N(0, I) against s.
2. **E/G/C step.** The same quantities with gradient, and
   ``L = psi [alpha L_gen + (1 - alpha) lambda_rec L_rec] + omega [g1 L_cls_lab + g2 L_cls_gen + g3 L_lat]``
   (``L_gen`` hinge generator loss averaged over x_rec and x_gen, ``L_rec`` MSE(x_rec, x),
   ``L_cls_lab`` CE(C(E_z(x_l)), y_l), ``L_cls_gen`` CE(C(E_z(x_gen.detach())), y_r),
   ``L_lat`` = -mean D_latent(s)); the losses are the pure functions of
   :mod:`gaae_models.training.losses`, the weights :func:`~gaae_models.training.losses.gaae_loss_weights`.
3. Optional EMAs: of G (``ema_decay``), and of E and C (``ema_encoder_decay``, the copies that
   predict, evaluate and are published).

Every random draw of step t comes from generators seeded by (seed, t, stream, rank), so runs are
deterministic on CPU and ``--resume`` continues exactly.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from gaae_models.batches import STREAM_HEALTH, Batch, TrainingData, batch_maker, to_device
from gaae_models.config import ModelConfig
from gaae_models.distributed import DistInfo, average_gradients
from gaae_models.errors import ConfigError
from gaae_models.health import gaae_health, gradient_shares
from gaae_models.models import Classifier, Decoder, Encoder, LatentDiscriminator, SampleDiscriminator
from gaae_models.models.layers import Whitening, scale_grad
from gaae_models.train_config import TrainConfig
from gaae_models.training.common import autocast, average_into, clip_gradients, polyak_decay, update_ema
from gaae_models.training.losses import (
    gaae_d_losses,
    gaae_g_losses,
    gaae_loss_weights,
    labelled_weight,
    one_hot,
    weighted_terms,
)

__all__ = ["GAAE", "GAAETrainer", "g_param_groups", "frozen_statistics"]

#: The standing refit of the average's whitening needs at least this many items per dimension of s.
STANDING_ITEMS_PER_DIM: int = 4


class GAAE(torch.nn.Module):
    """The five GAAE networks: encoder E (heads E_z, E_s), decoder G, classifier C, D_x, D_latent.

    Parameters
    ----------
    config : ModelConfig
        The architecture of all five.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config, conditional=True)
        self.classifier = Classifier(config)
        self.d_x = SampleDiscriminator(config, conditional=True)
        self.d_latent = LatentDiscriminator(config)

    def generator_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters of E, G and C (trained by the E/G/C step)."""
        return [*self.encoder.parameters(), *self.decoder.parameters(), *self.classifier.parameters()]

    def discriminator_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters of D_x and D_latent."""
        return [*self.d_x.parameters(), *self.d_latent.parameters()]


@contextlib.contextmanager
def frozen_statistics(encoder: torch.nn.Module, frozen: bool) -> Iterator[None]:
    """Run ``encoder`` without updating E_s's running whitening statistics.

    The D step encodes the batch that the E/G/C step encodes again: one update per step.

    Parameters
    ----------
    encoder : Encoder
        Its ``head_s[-1]`` (the whitening) is put in eval mode for the block.
    frozen : bool
        False: do nothing (E_s without whitening). Nothing changes either when the encoder is
        already in eval mode.
    """
    if not frozen or not encoder.training:
        yield
        return
    head = encoder.head_s[-1]
    head.eval()
    try:
        yield
    finally:
        head.train()


def _whitening(encoder: torch.nn.Module) -> tuple[str, Whitening] | None:
    """The whitening that ends E_s (``s_norm="whiten"``) and its state-dict prefix, or None."""
    for name, module in encoder.named_modules():
        if isinstance(module, Whitening):
            return f"{name}.", module
    return None


def g_param_groups(m: GAAE, train: TrainConfig) -> list[dict[str, Any]]:
    """Adam parameter groups of the E/G/C step.

    E_z's path (E's trunk and head_z) and C get their own group when their beta1 or learning rate
    departs from G's (``ez_beta1``/``lr_ez``, ``c_beta1``/``lr_c``; head_s stays with G); with none
    set, one group as in the paper (and in the checkpoints of runs made before these fields
    existed).

    Parameters
    ----------
    m : GAAE
    train : TrainConfig

    Returns
    -------
    list of dict
        The ``params`` argument of :class:`torch.optim.Adam` (groups without ``lr``/``betas`` take
        the optimiser's defaults, G's).
    """
    own_e = train.ez_beta1 is not None or train.lr_ez is not None
    own_c = train.c_beta1 is not None or train.lr_c is not None
    if not own_c and not own_e:
        return [{"params": m.generator_parameters()}]

    def group(params: list[torch.nn.Parameter], beta1: float | None, lr: float | None) -> dict[str, Any]:
        return {
            "params": params,
            "betas": (train.beta1 if beta1 is None else beta1, train.beta2),
            "lr": train.lr_g if lr is None else lr,
        }

    if not own_e:  # the group layout of format-2 runs: E and G together, then C
        shared = [*m.encoder.parameters(), *m.decoder.parameters()]
        return [{"params": shared}, group(list(m.classifier.parameters()), train.c_beta1, train.lr_c)]
    e_z = [*m.encoder.trunk.parameters(), *m.encoder.head_z.parameters()]
    return [
        {"params": [*m.encoder.head_s.parameters(), *m.decoder.parameters()]},
        group(list(m.classifier.parameters()), train.c_beta1, train.lr_c),
        group(e_z, train.ez_beta1, train.lr_ez),
    ]


class GAAETrainer:
    """Holds the GAAE, its optimisers and data; ``train_step`` runs one iteration.

    Parameters
    ----------
    model_config : ModelConfig
    train : TrainConfig
    data : TrainingData
    device : torch.device
    dist_info : DistInfo, optional
        The process group (default: a single process).

    Raises
    ------
    ConfigError
        If a batch is too small for a normalisation that estimates statistics over it.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        train: TrainConfig,
        data: TrainingData,
        *,
        device: torch.device,
        dist_info: DistInfo | None = None,
    ) -> None:
        if model_config.s_norm != "none" and train.batch_size < 2:
            raise ConfigError(
                f"batch_size={train.batch_size} but model.s_norm={model_config.s_norm!r} estimates "
                "statistics of s over the batch: use a batch of at least 2 (or model.s_norm='none')"
            )
        if model_config.c_norm == "batch" and min(train.batch_size, train.labelled_batch) < 2:
            raise ConfigError(
                f"batch_size={train.batch_size}, labelled_batch_size={train.labelled_batch} but "
                "model.c_norm='batch' standardises z over each batch: use batches of at least 2 "
                "(or model.c_norm='none')"
            )
        self.cfg, self.train, self.data, self.device = model_config, train, data, device
        self.dist = dist_info or DistInfo()
        torch.manual_seed(train.seed)
        self.model = GAAE(model_config).to(device)
        betas = (train.beta1, train.beta2)
        m = self.model
        groups = g_param_groups(m, train)
        self.opt_g = torch.optim.Adam(groups, lr=train.lr_g, betas=betas, eps=train.adam_eps)
        self.opt_d = torch.optim.Adam(
            self.model.discriminator_parameters(), lr=train.lr_d, betas=betas, eps=train.adam_eps
        )
        self.ema = copy.deepcopy(self.model.decoder).eval() if train.ema_decay > 0 else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        # the Polyak average of E and C (train.ema_encoder_decay): what predicts, evaluates and is published
        self.ema_encoder: Encoder | None = None
        self.ema_classifier: Classifier | None = None
        self._ema_whitening: tuple[str, Whitening] | None = None
        if train.ema_encoder_decay > 0:
            self.ema_encoder = copy.deepcopy(self.model.encoder).eval().requires_grad_(False)
            self.ema_classifier = copy.deepcopy(self.model.classifier).eval().requires_grad_(False)
            self._ema_whitening = _whitening(self.ema_encoder)
        self._standing: torch.Tensor | None = None
        self.autocast = autocast(train, device)
        self._held: torch.Tensor | None = None
        self._dx_real_weight = labelled_weight(train, data)

    # -- state ----------------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks saved in a checkpoint, by name (``ema_decoder`` with an EMA)."""
        out = {
            "encoder": self.model.encoder,
            "decoder": self.model.decoder,
            "classifier": self.model.classifier,
            "d_x": self.model.d_x,
            "d_latent": self.model.d_latent,
        }
        if self.ema is not None:
            out["ema_decoder"] = self.ema
        if self.ema_encoder is not None and self.ema_classifier is not None:
            out["ema_encoder"], out["ema_classifier"] = self.ema_encoder, self.ema_classifier
        return out

    @torch.no_grad()
    def _update_averages(self, x: torch.Tensor, step: int) -> None:
        """Move the EMA copies of E and C towards the live networks after ``step`` (decay
        ``min(ema_encoder_decay, (1 + t) / (10 + t))``), then update the average's E_s whitening
        with its own codes of the real batch ``x`` (B, 1, F, T).

        The whitening is not averaged: the live whitening's statistics describe the live head's
        outputs, not the averaged head's, and its first statistics amplify by up to 1e5
        (:class:`~gaae_models.models.layers.Whitening`), which an average would carry for hundreds
        of steps. Measured on instruments at step 300: the average with the live whitening copied
        read a two-sample accuracy of 0.76 against 0.57 for the live encoder.
        """
        encoder, classifier = self.ema_encoder, self.ema_classifier
        if encoder is None or classifier is None:
            return
        decay = polyak_decay(self.train.ema_encoder_decay, step)
        prefix, whitening = self._ema_whitening or ("", None)
        average_into(encoder, self.model.encoder, decay, exclude=(prefix,) if whitening else ())
        average_into(classifier, self.model.classifier, decay)
        if whitening is not None:
            with self.autocast:
                h = encoder.trunk(x)  # eval mode: no power iteration, the averaged u and v
                whitening.update(encoder.head_s[0](h))

    def inference_networks(self) -> tuple[Encoder, Classifier]:
        """E and C as a user gets them: their EMA copies when the run keeps them (eval mode not set)."""
        if self.ema_encoder is not None and self.ema_classifier is not None:
            return self.ema_encoder, self.ema_classifier
        return self.model.encoder, self.model.classifier

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers saved in a checkpoint, by name."""
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # -- one iteration ----------------------------------------------------------------------------
    def make_batch(self, step: int, rank: int | None = None) -> Batch:
        """The minibatches and random draws of ``step`` for ``rank`` (a pure function of them,
        :func:`gaae_models.batches.gaae_batch`), on the trainer's device."""
        rank = self.dist.rank if rank is None else rank
        return to_device(batch_maker("gaae", self.data, self.train, self.cfg.s_dim, rank)(step), self.device)

    def d_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The D_x and D_latent hinge losses (their sum) and metrics; G's outputs carry no gradient."""
        m, k = self.model, self.data.n_classes
        with self.autocast:
            with torch.no_grad(), frozen_statistics(m.encoder, self.cfg.s_norm == "whiten"):
                z, s = m.encoder(batch["x"])
                m.classifier.update_statistics(z)  # c_norm="running": real unlabelled codes only
                y_hat = one_hot(m.classifier(z).argmax(dim=1), k)
                y_r = one_hot(batch["y_r"], k)
                x_rec = m.decoder(s, y_hat)
                x_gen = m.decoder(batch["s_prior"] if self.train.gen_latent == "prior" else s, y_r)
            real = m.d_x(torch.cat([batch["x"], batch["x_l"]]), torch.cat([y_hat, one_hot(batch["y_l"], k)]))
            fake_rec = m.d_x(x_rec, y_hat)
            fake_gen = m.d_x(x_gen, y_r)
            losses = gaae_d_losses(
                real=real,
                fake_rec=fake_rec,
                fake_gen=fake_gen,
                latent_real=m.d_latent(batch["s_prior"]),
                latent_fake=m.d_latent(s),
                n_unlabelled=batch["x"].shape[0],
                labelled_weight=self._dx_real_weight,
            )
        metrics = {
            "loss/d_x": losses["loss/d_x"].item(),
            "loss/d_latent": losses["loss/d_latent"].item(),
            "d_x/real": real.float().mean().item(),
            "d_x/fake": 0.5 * (fake_rec.float().mean() + fake_gen.float().mean()).item(),
        }
        return losses["loss/d_x"] + losses["loss/d_latent"], metrics

    def loss_weights(self) -> dict[str, float]:
        """The factor of each named loss in the E/G/C objective, keyed as the log's ``loss/*``
        (:func:`~gaae_models.training.losses.gaae_loss_weights`)."""
        return gaae_loss_weights(self.train)

    def g_loss(
        self, batch: dict[str, torch.Tensor], *, shares: bool = False
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The E/G/C objective and its metrics; with ``shares``, also each weighted term's
        share of the gradient on E's trunk (``grad/*``)."""
        terms, metrics = self.g_terms(batch)
        total = sum(terms.values())
        metrics["loss/total"] = total.item()
        if shares:
            trunk = list(self.model.encoder.trunk.parameters())
            metrics.update({f"grad/{n}": v for n, v in gradient_shares(terms, trunk).items()})
        return total, metrics

    def g_terms(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """The weighted terms of the E/G/C objective and metrics.

        The terms are keyed by the names of their losses without the ``loss/`` namespace (``gen``,
        ``rec``, ``cls_lab``, ``cls_gen``, ``lat``); the objective is their sum.
        """
        m, t, k = self.model, self.train, self.data.n_classes
        with self.autocast:
            h = m.encoder.trunk(batch["x"])
            z, s = m.encoder.head_z(h), m.encoder.head_s(scale_grad(h, t.s_trunk_grad))
            with torch.no_grad():
                y_hat = one_hot(m.classifier(z).argmax(dim=1), k)
            y_r = one_hot(batch["y_r_g"], k)
            x_rec = m.decoder(s, y_hat)
            x_gen = m.decoder(batch["s_prior_g"] if t.gen_latent == "prior" else s, y_r)
            score_rec = m.d_x(x_rec, y_hat)
            score_gen = m.d_x(x_gen, y_r)
            logits_l = m.classifier(m.encoder.encode_z(batch["x_l_aug"]))
            logits_g = m.classifier(m.encoder.encode_z(x_gen.detach()))
            logits_u = teacher = None
            if t.g4 > 0:  # pseudo-labels: the average of E and C teaches C(E_z(x)) on the unlabelled batch
                logits_u = m.classifier(m.encoder.encode_z(batch["x_aug"]) if "x_aug" in batch else z)
                teacher = self._teacher_probs(batch["x"])
            losses = gaae_g_losses(
                x=batch["x"],
                x_rec=x_rec,
                score_rec=score_rec,
                score_gen=score_gen,
                logits_labelled=logits_l,
                y_labelled=batch["y_l"],
                logits_gen=logits_g,
                y_gen=batch["y_r_g"],
                latent_score=m.d_latent(s),
                logits_unlabelled=logits_u,
                teacher_probs=teacher,
                threshold=t.pseudo_threshold,
            )
            acc_gen = (logits_g.argmax(1) == batch["y_r_g"]).float().mean().item()
            # the gate: L_cls,gen counts once C classifies generated samples better than chance
            gate_open = acc_gen >= 1.0 / k + t.cls_gen_gate * (1.0 - 1.0 / k) if t.cls_gen_gate > 0 else True
            terms = weighted_terms(losses, gaae_loss_weights(t), gates={"loss/cls_gen": float(gate_open)})
        metrics = {key: value.item() for key, value in losses.items()}
        metrics.update(
            {
                "acc/labelled_batch": (logits_l.argmax(1) == batch["y_l"]).float().mean().item(),
                "acc/gen_batch": acc_gen,
                "gate/cls_gen": float(gate_open),
            }
        )
        if teacher is not None:
            confident = teacher.max(dim=1).values >= t.pseudo_threshold
            metrics["pseudo/confident"] = confident.float().mean().item()
        return terms, metrics

    @torch.no_grad()
    def _teacher_probs(self, x: torch.Tensor) -> torch.Tensor:
        """The average's class probabilities of ``x``, shape (B, K), in eval mode."""
        e, c = self.ema_encoder, self.ema_classifier
        assert e is not None and c is not None  # TrainConfig refuses g4 > 0 without the average
        return torch.softmax(c(e.encode_z(x)).float(), dim=1)

    def train_step(self, step: int, batch: Batch | None = None) -> dict[str, float]:
        """One iteration: D step, then E/G/C step, then EMA. Returns the metrics. ``batch`` is
        :meth:`make_batch` of ``step`` (made here when not given)."""
        m = self.model
        m.train()
        batch = self.make_batch(step) if batch is None else batch
        # D step (E, G, C frozen)
        m.d_x.requires_grad_(True)
        m.d_latent.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        d_total, metrics = self.d_loss(batch)
        d_total.backward()
        average_gradients(m.discriminator_parameters(), self.dist)
        norm_d = clip_gradients(m.discriminator_parameters(), self.train.grad_clip_d)
        self.opt_d.step()
        # E/G/C step (D frozen: its weights get no gradient)
        m.d_x.requires_grad_(False)
        m.d_latent.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        shares = step % self.train.health_every == 0 or step == self.train.steps
        g_total, g_metrics = self.g_loss(batch, shares=shares)
        g_total.backward()
        average_gradients(m.generator_parameters(), self.dist)
        norm_g = clip_gradients(m.generator_parameters(), self.train.grad_clip)
        self.opt_g.step()
        m.d_x.requires_grad_(True)
        m.d_latent.requires_grad_(True)
        metrics.update(g_metrics)
        metrics.update({"grad_norm/d": norm_d, "grad_norm/g": norm_g})
        if self.ema is not None:
            update_ema(self.ema, self.model.decoder, self.train, step)
        if self.ema_encoder is not None and self.ema_classifier is not None:
            self._update_averages(batch["x"], step)
            t = self.train
            if step % t.health_every == 0 or step % t.checkpoint_every == 0 or step == t.steps:
                self.stand_whitening()
        return metrics

    def standing_batch(self) -> torch.Tensor:
        """A fixed seeded sample of up to ``whiten_standing_items`` training items outside the held
        batch of :meth:`health` (read once), for :meth:`stand_whitening`."""
        if self._standing is None:
            self._standing = self.data.get(self._standing_indices()).to(self.device)
        return self._standing

    def _standing_indices(self) -> np.ndarray:
        """The sorted indices of :meth:`standing_batch` (seeded; no item is read)."""
        pool = self.data.unlabelled
        held = self._held_indices()
        rest = np.setdiff1d(pool, held) if pool.size > held.size else pool
        rng = np.random.default_rng([self.train.seed, STREAM_HEALTH, 1])
        n = min(self.train.whiten_standing_items, rest.size)
        return np.sort(rng.choice(rest, size=n, replace=False))

    @torch.no_grad()
    def stand_whitening(self) -> None:
        """Refit the average's E_s whitening to the average's own codes of :meth:`standing_batch`
        (``Whitening.fit``): the per-step running estimate lags an encoder whose trunk learns, and
        the average is what health measures and users get. No-op without the average, without a
        whitening, with ``whiten_standing_items = 0`` or with a standing sample of fewer than
        :data:`STANDING_ITEMS_PER_DIM` items per dimension of s (a small training set): a
        covariance fitted to n items in D dimensions whitens other codes to a variance of about
        n / (n - D), 1.33 at n = 4D and 3.9 at the 172 items of ``gaae demo`` (128 dimensions).
        Training does not read the average's whitening, so this changes nothing the live networks
        learn."""
        if self._ema_whitening is None or self.ema_encoder is None or self.train.whiten_standing_items == 0:
            return
        encoder, (_, whitening) = self.ema_encoder, self._ema_whitening
        if self._standing_indices().size < STANDING_ITEMS_PER_DIM * whitening.num_features:
            # too few items for a D x D covariance: a fit whitens its own sample exactly and inflates
            # other codes (the demo's 172 items for 128 dimensions: held-out std 3.7, effective rank 19);
            # the running estimate, which has seen every training batch, stays (and nothing is read)
            return
        x = self.standing_batch()
        with self.autocast:
            codes = [encoder.head_s[0](encoder.trunk(x[i : i + 64])).float() for i in range(0, len(x), 64)]
        whitening.fit(torch.cat(codes))

    def held_batch(self, n: int = 128) -> torch.Tensor:
        """A fixed seeded batch of up to ``n`` training items (read once), for :meth:`health`."""
        if self._held is None:
            self._held = self.data.get(self._held_indices(n)).to(self.device)
        return self._held

    def _held_indices(self, n: int = 128) -> np.ndarray:
        """The sorted indices of the held batch: ``n`` seeded draws from the unlabelled pool."""
        pool = self.data.unlabelled
        rng = np.random.default_rng([self.train.seed, STREAM_HEALTH])
        return np.sort(rng.choice(pool, size=min(n, pool.size), replace=False))

    def health(self, step: int) -> dict[str, float]:
        """Training health on the held batch (:func:`gaae_models.health.gaae_health`), keys
        ``health/*``; no network's state changes."""
        encoder, classifier = self.inference_networks()
        out = gaae_health(
            encoder=encoder,
            decoder=self.ema if self.ema is not None else self.model.decoder,
            classifier=classifier,
            x=self.held_batch(),
            n_classes=self.data.n_classes,
            seed=int(np.random.SeedSequence([self.train.seed, step, STREAM_HEALTH]).generate_state(1)[0]),
            autocast=lambda: autocast(self.train, self.device),
        )
        return {f"health/{key}": value for key, value in out.items()}

    # -- evaluation and samples -------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits C(E_z(x)) for spectrograms (B, 1, F, T) (the EMA copies when kept)."""
        return self._logits(*self.inference_networks(), x)

    @property
    def keeps_average(self) -> bool:
        """Whether :meth:`predict` reads the average of E and C (``ema_encoder_decay`` > 0)."""
        return self.ema_encoder is not None

    @torch.no_grad()
    def predict_live(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the live (last step's) C(E_z(x)) for spectrograms (B, 1, F, T)."""
        return self._logits(self.model.encoder, self.model.classifier, x)

    def _logits(self, encoder: Encoder, classifier: Classifier, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        encoder.eval()
        classifier.eval()
        with self.autocast:
            z, _ = encoder(x)
            return classifier(z).float()

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, *, seed: int) -> torch.Tensor:
        """G(s, y) for s ~ N(0, I) drawn from ``seed`` and the given labels: (B, 1, F, T) in [-1, 1]."""
        decoder = self.ema if self.ema is not None else self.model.decoder
        decoder.eval()
        s = torch.randn(labels.shape[0], self.cfg.s_dim, generator=torch.Generator().manual_seed(seed))
        with self.autocast:
            x = decoder(s.to(self.device), one_hot(labels.to(self.device), self.data.n_classes))
        return x.float()
