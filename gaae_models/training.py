"""Training the GAAE (Algorithm 1 as the project reads it) and the simple CNN, from audiospec caches.

One GAAE iteration (model.md section 4; BigGAN-PyTorch step order):

1. **D step.** With (z, s) = E(x), y_hat = one-hot argmax C(z), x_rec = G(s, y_hat), y_r uniform over
   the K classes and x_gen = G(s, y_r), all without gradient: D_x learns with the hinge loss on the real
   pairs (x, y_hat) and (x_l, y_l) (one batch) against the fakes (x_rec, y_hat) and (x_gen, y_r)
   (averaged); D_latent on samples of N(0, I) against s.
2. **E/G/C step.** The same quantities with gradient, and
   ``L = psi [alpha L_gen + (1 - alpha) lambda_rec L_rec] + omega [g1 L_cls_lab + g2 L_cls_gen + g3 L_lat]``
   (``L_gen`` hinge generator loss averaged over x_rec and x_gen, ``L_rec`` MSE(x_rec, x),
   ``L_cls_lab`` CE(C(E_z(x_l)), y_l), ``L_cls_gen`` CE(C(E_z(x_gen.detach())), y_r),
   ``L_lat`` = -mean D_latent(s)).
3. Optional EMA of G.

Every random draw of step t comes from generators seeded by (seed, t, stream, rank), so runs are
deterministic on CPU and ``--resume`` continues exactly.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import platform
import sys
import time
from importlib import metadata
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audiospec._progress import progress_bar
from audiospec.cache import open_cache
from gaae_models.batches import (
    _STREAM_HEALTH,
    Batch,
    TrainingData,
    batch_maker,
    loader_workers,
    prepare_data,
    spec_augment,
    step_batches,
    to_device,
)
from gaae_models.checkpoint import load_checkpoint, resume_checkpoint, save_checkpoint
from gaae_models.config import ModelConfig
from gaae_models.distributed import DistInfo, average_gradients, barrier, init_distributed
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.health import format_health, gaae_health, gradient_shares
from gaae_models.networks import (
    BiGANDiscriminator,
    Classifier,
    Decoder,
    Encoder,
    GuidedEncoder,
    LatentDiscriminator,
    SampleDiscriminator,
    SimpleCNN,
)
from gaae_models.nn import scale_grad
from gaae_models.runlog import plot_log
from gaae_models.train_config import TrainConfig, departures_from_paper

__all__ = [
    "GAAE",
    "TrainingData",
    "GAAETrainer",
    "CNNTrainer",
    "BigGANTrainer",
    "BiGANTrainer",
    "build_trainer",
    "fit",
    "spec_augment",
    "RUN_FORMAT_VERSION",
]

#: 2: configs record the departures from the paper (ModelConfig cbn_sn / s_norm, widths; TrainConfig
#: gen_latent ... dx_labelled_weight); format-1 runs load with their implicit values (from_stored).
#: 3: ModelConfig c_norm, TrainConfig lr_ez / ez_beta1 / s_trunk_grad / loader_workers.
RUN_FORMAT_VERSION = 3


# ---------------------------------------------------------------------------------------------------
# the model


class GAAE(torch.nn.Module):
    """The five GAAE networks: encoder E (heads E_z, E_s), decoder G, classifier C, D_x, D_latent."""

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


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: mean relu(1 - real) + mean relu(1 + fake)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _one_hot(labels: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(labels, k).float()


@contextlib.contextmanager
def _frozen_statistics(encoder: torch.nn.Module, frozen: bool):
    """Run ``encoder`` without updating E_s's running whitening statistics (the D step encodes
    the batch that the E/G/C step encodes again: one update per step)."""
    if not frozen or not encoder.training:
        yield
        return
    head = encoder.head_s[-1]
    head.eval()
    try:
        yield
    finally:
        head.train()


def _labelled_weight(train: TrainConfig, data: TrainingData) -> float:
    """Weight of one guidance pair relative to one unlabelled pair in D_x's real term, so that the
    guidance items count by their share of the data (``dx_labelled_weight=None``), or as given."""
    if train.dx_labelled_weight is not None:
        return float(train.dx_labelled_weight)
    n_l, n_u = data.labelled.size, data.unlabelled.size
    if n_l == 0:
        return 0.0
    # per item: a guidance item is drawn B_l / n_l per step as "real" plus B / n_u as unlabelled;
    # weighting its guidance draws by (B / n_u) / (B_l / n_l) leaves every item equally "real".
    return (train.batch_size / n_u) / (train.labelled_batch / n_l)


# ---------------------------------------------------------------------------------------------------
# shared run plumbing


def _g_param_groups(m: GAAE, train: TrainConfig) -> list[dict[str, Any]]:
    """Adam parameter groups of the E/G/C step: E_z's path (E's trunk and head_z) and C get their
    own group when their beta1 or learning rate departs from G's (``ez_beta1``/``lr_ez``,
    ``c_beta1``/``lr_c``; head_s stays with G); with none set, one group as in the paper (and in
    the checkpoints of runs made before these fields existed)."""
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


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for dist_name in ("gaae-audio", "numpy", "zarr", "safetensors"):
        try:
            out[dist_name] = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device={device!r} must be 'auto', 'cpu' or 'cuda'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but no CUDA device is available")
    return torch.device(device)


def _summary_writer(log_dir: str):
    """A TensorBoard ``SummaryWriter`` on ``log_dir`` (the optional tensorboard package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            f"tensorboard={log_dir!r} needs the tensorboard package: pip install tensorboard "
            "(every run also writes RUN/log.png and RUN/log.jsonl)"
        ) from None
    return SummaryWriter(log_dir=log_dir)


