"""Shared validators: every public entry point calls these first."""

from __future__ import annotations

from typing import Any

import numpy as np

from audiospec.config import SpectrogramConfig
from audiospec.errors import AudioError, ParameterError

__all__ = ["valid_audio", "valid_config", "valid_spectrogram", "valid_rng"]


def valid_config(config: Any) -> SpectrogramConfig:
    """Return ``config`` if it is a :class:`SpectrogramConfig`, else raise ParameterError."""
    if config is None:
        return SpectrogramConfig()
    if not isinstance(config, SpectrogramConfig):
        raise ParameterError(
            f"config={config!r} must be an audiospec.SpectrogramConfig (got {type(config).__name__})"
        )
    return config


def valid_audio(y: Any, *, name: str = "y", n_samples: int | None = None) -> np.ndarray:
    """Check a waveform (or batch of waveforms) and return it as a floating numpy array.

    Parameters
    ----------
    y : array_like, shape (..., n)
        Real floating-point samples. Integer arrays are rejected: convert to float in [-1, 1].
    name : str
        The argument name used in error messages.
    n_samples : int, optional
        If given, the last axis must have exactly this many samples.
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "f":
        raise ParameterError(
            f"{name} must be a floating-point array (got dtype {arr.dtype}); "
            "convert integer PCM with y.astype(np.float32) / 32768"
        )
    if arr.ndim < 1:
        raise ParameterError(f"{name} must have at least one dimension (got a scalar)")
    if arr.shape[-1] == 0:
        raise AudioError(f"{name} is empty (shape {arr.shape}); audio needs at least one sample")
    if n_samples is not None and arr.shape[-1] != n_samples:
        raise ParameterError(
            f"{name} has {arr.shape[-1]} samples on its last axis but the config expects "
            f"n_samples={n_samples}; crop or pad it with audiospec.crop"
        )
    if not np.all(np.isfinite(arr)):
        raise AudioError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def valid_spectrogram(s: Any, *, config: SpectrogramConfig, name: str = "logmag") -> np.ndarray:
    """Check a real spectrogram (..., n_bins, n_frames) against ``config`` and return it.

    Accepts either ``config.n_bins`` rows or ``n_fft // 2`` / ``n_fft // 2 + 1`` rows (with or
    without the Nyquist row). Any number of frames >= 2 is accepted.
    """
    arr = np.asarray(s)
    if arr.dtype.kind not in "f":
        raise ParameterError(f"{name} must be a real floating-point array (got dtype {arr.dtype})")
    if arr.ndim < 2:
        raise ParameterError(f"{name} must have shape (..., n_bins, n_frames) (got shape {arr.shape})")
    half = config.n_fft // 2
    if arr.shape[-2] not in (half, half + 1):
        raise ParameterError(
            f"{name} has {arr.shape[-2]} frequency rows but n_fft={config.n_fft} needs {half} "
            f"(Nyquist dropped) or {half + 1}"
        )
    if arr.shape[-1] < 2:
        raise ParameterError(f"{name} needs at least 2 frames (got shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def valid_rng(rng: Any) -> np.random.Generator:
    """Turn ``rng`` (None, an int seed or a Generator) into a numpy Generator."""
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise ParameterError(f"rng={rng!r} must be None, an integer seed or a numpy.random.Generator")
