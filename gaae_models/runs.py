"""Loading a trained run folder (written by ``gaae fit``) for generation, prediction and encoding.

:func:`load_run` rebuilds the inference networks of any model kind from the run's recorded config
and its latest (or a chosen) checkpoint; :class:`TrainedRun` wraps them with numpy-in, numpy-out
methods that batch and run without gradients.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audiospec.config import SpectrogramConfig
from audiospec.preprocessor import Preprocessor
from audiospec.stats import DatasetStats
from gaae_models.checkpoint import latest_checkpoint, load_checkpoint, verify_checkpoint
from gaae_models.config import ModelConfig
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.kinds import KINDS, ModelKind

__all__ = ["TrainedRun", "load_run", "as_run", "is_run", "decoder_key", "ema_key"]


def is_run(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder written by ``gaae fit`` (it holds ``config.json`` with a model kind)."""
    config_path = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_path):
        return False
    try:
        with open(config_path) as f:
            return json.load(f).get("model_kind") in KINDS
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def _checkpoint_keys(path: str) -> set[str]:
    from safetensors import safe_open

    with safe_open(os.path.join(path, "model.safetensors"), framework="pt") as f:
        return set(f.keys())


def decoder_key(keys: set[str] | Sequence[str], *, use_ema: bool = True) -> str:
    """The checkpoint module used as the decoder: ``ema_decoder`` when kept (and wanted), else ``decoder``."""
    return ema_key(keys, "decoder", use_ema=use_ema)


def ema_key(keys: set[str] | Sequence[str], name: str, *, use_ema: bool = True) -> str:
    """The checkpoint module a network ``name`` is read from: ``ema_NAME`` when the checkpoint
    keeps that EMA copy (and it is wanted), else ``name``.

    Parameters
    ----------
    keys : set or sequence of str
        The checkpoint's tensor names (``module.parameter``).
    name : str
        A network, e.g. ``"decoder"``, ``"encoder"``, ``"classifier"``.
    use_ema : bool
        False always gives ``name``.
    """
    prefix = f"ema_{name}."
    return f"ema_{name}" if use_ema and any(k.startswith(prefix) for k in keys) else name


def _checkpoint_path(run_dir: str, checkpoint: str | os.PathLike | None) -> str:
    """The checkpoint folder: ``checkpoint`` (a folder, or a name under ``RUN/checkpoints``) or the latest."""
    if checkpoint is None:
        path = latest_checkpoint(run_dir)
        if path is None:
            raise CheckpointError(
                f"the run {run_dir} has no checkpoint yet (train it longer or wait for one)"
            )
        return path
    checkpoint = os.fspath(checkpoint)
    path = checkpoint if os.path.isdir(checkpoint) else os.path.join(run_dir, "checkpoints", checkpoint)
    if not os.path.isdir(path):
        raise CheckpointError(
            f"checkpoint={checkpoint!r} is neither a folder nor a checkpoint of {run_dir!r}"
        )
    return path