class _Run:
    """Run folder, config record, JSONL log and progress shared by both trainers."""

    def __init__(
        self,
        out_dir: str,
        record: dict[str, Any],
        *,
        resume: bool,
        dist_info: DistInfo,
        tensorboard: str | None = None,
    ) -> None:
        self.dir = os.path.abspath(out_dir)
        self.dist = dist_info
        self._tb = _summary_writer(tensorboard) if tensorboard and dist_info.is_main else None
        config_path = os.path.join(self.dir, "config.json")
        comparable = {k: record[k] for k in ("model_kind", "model", "train_compare", "data_compare")}
        if os.path.exists(config_path):
            with open(config_path) as f:
                previous = json.load(f)
            if not resume:
                raise CheckpointError(
                    f"{self.dir} already holds a run; pass --resume to continue it or choose a new --out"
                )
            old = {k: previous.get(k) for k in comparable}
            if previous.get("format_version", 1) < RUN_FORMAT_VERSION:  # fields added since: implied values
                old["model"] = ModelConfig.from_stored(old["model"] or {}).to_dict()
                old["train_compare"] = TrainConfig.from_stored(previous.get("train") or {}).compare_dict()
            if old != comparable:
                diff = _diff(old, comparable)
                raise CheckpointError(f"cannot resume {self.dir}: the config differs from the run's: {diff}")
        elif resume:
            raise CheckpointError(f"cannot resume: {self.dir} holds no run (no config.json)")
        elif os.path.isdir(self.dir) and os.listdir(self.dir):
            raise CheckpointError(f"{self.dir} exists and is not empty; choose a new --out")
        barrier(dist_info)  # every rank has checked the folder before any rank writes to it
        if dist_info.is_main:
            os.makedirs(os.path.join(self.dir, "samples"), exist_ok=True)
            if not os.path.exists(config_path):
                tmp = config_path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(record, f, indent=2)
                os.replace(tmp, config_path)
        barrier(dist_info)
        self.log_path = os.path.join(self.dir, "log.jsonl")

    def log(self, entry: dict[str, Any]) -> None:
        if self.dist.is_main:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if self._tb is not None:
                for key, value in entry.items():
                    if key != "step" and isinstance(value, (int, float)):
                        self._tb.add_scalar(key, value, global_step=entry["step"])

    def plot(self) -> None:
        """Draw the log so far as ``RUN/log.png`` (and flush TensorBoard)."""
        if self.dist.is_main:
            plot_log(self.dir)
            if self._tb is not None:
                self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()

    def truncate_log(self, step: int) -> None:
        """Drop log lines after ``step`` (written before a crash, after the last checkpoint)."""
        if not self.dist.is_main or not os.path.exists(self.log_path):
            return
        with open(self.log_path) as f:
            lines = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
        tmp = self.log_path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(lines)
        os.replace(tmp, self.log_path)


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, source: torch.nn.Module, train: TrainConfig, step: int) -> None:
    """EMA of G's weights: a plain copy before ``train.ema_start``, decay ``train.ema_decay`` after."""
    decay = train.ema_decay if step >= train.ema_start else 0.0
    for target, value in zip(ema.state_dict().values(), source.state_dict().values(), strict=True):
        if target.dtype.is_floating_point:
            target.mul_(decay).add_(value, alpha=1.0 - decay)
        else:
            target.copy_(value)


