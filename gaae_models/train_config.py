"""Typed training configuration: defaults from the paper, overrides from a file or the command line."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass
from typing import Any

from gaae_models.errors import ConfigError

__all__ = ["TrainConfig", "MODEL_KINDS", "load_overrides", "parse_set_options"]

#: What ``gaae fit --model`` trains: the GAAE and the paper's baselines (appendix A-A..A-C, A-E).
MODEL_KINDS: tuple[str, ...] = ("gaae", "cnn", "biggan-supervised", "biggan-unsupervised", "bigan")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Loss weights use the project's names (model.md section 4).

    The GAAE's E/G/C objective is
    ``psi * [alpha * L_gen + (1 - alpha) * lambda_rec * L_rec]
    + omega * [g1 * L_cls_lab + g2 * L_cls_gen + g3 * L_lat]``.
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
    g1: float = 0.25
    g2: float = 0.25
    g3: float = 0.5
    # EMA of G (0 disables it)
    ema_decay: float = 0.0
    ema_start: int = 1000
    # the simple CNN (its learning rate is lost in the paper text; 1e-3 with Adam(0.9, 0.999))
    cnn_lr: float = 1e-3
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
    sample_every: int = 500
    checkpoint_every: int = 500
    n_sample_wavs: int = 3
    eval_batch_size: int = 64
    in_memory: bool = False
    amp: str = "auto"  #: "auto" (bf16 on CUDA, fp32 on CPU), "bf16" or "off"

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
            "eval_batch_size",
            "probe_steps",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
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
        for name in ("lambda_rec", "psi", "omega", "g1", "g2", "g3"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 0")
        if not (0.0 <= self.ema_decay < 1.0):
            raise ConfigError(f"ema_decay={self.ema_decay!r} must be in [0, 1) (0 disables the EMA)")
        if self.labelled_fraction is not None and not (0.0 < self.labelled_fraction <= 1.0):
            raise ConfigError(f"labelled_fraction={self.labelled_fraction!r} must be in (0, 1]")
        if self.labelled_fraction is not None and self.labelled_cache is not None:
            raise ConfigError("give labelled_fraction or labelled_cache, not both")
        if self.amp not in ("auto", "bf16", "off"):
            raise ConfigError(f"amp={self.amp!r} must be 'auto', 'bf16' or 'off'")
        if self.n_sample_wavs < 0:
            raise ConfigError(f"n_sample_wavs={self.n_sample_wavs!r} must be >= 0")

    @property
    def labelled_batch(self) -> int:
        return self.labelled_batch_size or self.batch_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; valid options are {sorted(known)}")
        return cls(**data)

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
