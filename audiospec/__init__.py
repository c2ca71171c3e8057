"""audiospec: audio <-> normalised log-magnitude spectrograms, and audio back via PGHI.

A standalone preprocessing library (no torch needed): load audio at 16 kHz, crop it, compute STFT
log-magnitude spectrograms (periodic Hamming 512, hop 128, 256 x 128 per clip), normalise them with
dataset statistics to [-1, 1], invert all of it, and rebuild audio from a (generated) magnitude with
Phase Gradient Heap Integration and fast Griffin-Lim.
"""

from __future__ import annotations

from audiospec.config import GAMMA_COEFFICIENTS, WINDOWS, SpectrogramConfig, window_function
from audiospec.errors import AudioError, AudiospecError, CacheError, DatasetError, ParameterError
from audiospec.io import CROP_POLICIES, crop, load_audio, load_clip, resample, write_wav
from audiospec.metrics import consistency, spectral_convergence
from audiospec.phase import DEFAULT_TOL, griffin_lim, pghi_phase, phase_gradients, reconstruct
from audiospec.preprocessor import Preprocessor
from audiospec.stats import (
    DatasetStats,
    PartialStats,
    dataset_stats,
    denormalize,
    merge_stats,
    normalize,
    partial_stats,
)
from audiospec.transform import istft, logmag_to_magnitude, magnitude_to_logmag, stft, stft_logmag

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # config
    "SpectrogramConfig",
    "WINDOWS",
    "GAMMA_COEFFICIENTS",
    "window_function",
    # errors
    "AudiospecError",
    "ParameterError",
    "AudioError",
    "CacheError",
    "DatasetError",
    # io
    "CROP_POLICIES",
    "load_audio",
    "load_clip",
    "resample",
    "crop",
    "write_wav",
    # transform
    "stft",
    "istft",
    "stft_logmag",
    "magnitude_to_logmag",
    "logmag_to_magnitude",
    # statistics
    "PartialStats",
    "DatasetStats",
    "partial_stats",
    "merge_stats",
    "dataset_stats",
    "normalize",
    "denormalize",
    # phase
    "DEFAULT_TOL",
    "phase_gradients",
    "pghi_phase",
    "griffin_lim",
    "reconstruct",
    # metrics
    "spectral_convergence",
    "consistency",
    # the audio -> model-input chain
    "Preprocessor",
]
