"""Argument checks shared by the feature-extraction entry points of :mod:`gaae_models`.

Each check returns the normalised value or raises :class:`~gaae_models.errors.ConfigError` with a
message that names the argument, its value and the rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from audiospec.io import resample
from audiospec.preprocessor import Preprocessor
from gaae_models.errors import ConfigError, HubError

if TYPE_CHECKING:
    import torch

__all__ = [
    "PRECISIONS",
    "positive_int",
    "check_precision",
    "resolve_device",
    "hop_samples",
    "check_which",
    "as_waveform",
    "check_samples",
    "preprocessor_of",
    "int_at_least",
    "finite_float",
    "float_array",
    "label_array",
]

#: Compute precisions of :meth:`~gaae_models.hub_mixin.EncoderHubMixin.embed`: float32, or bfloat16
#: autocast (CPUs with AMX / AVX-512 BF16 and GPUs; about 1e-2 relative error).
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int, or ConfigError unless it is an integer >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive integer")
    return int(value)


def check_precision(precision: Any) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else ConfigError."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r} is not supported; choose one of {list(PRECISIONS)}")
    return str(precision)


def resolve_device(device: Any, fallback: torch.device) -> torch.device:
    """``None`` -> ``fallback`` (the model's device); ``"auto"`` -> cuda when available."""
    import torch

    if device is None:
        return fallback
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but CUDA is not available; use 'cpu'")
    return dev


def hop_samples(hop: Any, sample_rate: int, window: int) -> int:
    """Hop in samples from a hop in seconds (``None``: one window)."""
    if hop is None:
        return window
    if (
        isinstance(hop, bool)
        or not isinstance(hop, (int, float, np.floating, np.integer))
        or not (math.isfinite(hop) and hop > 0)
    ):
        raise ConfigError(f"hop={hop!r} must be a positive number of seconds (or None for one window)")
    samples = round(float(hop) * sample_rate)
    if samples < 1:
        raise ConfigError(f"hop={hop!r} s is shorter than one sample at {sample_rate} Hz (1/{sample_rate} s)")
    return samples


def check_which(which: Any, outputs: tuple[str, ...]) -> tuple[str, ...]:
    """Latent names from a sequence or a comma-separated string (``None``: all ``outputs``)."""
    if which is None:
        return outputs
    if isinstance(which, str):
        which = [w.strip() for w in which.split(",") if w.strip()]
    try:
        names = tuple(dict.fromkeys(which))
    except TypeError:
        raise ConfigError(f"which={which!r} must be a sequence of latent names such as ['z', 's']") from None
    unknown = [w for w in names if w not in outputs]
    if not names or unknown:
        raise ConfigError(
            f"which={list(names)!r} must name at least one of the latents this model gives, {list(outputs)} "
            f"(unknown: {unknown})"
        )
    return names


def preprocessor_of(model: Any) -> Preprocessor:
    """The :class:`audiospec.preprocessor.Preprocessor` of ``model.audio_config`` and ``model.stats``,
    or HubError when the model cannot preprocess audio."""
    config, stats = getattr(model, "audio_config", None), getattr(model, "stats", None)
    if config is None or stats is None:
        raise HubError(
            f"this {type(model).__name__} has no audio_config/stats, so it cannot preprocess audio; "
            "load it with from_pretrained(), or pass audio_config= and stats= when building it"
        )
    return Preprocessor(config=config, stats=stats)


def check_samples(samples: np.ndarray, *, name: str) -> None:
    """ConfigError unless ``samples`` holds finite floating-point values (the message names ``name``)."""
    if samples.dtype.kind != "f":
        raise ConfigError(
            f"{name} has dtype {samples.dtype}; expected floating-point samples in [-1, 1] "
            "(divide integer PCM by its full scale, e.g. 32768)"
        )
    if not np.all(np.isfinite(samples)):
        raise ConfigError(f"{name} contains non-finite samples (NaN or inf)")


def as_waveform(audio: Any, sample_rate: Any, target: int) -> np.ndarray:
    """A mono float32 waveform at ``target`` Hz from an array or tensor at ``sample_rate``."""
    import torch

    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, np.ndarray):
        raise ConfigError(
            f"audio must be a waveform (numpy array or torch tensor of shape (n,)) or a path, "
            f"not {type(audio).__name__}"
        )
    if audio.ndim != 1:
        raise ConfigError(
            f"audio has shape {audio.shape}; expected one mono waveform of shape (n,) "
            "(average the channels first)"
        )
    check_samples(audio, name="audio")
    if audio.shape[0] == 0:
        raise ConfigError("audio has 0 samples; expected at least one")
    if sample_rate is None:
        raise ConfigError(
            "sample_rate=None: give the waveform's sample rate in Hz (it is resampled to the model's)"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer number of Hz")
    y = resample(audio, int(sample_rate), target)
    return np.ascontiguousarray(y, dtype=np.float32)


def float_array(name: str, value: Any, ndim: int, layout: str) -> np.ndarray:
    """``value`` as a finite float64 array of ``ndim`` dimensions (``layout`` names them for messages)."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} must be a numeric array of shape {layout} ({err})") from None
    if a.ndim != ndim:
        raise ConfigError(f"{name} has shape {a.shape}; it must be {layout}")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ConfigError(f"{name} has {bad} non-finite values (NaN or inf); all must be finite")
    return a


def label_array(name: str, value: Any, n: int) -> np.ndarray:
    """``value`` as an int64 vector of length ``n`` (integer dtype, or floats with integral values)."""
    a = np.asarray(value)
    if a.ndim != 1 or a.shape[0] != n:
        raise ConfigError(f"{name} has shape {a.shape}; it must be ({n},), one label per row")
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ConfigError(f"{name} has dtype {a.dtype}; it must hold integer class labels")
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a) & (a == np.round(a))):
        raise ConfigError(f"{name} holds non-integral values (dtype {a.dtype}); labels must be integers")
    return a.astype(np.int64)


def int_at_least(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, or ConfigError unless it is an integer >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def finite_float(name: str, value: Any, rule: str) -> float:
    """``value`` as a finite Python float (``rule`` completes the error message)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be {rule}") from None
    if isinstance(value, bool) or not np.isfinite(number):
        raise ConfigError(f"{name}={value!r} must be {rule}")
    return number