def _diff(old: dict, new: dict, prefix: str = "") -> str:
    parts = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = _diff(a, b, f"{prefix}{key}.")
            if inner:
                parts.append(inner)
        elif a != b:
            parts.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return "; ".join(parts)


@torch.no_grad()
def _accuracy(predict, cache_path: str, *, device: torch.device, batch_size: int) -> float:
    """Accuracy of ``predict(x) -> logits`` on every labelled item of a cache."""
    cache = open_cache(cache_path)
    labels = cache.labels
    known = np.flatnonzero(labels >= 0)
    correct = 0
    for lo in range(0, known.size, batch_size):
        idx = known[lo : lo + batch_size]
        x = torch.from_numpy(cache.batch(idx)[0]).unsqueeze(1).to(device)
        correct += int((predict(x).argmax(dim=1).cpu().numpy() == labels[idx]).sum())
    return correct / max(known.size, 1)


# ---------------------------------------------------------------------------------------------------
# GAAE


class GAAETrainer:
    """Holds the GAAE, its optimisers and data; ``train_step`` runs one iteration.

    Parameters
    ----------
    model_config, train : ModelConfig, TrainConfig
    data : TrainingData
    device : torch.device
    dist_info : DistInfo
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
        groups = _g_param_groups(m, train)
        self.opt_g = torch.optim.Adam(groups, lr=train.lr_g, betas=betas, eps=train.adam_eps)
        self.opt_d = torch.optim.Adam(
            self.model.discriminator_parameters(), lr=train.lr_d, betas=betas, eps=train.adam_eps
        )
        self.ema = copy.deepcopy(self.model.decoder).eval() if train.ema_decay > 0 else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        self.autocast = _autocast(train, device)
        self._held: torch.Tensor | None = None
        self._dx_real_weight = _labelled_weight(train, data)

    # -- state ----------------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        out = {
            "encoder": self.model.encoder,
            "decoder": self.model.decoder,
            "classifier": self.model.classifier,
            "d_x": self.model.d_x,
            "d_latent": self.model.d_latent,
        }
        if self.ema is not None:
            out["ema_decoder"] = self.ema
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
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
            with torch.no_grad(), _frozen_statistics(m.encoder, self.cfg.s_norm == "whiten"):
                z, s = m.encoder(batch["x"])
                y_hat = _one_hot(m.classifier(z).argmax(dim=1), k)
                y_r = _one_hot(batch["y_r"], k)
                x_rec = m.decoder(s, y_hat)
                x_gen = m.decoder(batch["s_prior"] if self.train.gen_latent == "prior" else s, y_r)
            real = m.d_x(torch.cat([batch["x"], batch["x_l"]]), torch.cat([y_hat, _one_hot(batch["y_l"], k)]))
            fake_rec = m.d_x(x_rec, y_hat)
            fake_gen = m.d_x(x_gen, y_r)
            n_u = batch["x"].shape[0]
            hinge_real = F.relu(1.0 - real)
            w = self._dx_real_weight  # weight of one guidance pair relative to one unlabelled pair
            real_term = (hinge_real[:n_u].sum() + w * hinge_real[n_u:].sum()) / (n_u + w * (len(real) - n_u))
            loss_x = real_term + 0.5 * (F.relu(1.0 + fake_rec).mean() + F.relu(1.0 + fake_gen).mean())
            loss_lat = hinge_d(m.d_latent(batch["s_prior"]), m.d_latent(s))
        metrics = {
            "loss/d_x": loss_x.item(),
            "loss/d_latent": loss_lat.item(),
            "d_x/real": real.float().mean().item(),
            "d_x/fake": 0.5 * (fake_rec.float().mean() + fake_gen.float().mean()).item(),
        }
        return loss_x + loss_lat, metrics

    def loss_weights(self) -> dict[str, float]:
        """The factor of each named term in the E/G/C objective (keys as in the log's ``loss/*``)."""
        t = self.train
        return {
            "gen": t.psi * t.alpha,
            "rec": t.psi * (1 - t.alpha) * t.lambda_rec,
            "cls_lab": t.omega * t.g1,
            "cls_gen": t.omega * t.g2,
            "lat": t.omega * t.g3,
        }

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
        """The weighted terms of the E/G/C objective (keys as :meth:`loss_weights`) and metrics."""
        m, t, k = self.model, self.train, self.data.n_classes
        with self.autocast:
            h = m.encoder.trunk(batch["x"])
            z, s = m.encoder.head_z(h), m.encoder.head_s(scale_grad(h, t.s_trunk_grad))
            with torch.no_grad():
                y_hat = _one_hot(m.classifier(z).argmax(dim=1), k)
            y_r = _one_hot(batch["y_r_g"], k)
            x_rec = m.decoder(s, y_hat)
            x_gen = m.decoder(batch["s_prior_g"] if t.gen_latent == "prior" else s, y_r)
            l_gen = 0.5 * (-m.d_x(x_rec, y_hat).mean() - m.d_x(x_gen, y_r).mean())
            l_rec = F.mse_loss(x_rec.float(), batch["x"].float())
            logits_l = m.classifier(m.encoder.encode_z(batch["x_l_aug"]))
            l_cls_lab = F.cross_entropy(logits_l.float(), batch["y_l"])
            logits_g = m.classifier(m.encoder.encode_z(x_gen.detach()))
            l_cls_gen = F.cross_entropy(logits_g.float(), batch["y_r_g"])
            acc_gen = (logits_g.argmax(1) == batch["y_r_g"]).float().mean().item()
            # the gate: L_cls,gen counts once C classifies generated samples better than chance
            gate_open = acc_gen >= 1.0 / k + t.cls_gen_gate * (1.0 - 1.0 / k) if t.cls_gen_gate > 0 else True
            l_lat = -m.d_latent(s).mean()
            w = self.loss_weights()
            terms = {
                "gen": w["gen"] * l_gen,
                "rec": w["rec"] * l_rec,
                "cls_lab": w["cls_lab"] * l_cls_lab,
                "cls_gen": w["cls_gen"] * l_cls_gen * float(gate_open),
                "lat": w["lat"] * l_lat,
            }
        metrics = {
            "loss/gen": l_gen.item(),
            "loss/rec": l_rec.item(),
            "loss/cls_lab": l_cls_lab.item(),
            "loss/cls_gen": l_cls_gen.item(),
            "loss/lat": l_lat.item(),
            "acc/labelled_batch": (logits_l.argmax(1) == batch["y_l"]).float().mean().item(),
            "acc/gen_batch": acc_gen,
            "gate/cls_gen": float(gate_open),
        }
        return terms, metrics

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
        self.opt_d.step()
        # E/G/C step (D frozen: its weights get no gradient)
        m.d_x.requires_grad_(False)
        m.d_latent.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        shares = step % self.train.health_every == 0 or step == self.train.steps
        g_total, g_metrics = self.g_loss(batch, shares=shares)
        g_total.backward()
        average_gradients(m.generator_parameters(), self.dist)
        self.opt_g.step()
        m.d_x.requires_grad_(True)
        m.d_latent.requires_grad_(True)
        metrics.update(g_metrics)
        if self.ema is not None:
            self._update_ema(step)
        return metrics

    def _update_ema(self, step: int) -> None:
        _update_ema(self.ema, self.model.decoder, self.train, step)

    def held_batch(self, n: int = 128) -> torch.Tensor:
        """A fixed seeded batch of up to ``n`` training items (read once), for :meth:`health`."""
        if self._held is None:
            pool = self.data.unlabelled
            rng = np.random.default_rng([self.train.seed, _STREAM_HEALTH])
            idx = np.sort(rng.choice(pool, size=min(n, pool.size), replace=False))
            self._held = self.data.get(idx).to(self.device)
        return self._held

    def health(self, step: int) -> dict[str, float]:
        """Training health on the held batch (:func:`gaae_models.health.gaae_health`), keys
        ``health/*``; no network's state changes."""
        m = self.model
        out = gaae_health(
            encoder=m.encoder,
            decoder=self.ema if self.ema is not None else m.decoder,
            classifier=m.classifier,
            x=self.held_batch(),
            n_classes=self.data.n_classes,
            seed=int(np.random.SeedSequence([self.train.seed, step, _STREAM_HEALTH]).generate_state(1)[0]),
            autocast=lambda: _autocast(self.train, self.device),
        )
        return {f"health/{key}": value for key, value in out.items()}

    # -- evaluation and samples -------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits C(E_z(x)) for spectrograms (B, 1, F, T)."""
        self.model.eval()
        with self.autocast:
            z, _ = self.model.encoder(x)
            return self.model.classifier(z).float()

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, *, seed: int) -> torch.Tensor:
        """G(s, y) for s ~ N(0, I) drawn from ``seed`` and the given labels: (B, 1, F, T) in [-1, 1]."""
        decoder = self.ema if self.ema is not None else self.model.decoder
        decoder.eval()
        s = torch.randn(labels.shape[0], self.cfg.s_dim, generator=torch.Generator().manual_seed(seed))
        with self.autocast:
            x = decoder(s.to(self.device), _one_hot(labels.to(self.device), self.data.n_classes))
        return x.float()


