"""The baselines of the paper's tables: the simple CNN, the BigGANs and the BiGAN.

* :class:`CNNTrainer`: the simple CNN (appendix A-E) on the labelled pool, with SpecAugment.
* :class:`BigGANTrainer`: the supervised and unsupervised BigGAN (appendix A-A, A-B).
* :class:`BiGANTrainer`: the BiGAN (appendix A-C) and its probe on the frozen features.

Each trainer has the interface :func:`gaae_models.training.loop.fit` drives: ``modules()``,
``optimizers()``, ``make_batch(step)``, ``train_step(step, batch)`` returning a flat dict of named
metrics, and ``predict`` / ``generate`` / ``finish`` where the model has them.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from gaae_models.batches import Batch, TrainingData, batch_maker, to_device
from gaae_models.config import ModelConfig
from gaae_models.distributed import DistInfo, average_gradients
from gaae_models.errors import ConfigError
from gaae_models.models import (
    BiGANDiscriminator,
    Classifier,
    Decoder,
    GuidedEncoder,
    SampleDiscriminator,
    SimpleCNN,
)
from gaae_models.train_config import TrainConfig
from gaae_models.training.common import autocast, average_into, polyak_decay, update_ema
from gaae_models.training.losses import hinge_d, hinge_g, joint_loss, one_hot

__all__ = ["CNNTrainer", "BigGANTrainer", "BiGANTrainer"]


class CNNTrainer:
    """The simple CNN (appendix A-E) trained on the labelled pool, with optional SpecAugment."""

    def __init__(
        self,
        train: TrainConfig,
        data: TrainingData,
        input_shape: tuple[int, int],
        *,
        device: torch.device,
        dist_info: DistInfo | None = None,
    ) -> None:
        self.train, self.data, self.device = train, data, device
        self.dist = dist_info or DistInfo()
        torch.manual_seed(train.seed)
        self.model = SimpleCNN(data.n_classes, input_shape=input_shape).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=train.cnn_lr)
        self.autocast = autocast(train, device)
        # the Polyak average (train.cnn_ema_decay): what predicts, evaluates and is saved as ema_cnn
        self.average: SimpleCNN | None = None
        if train.cnn_ema_decay > 0:
            self.average = copy.deepcopy(self.model).eval().requires_grad_(False)

    @property
    def keeps_average(self) -> bool:
        """Whether :meth:`predict` reads an average of the weights (``cnn_ema_decay`` > 0)."""
        return self.average is not None

    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks saved in a checkpoint: ``cnn`` (and ``ema_cnn`` with an average)."""
        return {"cnn": self.model} if self.average is None else {"cnn": self.model, "ema_cnn": self.average}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimiser saved in a checkpoint: ``opt``."""
        return {"opt": self.opt}

    def make_batch(self, step: int) -> Batch:
        """The labelled minibatch of ``step`` (:func:`gaae_models.batches.cnn_batch`) on the device."""
        return to_device(batch_maker("cnn", self.data, self.train, 0, self.dist.rank)(step), self.device)

    def train_step(self, step: int, batch: Batch | None = None) -> dict[str, float]:
        """One Adam step on the cross-entropy of a labelled batch; returns ``loss/cls``, ``acc/batch``."""
        batch = self.make_batch(step) if batch is None else batch
        x, y = batch["x"], batch["y"]
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        with self.autocast:
            logits = self.model(x)
            loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        average_gradients(list(self.model.parameters()), self.dist)
        self.opt.step()
        if self.average is not None:
            average_into(self.average, self.model, polyak_decay(self.train.cnn_ema_decay, step))
        return {"loss/cls": loss.item(), "acc/batch": (logits.argmax(1) == y).float().mean().item()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for spectrograms (B, 1, F, T): the average's when kept."""
        return self.predict_live(x) if self.average is None else self._logits(self.average, x)

    @torch.no_grad()
    def predict_live(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the live (last step's) CNN for spectrograms (B, 1, F, T)."""
        return self._logits(self.model, x)

    def _logits(self, net: SimpleCNN, x: torch.Tensor) -> torch.Tensor:
        net.eval()
        with self.autocast:
            return net(x).float()


# ---------------------------------------------------------------------------------------------------
# the BigGAN and BiGAN baselines


class BigGANTrainer:
    """The BigGAN baselines (appendix A-A and A-B): G(s[, y]) against D_x(x[, y]) with the hinge loss.

    ``conditional=True`` is the supervised BigGAN: cBN in G, projection D, real pairs from the
    labelled pool (all labels by default) and fake labels uniform over the K classes.
    ``conditional=False`` is the unsupervised BigGAN: plain BN in G, a dense D head, every item of
    the cache as a real sample and no labels at all. D step, then G step, then the optional EMA of G,
    as in the GAAE; the same seeded draws per step make runs deterministic on CPU.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        train: TrainConfig,
        data: TrainingData,
        *,
        conditional: bool,
        device: torch.device,
        dist_info: DistInfo | None = None,
    ) -> None:
        self.cfg, self.train, self.data, self.device = model_config, train, data, device
        self.conditional = conditional
        self.dist = dist_info or DistInfo()
        torch.manual_seed(train.seed)
        self.decoder = Decoder(model_config, conditional=conditional).to(device)
        self.d_x = SampleDiscriminator(model_config, conditional=conditional).to(device)
        betas = (train.beta1, train.beta2)
        self.opt_g = torch.optim.Adam(
            self.decoder.parameters(), lr=train.lr_g, betas=betas, eps=train.adam_eps
        )
        self.opt_d = torch.optim.Adam(self.d_x.parameters(), lr=train.lr_d, betas=betas, eps=train.adam_eps)
        self.ema = copy.deepcopy(self.decoder).eval() if train.ema_decay > 0 else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        self.autocast = autocast(train, device)

    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks saved in a checkpoint, by name (``ema_decoder`` with an EMA)."""
        out = {"decoder": self.decoder, "d_x": self.d_x}
        if self.ema is not None:
            out["ema_decoder"] = self.ema
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers saved in a checkpoint, by name."""
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def _y(self, labels: torch.Tensor) -> torch.Tensor | None:
        return one_hot(labels.to(self.device), self.data.n_classes) if self.conditional else None

    def make_batch(self, step: int) -> Batch:
        """The real minibatch (and its labels), prior samples and fake labels of ``step``
        (:func:`gaae_models.batches.gan_batch`) on the device."""
        make = batch_maker(self.train.model, self.data, self.train, self.cfg.s_dim, self.dist.rank)
        return to_device(make(step), self.device)

    def train_step(self, step: int, batch: Batch | None = None) -> dict[str, float]:
        """One D step and one G step; returns the named losses."""
        batch = self.make_batch(step) if batch is None else batch
        y_real = self._y(batch["y"]) if self.conditional else None
        y_fake = self._y(batch["y_r"]) if self.conditional else None
        self.decoder.train()
        self.d_x.train()
        self.d_x.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast:
            with torch.no_grad():
                fake = self.decoder(batch["s_prior"], y_fake)
            real_score = self.d_x(batch["x"], y_real)
            fake_score = self.d_x(fake, y_fake)
            loss_d = hinge_d(real_score, fake_score)
        loss_d.backward()
        average_gradients(list(self.d_x.parameters()), self.dist)
        self.opt_d.step()
        self.d_x.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast:
            loss_g = hinge_g(self.d_x(self.decoder(batch["s_prior"], y_fake), y_fake))
        loss_g.backward()
        average_gradients(list(self.decoder.parameters()), self.dist)
        self.opt_g.step()
        self.d_x.requires_grad_(True)
        if self.ema is not None:
            update_ema(self.ema, self.decoder, self.train, step)
        return {
            "loss/d_x": loss_d.item(),
            "loss/gen": loss_g.item(),
            "d_x/real": real_score.float().mean().item(),
            "d_x/fake": fake_score.float().mean().item(),
        }

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, *, seed: int) -> torch.Tensor:
        """G(s[, y]) for s ~ N(0, I) drawn from ``seed``: (B, 1, F, T) in [-1, 1] (labels ignored
        when unconditional, but their count sets B)."""
        decoder = self.ema if self.ema is not None else self.decoder
        decoder.eval()
        s = torch.randn(labels.shape[0], self.cfg.s_dim, generator=torch.Generator().manual_seed(seed))
        with self.autocast:
            return decoder(s.to(self.device), self._y(labels)).float()


class BiGANTrainer:
    """The BiGAN baseline (appendix A-C): an unsupervised BigGAN plus a feature extractor E and a
    joint discriminator D(x, e), then a dense probe on the frozen features.

    G (plain BN) and D_x (dense head) are the unsupervised BigGAN. E (Table XVIII: the trunk and a
    dense layer to ``z_dim``) maps real x to e = E(x); D(x, e) (Table XIX) tells real pairs
    (x, E(x)) from fake pairs (G(e'), e') with e' ~ N(0, I) (``s_dim`` must equal ``z_dim``).
    Hinge losses; G and E minimise ``-D_x(G(e')) + D(x, E(x)) - D(G(e'), e')`` (the BigBiGAN
    form of the BiGAN objective). After the last step, :meth:`finish` trains the probe (Dense 128,
    ReLU, Dense K; Table XXII) on E's features of the labelled pool for ``probe_steps`` full-batch
    Adam steps with E frozen.
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
        if model_config.s_dim != model_config.z_dim:
            raise ConfigError(
                f"the BiGAN needs s_dim == z_dim (got s_dim={model_config.s_dim}, z_dim={model_config.z_dim})"
            )
        self.cfg, self.train, self.data, self.device = model_config, train, data, device
        self.dist = dist_info or DistInfo()
        torch.manual_seed(train.seed)
        self.decoder = Decoder(model_config, conditional=False).to(device)
        self.d_x = SampleDiscriminator(model_config, conditional=False).to(device)
        self.feature = GuidedEncoder(model_config).to(device)
        self.d_joint = BiGANDiscriminator(model_config).to(device)
        self.probe = Classifier(model_config).to(device)
        betas = (train.beta1, train.beta2)
        self.opt_g = torch.optim.Adam(
            [*self.decoder.parameters(), *self.feature.parameters()],
            lr=train.lr_g,
            betas=betas,
            eps=train.adam_eps,
        )
        self.opt_d = torch.optim.Adam(
            [*self.d_x.parameters(), *self.d_joint.parameters()],
            lr=train.lr_d,
            betas=betas,
            eps=train.adam_eps,
        )
        self.opt_probe = torch.optim.Adam(self.probe.parameters(), lr=train.probe_lr)
        self.autocast = autocast(train, device)

    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks saved in a checkpoint, by name."""
        return {
            "decoder": self.decoder,
            "d_x": self.d_x,
            "feature": self.feature,
            "d_joint": self.d_joint,
            "probe": self.probe,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers saved in a checkpoint, by name."""
        return {"opt_g": self.opt_g, "opt_d": self.opt_d, "opt_probe": self.opt_probe}

    def make_batch(self, step: int) -> Batch:
        """Unlabelled ``x`` and the prior of ``step`` (:func:`gaae_models.batches.bigan_batch`)."""
        return to_device(
            batch_maker("bigan", self.data, self.train, self.cfg.z_dim, self.dist.rank)(step), self.device
        )

    def train_step(self, step: int, batch: Batch | None = None) -> dict[str, float]:
        """One D step (D_x and the joint D) and one G/E step; returns the named losses and scores."""
        batch = self.make_batch(step) if batch is None else batch
        x, prior = batch["x"], batch["z_prior"]
        for module in (self.decoder, self.d_x, self.feature, self.d_joint):
            module.train()
        d_params = [*self.d_x.parameters(), *self.d_joint.parameters()]
        g_params = [*self.decoder.parameters(), *self.feature.parameters()]
        for p in d_params:
            p.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast:
            with torch.no_grad():
                fake = self.decoder(prior)
                e_real = self.feature(x)
            loss_dx = hinge_d(self.d_x(x), self.d_x(fake))
            real_joint = self.d_joint(x, e_real)
            fake_joint = self.d_joint(fake, prior)
            loss_joint = hinge_d(real_joint, fake_joint)
        (loss_dx + loss_joint).backward()
        average_gradients(d_params, self.dist)
        self.opt_d.step()
        for p in d_params:
            p.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast:
            fake = self.decoder(prior)
            loss_gen = hinge_g(self.d_x(fake))
            loss_bigan = joint_loss(self.d_joint(x, self.feature(x)), self.d_joint(fake, prior))
            total = loss_gen + loss_bigan
        total.backward()
        average_gradients(g_params, self.dist)
        self.opt_g.step()
        for p in d_params:
            p.requires_grad_(True)
        return {
            "loss/d_x": loss_dx.item(),
            "loss/d_joint": loss_joint.item(),
            "loss/gen": loss_gen.item(),
            "loss/bigan": loss_bigan.item(),
            "d_joint/real": real_joint.float().mean().item(),
            "d_joint/fake": fake_joint.float().mean().item(),
        }

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """E(x): the feature extractor's output, (B, z_dim)."""
        self.feature.eval()
        with self.autocast:
            return self.feature(x).float()

    def finish(self) -> dict[str, float]:
        """Train the probe on the frozen features of the labelled pool; returns its last metrics."""
        if self.data.labelled.size == 0:
            return {}
        feats = []
        for lo in range(0, self.data.labelled.size, self.train.eval_batch_size):
            idx = self.data.labelled[lo : lo + self.train.eval_batch_size]
            feats.append(self.features(self.data.get(idx).to(self.device)))
        e = torch.cat(feats)
        y = self.data.target(self.data.labelled).to(self.device)
        torch.manual_seed(self.train.seed)
        self.probe.train()
        loss = torch.zeros(())
        for _ in range(self.train.probe_steps):
            self.opt_probe.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.probe(e), y)
            loss.backward()
            self.opt_probe.step()
        self.probe.eval()
        with torch.no_grad():
            acc = (self.probe(e).argmax(1) == y).float().mean().item()
        return {"probe/loss": loss.item(), "probe/train_accuracy": acc}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the probe on E(x)."""
        self.probe.eval()
        return self.probe(self.features(x))

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, *, seed: int) -> torch.Tensor:
        """Unconditional G(e) for ``len(labels)`` draws of e ~ N(0, I) from ``seed``."""
        self.decoder.eval()
        e = torch.randn(labels.shape[0], self.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
        with self.autocast:
            return self.decoder(e.to(self.device)).float()