@dataclass
class TrainedRun:
    """The inference networks of a run, with the data conventions they were trained on.

    Attributes
    ----------
    run_dir : str
        Absolute path of the run folder.
    kind : str
        ``gaae``, ``cnn``, ``biggan-supervised``, ``biggan-unsupervised`` or ``bigan``.
    record : dict
        The run's ``config.json``.
    step : int
        Training step of the loaded checkpoint.
    model_config : ModelConfig
    label_names : list of str
        Class names, index = label (empty for an unlabelled unsupervised BigGAN).
    audio_config : SpectrogramConfig
    stats : DatasetStats
        The training cache's statistics (normalisation of inputs, inversion of outputs).
    modules : dict of str to torch.nn.Module
        ``encoder``/``decoder``/``classifier`` (GAAE), ``decoder`` (BigGANs), ``decoder``/``feature``/
        ``probe`` (BiGAN) or ``cnn``; in eval mode on ``device``.
    device : torch.device
    checkpoint : str
        The checkpoint folder the networks were loaded from.
    meta : dict
        Its ``meta.json``.
    """

    run_dir: str
    kind: str
    record: dict[str, Any]
    step: int
    model_config: ModelConfig
    label_names: list[str]
    audio_config: SpectrogramConfig
    stats: DatasetStats
    modules: dict[str, torch.nn.Module]
    device: torch.device
    checkpoint: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def hub_metadata(self) -> dict[str, Any]:
        """``audio_config``, ``stats`` and ``label_names`` (None if empty), as pretrained models take them."""
        return {
            "audio_config": self.audio_config,
            "stats": self.stats,
            "label_names": tuple(self.label_names) or None,
        }

    @property
    def name(self) -> str:
        """The run folder's name."""
        return os.path.basename(self.run_dir.rstrip(os.sep))

    @property
    def preprocessor(self) -> Preprocessor:
        """Audio -> the networks' input with the run's transform and training statistics."""
        return Preprocessor(config=self.audio_config, stats=self.stats)

    @property
    def model_kind(self) -> ModelKind:
        """The table entry of the run's kind (:data:`gaae_models.kinds.KINDS`)."""
        return KINDS[self.kind]

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def conditional(self) -> bool:
        """True when the generator takes a label (GAAE, supervised BigGAN)."""
        return self.model_kind.conditional

    @property
    def can_generate(self) -> bool:
        return "decoder" in self.modules

    @property
    def can_classify(self) -> bool:
        """True when the run predicts labels from spectrograms (GAAE's C, the BiGAN probe, the CNN)."""
        return self.model_kind.classifies

    @property
    def labelled_fraction(self) -> float | None:
        """The fraction of the training cache's labels used (None with a separate labelled cache)."""
        return self.record.get("data", {}).get("labelled_fraction")

    @property
    def n_labelled(self) -> int:
        return int(self.record.get("data", {}).get("n_labelled", 0))

    @property
    def train_cache(self) -> str:
        """Absolute path of the training cache recorded by the run."""
        return self.record["data"]["cache"]

    def label_index(self, name: str) -> int:
        """Index of a label name; ConfigError listing the names when unknown."""
        if name not in self.label_names:
            raise ConfigError(f"label={name!r} is not one of this run's labels {self.label_names}")
        return self.label_names.index(name)

    def _batches(self, x: np.ndarray, batch_size: int):
        data = np.asarray(x, dtype=np.float32)
        if data.ndim != 3 or data.shape[1:] != tuple(self.audio_config.shape):
            raise ConfigError(
                f"spectrograms have shape {data.shape}; this run takes (B, {self.audio_config.shape[0]}, "
                f"{self.audio_config.shape[1]})"
            )
        for lo in range(0, len(data), batch_size):
            yield torch.from_numpy(data[lo : lo + batch_size]).unsqueeze(1).to(self.device)

    @torch.inference_mode()
    def predict_logits(self, x: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Class logits (B, K) of normalised spectrograms (B, F, T): C(E_z(x)), probe(E(x)) or the CNN."""
        predict = self.model_kind.predict
        if predict is None:
            raise ConfigError(f"a {self.kind} run has no classifier")
        out = [predict(self.modules, xb) for xb in self._batches(x, batch_size)]
        return torch.cat(out).float().cpu().numpy() if out else np.zeros((0, self.n_classes), np.float32)

    @torch.inference_mode()
    def encode(self, x: np.ndarray, *, batch_size: int = 64) -> dict[str, np.ndarray]:
        """Representations of normalised spectrograms (B, F, T).

        Returns ``{"z": (B, z_dim), "s": (B, s_dim)}`` for a GAAE, ``{"e": (B, z_dim)}`` (the feature
        extractor) for a BiGAN and ``{"features": (B, 256)}`` (penultimate layer) for the CNN.
        """
        encode = self.model_kind.encode
        if encode is None:
            raise ConfigError(f"a {self.kind} run has no encoder")
        parts: dict[str, list[torch.Tensor]] = {}
        for xb in self._batches(x, batch_size):
            for key, value in encode(self.modules, xb).items():
                parts.setdefault(key, []).append(value.float().cpu())
        return {k: torch.cat(v).numpy() for k, v in parts.items()}

    def _one_hot(self, labels: np.ndarray) -> torch.Tensor | None:
        if not self.conditional:
            return None
        y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ConfigError(f"labels must lie in 0..{self.n_classes - 1} ({self.label_names})")
        return F.one_hot(y, self.n_classes).float().to(self.device)

    @torch.inference_mode()
    def decode(
        self, latents: np.ndarray, labels: np.ndarray | None = None, *, batch_size: int = 64
    ) -> np.ndarray:
        """G(latents[, labels]) as normalised spectrograms (B, F, T) in [-1, 1].

        latents : (B, s_dim) styles s (GAAE) or noise (BigGANs, BiGAN); labels : (B,) int, required
        for conditional runs and ignored otherwise.
        """
        if not self.can_generate:
            raise ConfigError(f"a {self.kind} run has no generator")
        lat = np.asarray(latents, dtype=np.float32)
        if lat.ndim != 2 or lat.shape[1] != self.model_config.s_dim:
            raise ConfigError(f"latents have shape {lat.shape}; expected (B, {self.model_config.s_dim})")
        if self.conditional:
            if labels is None or np.shape(labels) != (len(lat),):
                raise ConfigError(f"a {self.kind} run needs labels of shape ({len(lat)},)")
        out = []
        for lo in range(0, len(lat), batch_size):
            s = torch.from_numpy(lat[lo : lo + batch_size]).to(self.device)
            y = self._one_hot(labels[lo : lo + batch_size]) if self.conditional else None
            out.append(self.modules["decoder"](s, y).squeeze(1).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, *self.audio_config.shape), np.float32)

    def sample_latents(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` draws of N(0, I) of size ``s_dim`` from ``seed`` (the generators' prior), (n, s_dim)."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn(int(n), self.model_config.s_dim, generator=g).numpy()

    def generate(
        self, n: int, *, labels: np.ndarray | None = None, seed: int = 0, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` generated spectrograms (n, F, T) and their labels (n,) (-1 for unconditional runs).

        Conditional runs use ``labels`` when given (shape (n,)), else balanced labels cycling over the
        K classes; latents come from ``seed``.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n={n!r} must be a positive integer")
        if self.conditional:
            y = np.arange(n) % self.n_classes if labels is None else np.asarray(labels, dtype=np.int64)
        else:
            y = np.full(n, -1, np.int64)
        return self.decode(self.sample_latents(n, seed=seed), y, batch_size=batch_size), y


def load_run(
    run_dir: str | os.PathLike,
    *,
    checkpoint: str | None = None,
    device: str | torch.device = "cpu",
    use_ema: bool = True,
    kinds: Sequence[str] | None = None,
) -> TrainedRun:
    """Rebuild the inference networks of a run from its config and a checkpoint.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``gaae fit``.
    checkpoint : str, optional
        A checkpoint folder, or the name of one under ``RUN/checkpoints``; the run's latest when
        omitted.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a device.
    use_ema : bool
        Use the EMA copies the run kept (of G: ``ema_decay``; of E and C: ``ema_encoder_decay``).
    kinds : sequence of str, optional
        The model kinds the caller accepts [default: all]; another kind is refused before any
        checkpoint is read.

    Raises
    ------
    CheckpointError
        ``run_dir`` is not a run (or not of ``kinds``), has no checkpoint, or its checkpoint does
        not fit its config.
    """
    run_dir = os.path.abspath(os.fspath(run_dir))
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"run_dir={run_dir!r} does not exist")
    if not is_run(run_dir):
        raise CheckpointError(
            f"run_dir={run_dir!r} is not a gaae run (no config.json naming a model kind); "
            "pass a folder written by gaae fit"
        )
    try:
        with open(config_path) as f:
            record = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not valid JSON (truncated or corrupt: {exc})") from None
    kind = record["model_kind"]
    if kinds is not None and kind not in kinds:
        raise CheckpointError(
            f"run {run_dir!r} has model_kind={kind!r}; only {' or '.join(map(repr, kinds))} runs can be "
            "loaded here"
        )
    path = _checkpoint_path(run_dir, checkpoint)
    meta = verify_checkpoint(path)  # whole and uncorrupted, before any network is built
    try:
        cfg = ModelConfig.from_stored(meta["model"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}/meta.json holds an invalid model config: {exc}") from None
    label_names = list(meta.get("label_names", []))
    audio_config = SpectrogramConfig.from_dict(meta["audio_config"])
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    keys = _checkpoint_keys(path)
    networks = KINDS[kind].networks(cfg, len(label_names), tuple(audio_config.shape))
    # each network is read from its EMA copy when the run kept one (and it is wanted)
    modules = {ema_key(keys, k, use_ema=use_ema): m for k, m in networks.items()}
    loaded = load_checkpoint(path, modules=modules, map_location="cpu")
    named = {k.removeprefix("ema_"): m.to(dev).eval() for k, m in modules.items()}
    return TrainedRun(
        run_dir=run_dir,
        kind=kind,
        record=record,
        step=int(loaded["step"]),
        model_config=cfg,
        label_names=label_names,
        audio_config=audio_config,
        stats=DatasetStats.from_dict(meta["stats"]),
        modules=named,
        device=dev,
        checkpoint=path,
        meta=meta,
    )


def as_run(
    run: str | os.PathLike | TrainedRun,
    *,
    checkpoint: str | None = None,
    kinds: Sequence[str] | None = None,
) -> TrainedRun:
    """``run`` itself when it is already a :class:`TrainedRun` (of ``kinds``), else :func:`load_run` of it.

    Raises
    ------
    CheckpointError
        As :func:`load_run`; also for a loaded run of another kind, or a checkpoint given with one.
    """
    if not isinstance(run, TrainedRun):
        return load_run(run, checkpoint=checkpoint, kinds=kinds)
    if checkpoint is not None:
        raise CheckpointError(f"checkpoint={checkpoint!r} cannot be chosen for a run that is already loaded")
    if kinds is not None and run.kind not in kinds:
        raise CheckpointError(
            f"run {run.run_dir!r} has model_kind={run.kind!r}; only {' or '.join(map(repr, kinds))} runs can "
            "be loaded here"
        )
    return run
