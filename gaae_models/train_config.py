"""Typed training configuration: defaults from the paper, overrides from a file or the command line."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass
from typing import Any

from gaae_models.config import PAPER_MODEL_SETTINGS, ModelConfig
from gaae_models.errors import ConfigError
from gaae_models.kinds import KINDS

__all__ = [
    "TrainConfig",
    "MODEL_KINDS",
    "LEGACY_TRAIN_DEFAULTS",
    "PAPER_TRAIN_SETTINGS",
    "CNN_TRAIN_FIELDS",
    "BOOKKEEPING_FIELDS",
    "load_overrides",
    "parse_set_options",
    "departures_from_paper",
]

#: What ``gaae fit --model`` trains: the GAAE and the paper's baselines (appendix A-A..A-C, A-E).
MODEL_KINDS: tuple[str, ...] = tuple(KINDS)  #: the names of gaae_models.kinds.KINDS, in order

#: The paper's settings for every training field whose default departs from it (``--paper-settings``).
PAPER_TRAIN_SETTINGS: dict[str, Any] = {
    "gen_latent": "encoder",
    "fresh_g_draws": False,
    "guidance_augment": False,
    "cls_gen_gate": 0.0,
    "c_beta1": None,
    "lr_c": None,
    "ez_beta1": None,
    "lr_ez": None,
    "s_trunk_grad": 1.0,
    "g1": 0.25,
    "dx_labelled_weight": 1.0,
    "ema_encoder_decay": 0.0,
    "g4": 0.0,
    "cnn_ema_decay": 0.0,
    "grad_clip": None,
    "grad_clip_d": None,
    "whiten_standing_items": 0,
}

#: Fields of :data:`PAPER_TRAIN_SETTINGS` that only the simple CNN reads (the others only the GAAE).
CNN_TRAIN_FIELDS: tuple[str, ...] = ("cnn_ema_decay",)

#: Values that runs stored before these fields existed had implicitly (format-1 runs).
LEGACY_TRAIN_DEFAULTS: dict[str, Any] = dict(PAPER_TRAIN_SETTINGS)

#: Fields that do not change what is learned (logging, checkpoints, memory): a resumed run may change them.
BOOKKEEPING_FIELDS: tuple[str, ...] = (
    "steps",
    "log_every",
    "eval_every",
    "sample_every",
    "checkpoint_every",
    "health_every",
    "n_sample_wavs",
    "eval_batch_size",
    "in_memory",
    "loader_workers",
)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Loss weights use the project's names (model.md section 4).

    The GAAE's E/G/C objective is
    ``psi * [alpha * L_gen + (1 - alpha) * lambda_rec * L_rec]
    + omega * [g1 * L_cls_lab + g2 * L_cls_gen + g3 * L_lat + g4 * L_cls_pseudo]``
    (the last term is not in the paper; ``g4=0`` leaves it out).

    Departures from the paper (defaults; :data:`PAPER_TRAIN_SETTINGS` restores the paper's values,
    ``gaae fit --paper-settings`` applies them with the architecture's):

    ``gen_latent="prior"``
        x_gen = G(s_prior, y_c) with s_prior ~ N(0, I) (the paper: G(E_s(x), y_c)), so that G and
        its batch-norm statistics are trained on the path that sampling uses.
    ``fresh_g_draws=True``
        The E/G/C step draws its own s_prior and y_c instead of reusing the D step's (BigGAN).
    ``cls_gen_gate=0.25``
        L_cls,gen counts only at steps where C already classifies the batch of generated samples
        better than chance: accuracy >= 1/K + gate * (1 - 1/K). Before that it carries no label
        information and only adds noise to E_z.
    ``c_beta1=0.9``, ``lr_c=1e-2``
        Adam beta1 and learning rate of the classifier C (its own parameter group); the other
        networks keep ``beta1`` and ``lr_g``. C, a small MLP trained on 5 % of the labels, underfits
        at the paper's 1e-4 while E's trunk moves slowly: on a finished run (instruments, 46
        labelled items), C itself reached 0.49 on the test split, a logistic regression on its
        frozen z trained on the same 46 items 0.74, and a fresh C on that z 0.48 / 0.62 / 0.69 at
        lr 1e-4 (beta1 0) / 1e-3 / 1e-2. In training (seed 0, 300 steps): 0.49 with lr_c = 1e-3
        and SpecAugment on the guidance batch, 0.70 / 0.70 with lr_c = 3e-3 / 1e-2 without it.
    ``guidance_augment=False`` (as the paper)
        SpecAugment on the guidance batch x_l is available but off: on frozen features it cost C
        6-12 points (0.62 -> 0.56 at lr 1e-3, 0.69 -> 0.57 at 1e-2).
    ``g1=4.0``
        The weight of L_cls,lab (the paper: 0.25): 2.0 against 4.0 for reconstruction. Measured on
        instruments at 200 steps (one seed each): test accuracy of C 0.50 with the paper's 0.25 and
        C at 1e-4, 0.57 / 0.56 / 0.59 with lr_c = 1e-3 and g1 = 1 / 4 / 16.
    ``ema_encoder_decay=0.99``
        E and C are also kept as an exponential moving average of their weights (decay
        ``min(0.99, (1 + t) / (10 + t))`` at step t, so the first steps do not linger; E_s's
        whitening instead tracks the average's own codes of each step's real batch); the
        averages are what predicts, evaluates, is checkpointed as ``ema_encoder`` / ``ema_classifier`` and is
        published (:func:`gaae_models.runs.load_run` reads them; ``use_ema=False`` the live
        networks). C fits its few labels through the whole run while E_z moves under the GAN
        game, so its test accuracy at any one step swings by 10-20 points (instruments, seed 4:
        0.640 at step 200, 0.413 at step 300); the average does not (0.605 at step 300).
    ``cnn_ema_decay=0.99`` (the simple CNN, ``model="cnn"``)
        The CNN baseline is averaged like E and C (same schedule), so that both sides of the
        accuracy comparison are read from an average: the live CNN's test accuracy swings by up to
        40 points between evaluations 50 steps apart (instruments, every label, seed 1: 0.503 at
        step 200, 0.906 at step 300). ``ema_cnn`` in checkpoints; ``load_run(..., use_ema=False)``
        gives the live CNN.
    ``dx_labelled_weight=None``
        Weight of the guidance pairs (x_l, y_l) in D_x's real term: ``None`` weighs them by their
        share of the data (the paper concatenates both batches, 1.0, which makes a 5 % labelled set
        about half of D_x's real samples).

    Pseudo-labels (``g4``, ``pseudo_threshold``, ``pseudo_augment``): L_cls_pseudo is the
    cross-entropy of the live C(E_z(SpecAugment(x))) on the unlabelled batch against the top class of
    the average of E and C (the teacher, ``ema_encoder_decay`` > 0) on the clean x, counted for the
    items whose top probability is at least ``pseudo_threshold`` and divided by the batch size
    (FixMatch, Sohn et al. 2020, with the Mean Teacher's average as the teacher). It is how the
    unlabelled 95 % send label information into E's trunk; the paper's objective has none.

    ``grad_clip=1000.0``, ``grad_clip_d=50.0`` (the paper does not clip)
        The global gradient norm of each Adam step is clipped to the value before the step: E, G and
        C (``grad_clip``), D_x and D_latent (``grad_clip_d``); the pre-clip norms are logged as
        ``grad_norm/g`` and ``grad_norm/d``. E_s's whitening makes the first ~10 steps' gradients
        ~1e12 times the later ones (a norm of ~8e14 at step 1, 1e2-1e3 from step 12 on, ``cpu``
        preset); Adam's second moment keeps that for thousands of steps, and without clipping E's
        trunk moved by 0.1-0.3 % of its weights in a 300-step run (10x that with clipping). Adam is
        invariant to a constant scale of the gradient, so a bound below the steady norms (another
        preset, another batch size) only evens out the step sizes. Measured over 3 seeds (300 x 8):
        instruments C -0.007 +- 0.017 and speech C +0.013 paired against no clipping, speaker gender
        from s +0.022 +- 0.018 (benchmarks/README.md, section 16).
    ``whiten_standing_items=512`` (the paper has no whitening)
        The average's E_s whitening is refitted to its codes of that many training items (not those
        of the held health batch) at every health, checkpoint and final step ("standing
        statistics"). Its running estimate lags a trunk that learns; with clipping the average's s
        was 0.5-1.3 whitened units off zero per dimension and the two-sample test read 0.93-1.0, and
        0.56-0.68 after the refit on 512 items. Training never reads the average's whitening. Costs
        one pass of the average encoder over the items per health step. Skipped (the running
        estimate stays) when the training set leaves fewer than 4 items per dimension of s outside
        the held batch: fitted to ``gaae demo``'s 172 items, 128 dimensions, it inflated the held
        batch's E_s to a std of 3.7 (twelfth session).
    """

    model: str = "gaae"  #: one of MODEL_KINDS
    steps: int = 2000
    batch_size: int = 16  #: unlabelled batch (and the CNN's batch)
    labelled_batch_size: int | None = None  #: default: batch_size
    seed: int = 0
    # optimiser (project convention: SA-GAN pair, Adam betas (0, 0.999))
    lr_g: float = 1e-4  #: E, G and C
    lr_d: float = 4e-4  #: D_x and D_latent
    beta1: float = 0.0
    beta2: float = 0.999
    adam_eps: float = 1e-8
    # loss weights (paper III-B and VI)
    lambda_rec: float = 20.0
    alpha: float = 0.6
    psi: float = 0.5
    omega: float = 0.5
    g1: float = 4.0  #: the paper: 0.25
    g2: float = 0.25
    g3: float = 0.5
    #: weight of L_cls,pseudo (not in the paper; 0 disables it): cross-entropy of C(E_z(x)) on the
    #: unlabelled batch against the average's confident predictions (``pseudo_threshold``)
    g4: float = 0.0
    pseudo_threshold: float = 0.95
    pseudo_augment: bool = True  #: the student reads SpecAugment(x), the teacher x (FixMatch)
    # departures from the paper (see the class docstring and PAPER_TRAIN_SETTINGS)
    gen_latent: str = "prior"  #: "prior" or "encoder" (paper)
    fresh_g_draws: bool = True
    guidance_augment: bool = False  #: SpecAugment on the guidance batch (measured to hurt C)
    cls_gen_gate: float = 0.25
    c_beta1: float | None = 0.9
    lr_c: float | None = 1e-2  #: learning rate of C (its own group); None: lr_g
    #: Adam beta1 / learning rate of E_z's path, E's trunk and head_z (their own group); None: G's
    ez_beta1: float | None = None
    lr_ez: float | None = None
    #: factor on the gradient that the style path (s: L_rec, L_gen, L_lat) sends into E's trunk
    s_trunk_grad: float = 1.0
    dx_labelled_weight: float | None = None
    #: EMA (Polyak average) of the encoder E and the classifier C, used to predict, evaluate and
    #: publish; decay min(ema_encoder_decay, (1 + t) / (10 + t)) at step t; 0 disables it
    ema_encoder_decay: float = 0.99
    #: clip the global gradient norm of E, G and C (grad_clip) and of D_x and D_latent (grad_clip_d)
    #: to this before their Adam steps; None: no clipping (the paper). The pre-clip norms are logged
    #: as grad_norm/g and grad_norm/d
    grad_clip: float | None = 1000.0
    grad_clip_d: float | None = 50.0
    #: the average's E_s whitening is refitted to its codes of this many training items (outside the
    #: held health batch) at every health, checkpoint and final step; 0: the running estimate only
    whiten_standing_items: int = 512
    # EMA of G (0 disables it)
    ema_decay: float = 0.0
    ema_start: int = 1000
    # the simple CNN (its learning rate is lost in the paper text; 1e-3 with Adam(0.9, 0.999))
    cnn_lr: float = 1e-3
    #: EMA (Polyak average) of the CNN's weights and statistics, used to predict, evaluate and publish,
    #: with the GAAE's schedule: decay min(cnn_ema_decay, (1 + t) / (10 + t)) at step t; 0 disables it
    cnn_ema_decay: float = 0.99
    spec_augment: bool = True
    # the BiGAN probe: a dense classifier on the frozen feature extractor, trained after the BiGAN
    probe_steps: int = 300
    probe_lr: float = 1e-3
    # labelled subset
    labelled_fraction: float | None = None
    labelled_cache: str | None = None
    # bookkeeping
    log_every: int = 10
    eval_every: int = 200
    health_every: int = 50  #: training-health measurements (log keys health/*)
    sample_every: int = 500
    checkpoint_every: int = 500
    n_sample_wavs: int = 3
    eval_batch_size: int = 64
    in_memory: bool = False
    #: DataLoader worker processes that prefetch the batches (gaae_models.batches.loader_workers);
    #: None: 0 on a CPU or with in_memory, up to 4 on a GPU. The batches are the same either way.
    loader_workers: int | None = None
    amp: str = "auto"  #: "auto" (bf16 on CUDA, fp32 on CPU), "bf16" or "off"
    #: torch.compile the GAAE's networks (gaae_models.compiling.compile_gaae; spectral norm then runs
    #: one power iteration per step instead of one per forward)
    compile: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ConfigError(f"model={self.model!r} must be one of {', '.join(MODEL_KINDS)}")
        for name in (
            "steps",
            "batch_size",
            "log_every",
            "eval_every",
            "sample_every",
            "checkpoint_every",
            "health_every",
            "eval_batch_size",
            "probe_steps",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if self.loader_workers is not None and (
            isinstance(self.loader_workers, bool)
            or not isinstance(self.loader_workers, int)
            or self.loader_workers < 0
        ):
            raise ConfigError(
                f"loader_workers={self.loader_workers!r} must be null (auto) or an integer >= 0"
            )
        if self.labelled_batch_size is not None and (
            isinstance(self.labelled_batch_size, bool)
            or not isinstance(self.labelled_batch_size, int)
            or self.labelled_batch_size <= 0
        ):
            raise ConfigError(f"labelled_batch_size={self.labelled_batch_size!r} must be a positive integer")
        for name in ("lr_g", "lr_d", "cnn_lr", "probe_lr", "adam_eps"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) > 0):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a positive number")
        for name in ("beta1", "beta2", "alpha"):
            if not (0.0 <= getattr(self, name) <= 1.0) or (name == "beta2" and self.beta2 == 1.0):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be in [0, 1)")
        for name in ("lambda_rec", "psi", "omega", "g1", "g2", "g3", "g4"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 0")
        for name in ("ema_decay", "ema_encoder_decay", "cnn_ema_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0):
                raise ConfigError(f"{name}={value!r} must be in [0, 1) (0 disables the EMA)")
        if not (isinstance(self.pseudo_threshold, (int, float)) and 0.0 < self.pseudo_threshold < 1.0):
            raise ConfigError(f"pseudo_threshold={self.pseudo_threshold!r} must be in (0, 1)")
        if self.g4 > 0 and self.ema_encoder_decay == 0:
            raise ConfigError(
                f"g4={self.g4!r} needs the average of E and C as its teacher: ema_encoder_decay must be > 0"
            )
        if self.labelled_fraction is not None and not (0.0 < self.labelled_fraction <= 1.0):
            raise ConfigError(f"labelled_fraction={self.labelled_fraction!r} must be in (0, 1]")
        if self.labelled_fraction is not None and self.labelled_cache is not None:
            raise ConfigError("give labelled_fraction or labelled_cache, not both")
        if self.amp not in ("auto", "bf16", "off"):
            raise ConfigError(f"amp={self.amp!r} must be 'auto', 'bf16' or 'off'")
        if self.gen_latent not in ("prior", "encoder"):
            raise ConfigError(f"gen_latent={self.gen_latent!r} must be 'prior' or 'encoder' (the paper)")
        for name in ("fresh_g_draws", "guidance_augment", "compile", "pseudo_augment"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be true or false")
        if not (isinstance(self.cls_gen_gate, (int, float)) and 0.0 <= self.cls_gen_gate < 1.0):
            raise ConfigError(f"cls_gen_gate={self.cls_gen_gate!r} must be in [0, 1) (0 disables the gate)")
        for name in ("c_beta1", "ez_beta1"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ConfigError(f"{name}={value!r} must be null (use beta1) or in [0, 1)")
        for name in ("lr_c", "lr_ez"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"{name}={value!r} must be null (use lr_g) or a positive number")
        if not (isinstance(self.s_trunk_grad, (int, float)) and 0.0 <= self.s_trunk_grad <= 1.0):
            raise ConfigError(f"s_trunk_grad={self.s_trunk_grad!r} must be in [0, 1] (1: the paper)")
        if self.dx_labelled_weight is not None and not (
            isinstance(self.dx_labelled_weight, (int, float)) and self.dx_labelled_weight >= 0
        ):
            raise ConfigError(
                f"dx_labelled_weight={self.dx_labelled_weight!r} must be null (share of the data) or >= 0"
            )
        for name in ("grad_clip", "grad_clip_d"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            ):
                raise ConfigError(f"{name}={value!r} must be null (no clipping) or a positive number")
        if (
            isinstance(self.whiten_standing_items, bool)
            or not isinstance(self.whiten_standing_items, int)
            or self.whiten_standing_items == 1
            or self.whiten_standing_items < 0
        ):
            raise ConfigError(
                f"whiten_standing_items={self.whiten_standing_items!r} must be 0 (off) or an integer >= 2"
            )
        if self.n_sample_wavs < 0:
            raise ConfigError(f"n_sample_wavs={self.n_sample_wavs!r} must be >= 0")

    @property
    def labelled_batch(self) -> int:
        return self.labelled_batch_size or self.batch_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict of fields; missing fields take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; valid options are {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config stored by a run of any format version: a field missing from ``data``
        takes its :data:`LEGACY_TRAIN_DEFAULTS` value (what runs written before it existed did)."""
        return cls.from_dict({**LEGACY_TRAIN_DEFAULTS, **data})

    def compare_dict(self) -> dict[str, Any]:
        """The fields that define what is learned (all but :data:`BOOKKEEPING_FIELDS`)."""
        return {k: v for k, v in self.to_dict().items() if k not in BOOKKEEPING_FIELDS}

    def replace(self, **overrides: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **overrides})


def load_overrides(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a config file (JSON or TOML) with optional ``[model]`` and ``[train]`` tables.

    Returns ``{"model": {...}, "train": {...}}``; unknown top-level tables are an error.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc}") from None
    try:
        data = tomllib.loads(raw.decode()) if path.endswith(".toml") else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path!r} is not valid {'TOML' if path.endswith('.toml') else 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict) or set(data) - {"model", "train", "preset"}:
        raise ConfigError(
            f"config file {path!r} may only hold the tables 'model', 'train' and the key 'preset'"
        )
    return {
        "model": dict(data.get("model", {})),
        "train": dict(data.get("train", {})),
        "preset": data.get("preset"),
    }


def parse_set_options(options: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``--set model.ch=4 --set train.lr_d=2e-4`` into ``{"model": {...}, "train": {...}}``.

    Values are read as JSON when possible (numbers, booleans, null, lists), else kept as strings.
    """
    out: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for option in options:
        key, sep, value = option.partition("=")
        table, dot, name = key.partition(".")
        if not sep or not dot or table not in out or not name:
            raise ConfigError(f"--set {option!r} must look like model.FIELD=VALUE or train.FIELD=VALUE")
        try:
            out[table][name] = json.loads(value)
        except json.JSONDecodeError:
            out[table][name] = value
    return out


def departures_from_paper(model_config: ModelConfig, train: TrainConfig) -> dict[str, dict[str, Any]]:
    """The settings of a run that differ from the paper's (``{"model"|"train": {field: [paper, run]}}``)."""
    out: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for name, paper in PAPER_MODEL_SETTINGS.items():
        if getattr(model_config, name) != paper:
            out["model"][name] = [paper, getattr(model_config, name)]
    if train.model in ("gaae", "cnn"):
        for name, paper in PAPER_TRAIN_SETTINGS.items():
            if (name in CNN_TRAIN_FIELDS) == (train.model == "cnn") and getattr(train, name) != paper:
                out["train"][name] = [paper, getattr(train, name)]
    return out