# ---------------------------------------------------------------------------------------------------
# simple CNN


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
        use_bf16 = train.amp == "bf16" or (train.amp == "auto" and device.type == "cuda")
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"cnn": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def make_batch(self, step: int) -> Batch:
        """The labelled minibatch of ``step`` (:func:`gaae_models.batches.cnn_batch`) on the device."""
        return to_device(batch_maker("cnn", self.data, self.train, 0, self.dist.rank)(step), self.device)

    def train_step(self, step: int, batch: Batch | None = None) -> dict[str, float]:
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
        return {"loss/cls": loss.item(), "acc/batch": (logits.argmax(1) == y).float().mean().item()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        with self.autocast:
            return self.model(x).float()


# ---------------------------------------------------------------------------------------------------
# the BigGAN and BiGAN baselines


def _autocast(train: TrainConfig, device: torch.device) -> torch.autocast:
    use_bf16 = train.amp == "bf16" or (train.amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)


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
        self.autocast = _autocast(train, device)

    def modules(self) -> dict[str, torch.nn.Module]:
        out = {"decoder": self.decoder, "d_x": self.d_x}
        if self.ema is not None:
            out["ema_decoder"] = self.ema
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def _y(self, labels: torch.Tensor) -> torch.Tensor | None:
        return _one_hot(labels.to(self.device), self.data.n_classes) if self.conditional else None

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
            loss_g = -self.d_x(self.decoder(batch["s_prior"], y_fake), y_fake).mean()
        loss_g.backward()
        average_gradients(list(self.decoder.parameters()), self.dist)
        self.opt_g.step()
        self.d_x.requires_grad_(True)
        if self.ema is not None:
            _update_ema(self.ema, self.decoder, self.train, step)
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
        self.autocast = _autocast(train, device)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {
            "decoder": self.decoder,
            "d_x": self.d_x,
            "feature": self.feature,
            "d_joint": self.d_joint,
            "probe": self.probe,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d, "opt_probe": self.opt_probe}

    def make_batch(self, step: int) -> Batch:
        """Unlabelled ``x`` and the prior of ``step`` (:func:`gaae_models.batches.bigan_batch`)."""
        return to_device(
            batch_maker("bigan", self.data, self.train, self.cfg.z_dim, self.dist.rank)(step), self.device
        )

    def train_step(self, step: int, batch: Batch | None = None) -> dict[str, float]:
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
            loss_gen = -self.d_x(fake).mean()
            loss_bigan = self.d_joint(x, self.feature(x)).mean() - self.d_joint(fake, prior).mean()
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


def build_trainer(
    model_config: ModelConfig,
    train: TrainConfig,
    data: TrainingData,
    *,
    device: torch.device,
    dist_info: DistInfo | None = None,
) -> GAAETrainer | CNNTrainer | BigGANTrainer | BiGANTrainer:
    """The trainer of ``train.model``."""
    kind = train.model
    if kind == "gaae":
        return GAAETrainer(model_config, train, data, device=device, dist_info=dist_info)
    if kind == "cnn":
        return CNNTrainer(train, data, tuple(model_config.input_shape), device=device, dist_info=dist_info)
    if kind in ("biggan-supervised", "biggan-unsupervised"):
        return BigGANTrainer(
            model_config,
            train,
            data,
            conditional=kind == "biggan-supervised",
            device=device,
            dist_info=dist_info,
        )
    return BiGANTrainer(model_config, train, data, device=device, dist_info=dist_info)


# ---------------------------------------------------------------------------------------------------
# the entry point


def _write_samples(
    trainer: Any, run: _Run, step: int, cache_path: str, *, health: dict[str, float] | None = None
) -> None:
    """A PNG grid of generated spectrograms (every class for conditional models) and a few WAVs."""
    import audiospec
    from audiospec.plotting import plot_spectrogram_grid

    cache = open_cache(cache_path)
    conditional = getattr(trainer, "conditional", not isinstance(trainer, BiGANTrainer))
    k = trainer.data.n_classes if conditional else 0
    names = trainer.data.label_names
    if k >= 2:
        per_class = max(1, min(4, 16 // k))
        labels = torch.arange(k).repeat_interleave(per_class)
        titles = [names[int(y)] for y in labels]
        n_cols = per_class if per_class > 1 else min(k, 5)  # one per class: rows of 5, not a column
        picks = [
            int(np.flatnonzero(labels.numpy() == c)[0]) for c in range(min(trainer.train.n_sample_wavs, k))
        ]
        wav_names = [names[c] for c in range(len(picks))]
    else:
        labels = torch.zeros(16, dtype=torch.long)
        titles = [f"sample {i}" for i in range(16)]
        n_cols = 4
        picks = list(range(min(trainer.train.n_sample_wavs, 16)))
        wav_names = [f"sample{i}" for i in picks]
    x = trainer.generate(labels, seed=trainer.train.seed + 12345).squeeze(1).cpu().numpy()
    folder = os.path.join(run.dir, "samples")
    plot_spectrogram_grid(
        x,
        os.path.join(folder, f"step-{step:07d}.png"),
        titles=titles,
        config=cache.config,
        vmin=-1,
        vmax=1,
        n_cols=n_cols,
        suptitle=f"step {step}" + (f": {format_health(health)}" if health else ""),
        colorbar_label="normalised log-magnitude",
    )
    if picks:
        audio = audiospec.reconstruct(x[picks], config=cache.config, stats=cache.stats, n_iter=16, rng=0)
        for name, y in zip(wav_names, audio, strict=True):
            audiospec.write_wav(
                os.path.join(folder, f"step-{step:07d}-{name}.wav"), y, sample_rate=cache.config.sample_rate
            )


#: Progress-bar losses of each model kind.
_BAR_KEYS = {
    "gaae": ("loss/d_x", "loss/gen", "loss/rec", "loss/cls_lab"),
    "cnn": ("loss/cls", "acc/batch"),
    "biggan-supervised": ("loss/d_x", "loss/gen"),
    "biggan-unsupervised": ("loss/d_x", "loss/gen"),
    "bigan": ("loss/d_x", "loss/d_joint", "loss/gen", "loss/bigan"),
}


def fit(
    cache_path: str,
    out_dir: str,
    *,
    model_config: ModelConfig,
    train: TrainConfig,
    device: str = "auto",
    resume: bool = False,
    eval_cache: str | None = None,
    preset: str | None = None,
    progress: bool = True,
    tensorboard: str | None = None,
) -> dict[str, Any]:
    """Train a GAAE or the simple CNN on an audiospec cache; returns a summary dict.

    Writes into ``out_dir``: ``config.json`` (everything needed to reproduce the run), ``log.jsonl``
    (every named loss at every step, and evaluations), ``checkpoints/`` (atomic, resumable),
    ``samples/`` (PNG grids and WAVs, GAAE only), ``log.png`` (the logged losses and health
    against the step, redrawn at every checkpoint) and ``summary.json``. With ``tensorboard`` (a
    folder; needs the tensorboard package), every logged number also goes to TensorBoard.
    """
    dev = _resolve_device(device)
    dist_info = init_distributed(dev.type)
    if dist_info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", dist_info.local_rank)
        torch.cuda.set_device(dev)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = prepare_data(cache_path, train)
    if data.n_classes >= 2:
        model_config = model_config.replace(n_classes=data.n_classes)
    cache = data.sources[0].cache
    if tuple(model_config.input_shape) != tuple(cache.config.shape):
        raise ConfigError(
            f"model input_shape={model_config.input_shape} but the cache holds "
            f"{cache.config.shape} spectrograms"
        )
    record = {
        "format_version": RUN_FORMAT_VERSION,
        "model_kind": train.model,
        "preset": preset,
        "model": model_config.to_dict(),
        "train": train.to_dict(),
        "train_compare": train.compare_dict(),
        "departures_from_paper": departures_from_paper(model_config, train),
        "data": data.description,
        "data_compare": {k: data.description[k] for k in ("cache_items", "label_names", "n_labelled")},
        "labelled_indices": data.labelled.tolist(),
        "audio_config": cache.config.to_dict(),
        "eval_cache": os.path.abspath(eval_cache) if eval_cache else None,
        "device": str(dev),
        "world_size": dist_info.world_size,
        "versions": _versions(),
        "command": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if train.model in ("gaae", "bigan") and not (
        resume and os.path.exists(os.path.join(out_dir, "config.json"))
    ):
        model_config.check_trainable()  # new runs only: old runs with rank-deficient latents still resume
    run = _Run(out_dir, record, resume=resume, dist_info=dist_info, tensorboard=tensorboard)
    trainer = build_trainer(model_config, train, data, device=dev, dist_info=dist_info)
    if train.compile:
        if train.model != "gaae":
            raise ConfigError(f"compile=true is implemented for the GAAE only (model={train.model!r})")
        from gaae_models.compiling import compile_gaae

        compile_gaae(trainer)
    start_step = 0
    if resume:
        path = resume_checkpoint(run.dir)  # the newest intact checkpoint; damaged ones are skipped
        if path is not None:
            meta = load_checkpoint(
                path, modules=trainer.modules(), optimizers=trainer.optimizers(), map_location=dev
            )
            start_step = int(meta["step"])
        run.truncate_log(start_step)
    meta = {
        "model_kind": train.model,
        "model": model_config.to_dict(),
        "train": train.to_dict(),
        "label_names": data.label_names,
        "audio_config": cache.config.to_dict(),
        "stats": cache.stats.to_dict(),
        "versions": record["versions"],
    }
    started = time.perf_counter()
    # redrawn on a terminal, one line per update (at most every 5 s) in a log
    bar = progress_bar(
        train.steps,
        initial=start_step,
        enabled=progress and dist_info.is_main,
        desc=f"gaae fit ({train.model})",
        unit="step",
    )
    last_eval = None
    last_health: dict[str, float] = {}
    metrics: dict[str, float] = {}
    steps = range(start_step + 1, train.steps + 1)
    latent_dim = model_config.z_dim if train.model == "bigan" else model_config.s_dim
    batches = step_batches(
        batch_maker(train.model, trainer.data, train, latent_dim, dist_info.rank),
        steps,
        workers=loader_workers(train, dev),
        pin_memory=dev.type == "cuda",
    )
    for step, batch in zip(steps, batches, strict=True):
        t0 = time.perf_counter()
        metrics = trainer.train_step(step, batch=to_device(batch, dev))
        metrics = {k: float(v) for k, v in metrics.items()}
        if any(not math.isfinite(v) for v in metrics.values()):
            raise ConfigError(f"step {step}: a loss is not finite ({metrics}); lower the learning rates")
        run.log({"step": step, **metrics, "time/step": time.perf_counter() - t0})
        if (
            hasattr(trainer, "health")
            and dist_info.is_main
            and (step % train.health_every == 0 or step == train.steps)
        ):
            last_health = trainer.health(step)
            run.log({"step": step, **last_health})
            bar.write(f"step {step}: {format_health(last_health)}")
        if step % train.log_every == 0 or step == train.steps:
            keys = _BAR_KEYS[train.model]
            bar.set_postfix({k.split("/")[1]: f"{metrics[k]:.3f}" for k in keys})
        bar.update(1)
        if step == train.steps and hasattr(trainer, "finish"):
            finish_metrics = trainer.finish()  # the BiGAN probe, on every rank (same data and seed)
            run.log({"step": step, **finish_metrics})
            metrics.update(finish_metrics)
        can_eval = hasattr(trainer, "predict") and (train.model != "bigan" or step == train.steps)
        if (
            eval_cache
            and can_eval
            and (step % train.eval_every == 0 or step == train.steps)
            and dist_info.is_main
        ):
            last_eval = _accuracy(trainer.predict, eval_cache, device=dev, batch_size=train.eval_batch_size)
            run.log({"step": step, "eval/accuracy": last_eval})
            bar.write(f"step {step}: test accuracy {last_eval:.4f}")
        if (
            train.model != "cnn"
            and (step % train.sample_every == 0 or step == train.steps)
            and dist_info.is_main
        ):
            _write_samples(trainer, run, step, cache_path, health=last_health)
        if (step % train.checkpoint_every == 0 or step == train.steps) and dist_info.is_main:
            save_checkpoint(
                run.dir, step, modules=trainer.modules(), optimizers=trainer.optimizers(), meta=meta
            )
            run.plot()
        barrier(dist_info)
    bar.close()
    run.close()
    summary = {
        "steps": train.steps,
        "resumed_from": start_step,
        "seconds": time.perf_counter() - started,
        "final_metrics": metrics or None,
        "eval_accuracy": last_eval,
        "health": last_health or None,
        "run_dir": run.dir,
    }
    if dist_info.is_main:
        with open(os.path.join(run.dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary
