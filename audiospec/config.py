"""The spectrogram transform's configuration and its analysis windows.

The defaults follow the GAAE paper (section IV-B): 16 kHz audio, a periodic Hamming window of 512
samples, a hop of 128 samples, natural-log magnitudes and the Nyquist bin dropped, so that a clip of
16384 samples (1.024 s) becomes a 256 x 128 (frequency x time) image.

Framing convention
------------------
Frame ``n`` is centred on sample ``n * hop_length`` and the window peak sits at index
``n_fft // 2`` of the frame, as in ``librosa.stft(center=True)`` and ``torch.stft(center=True)``.
Unlike those, the clip is treated as one period of a periodic signal (circular padding, as in
LTFAT's ``dgtreal`` used by TiFGAN), so a clip of ``n_samples`` gives exactly
``n_samples // hop_length`` frames and the inverse is exact at the clip's edges too.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from audiospec.errors import ParameterError

__all__ = [
    "SpectrogramConfig",
    "WINDOWS",
    "GAMMA_COEFFICIENTS",
    "window_function",
]

WindowName = Literal["hamming", "hann", "gaussian"]

#: Analysis windows the transform supports.
WINDOWS: tuple[str, ...] = ("hamming", "hann", "gaussian")

#: C_g in gamma = C_g * win_length**2 (samples**2): the variance parameter of the Gaussian that
#: best fits each window (ltfat/phaseret ``pghi_findgamma.m``). For ``gaussian`` the window *is*
#: exp(-pi * l**2 / gamma) with this gamma (TiFGAN's time-frequency ratio a*M/L at redundancy 4).
GAMMA_COEFFICIENTS: dict[str, float] = {"hamming": 0.29794, "hann": 0.25645, "gaussian": 0.25}


def window_function(name: str, win_length: int, *, n_fft: int | None = None) -> np.ndarray:
    """Return a periodic analysis window, zero-padded to ``n_fft`` with its peak at ``n_fft // 2``.

    Parameters
    ----------
    name : {"hamming", "hann", "gaussian"}
        The window. ``gaussian`` is exp(-pi * l**2 / gamma) with
        gamma = 0.25 * win_length**2, truncated to ``win_length`` samples.
    win_length : int > 0
        Window length in samples.
    n_fft : int >= win_length, optional
        Frame length in samples; defaults to ``win_length``.

    Returns
    -------
    np.ndarray, shape (n_fft,), float64
    """
    if name not in WINDOWS:
        raise ParameterError(f"window={name!r} is not supported; choose one of {list(WINDOWS)}")
    n_fft = win_length if n_fft is None else n_fft
    if not isinstance(win_length, int) or win_length <= 0:
        raise ParameterError(f"win_length={win_length!r} must be a positive integer")
    if n_fft < win_length:
        raise ParameterError(f"n_fft={n_fft} must be >= win_length={win_length}")
    index = np.arange(win_length, dtype=np.float64)
    if name == "hamming":
        w = 0.54 - 0.46 * np.cos(2.0 * np.pi * index / win_length)
    elif name == "hann":
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * index / win_length)
    else:
        gamma = GAMMA_COEFFICIENTS["gaussian"] * win_length**2
        w = np.exp(-np.pi * (index - win_length // 2) ** 2 / gamma)
    out = np.zeros(n_fft, dtype=np.float64)
    start = n_fft // 2 - win_length // 2
    out[start : start + win_length] = w
    return out


@dataclass(frozen=True)
class SpectrogramConfig:
    """How audio becomes a log-magnitude spectrogram (and back).

    Parameters
    ----------
    sample_rate : int > 0
        Sample rate in Hz that all audio is resampled to. Default 16000.
    n_samples : int > 0
        Clip length in samples; a multiple of ``hop_length`` and at least ``n_fft``.
        Default 16384 (1.024 s), which gives exactly 128 frames.
    n_fft : int > 0, even
        FFT size (frame length) in samples. Default 512.
    win_length : int, optional
        Window length in samples, ``<= n_fft``; ``None`` means ``n_fft``.
    hop_length : int > 0
        Hop between frames in samples; must divide ``n_fft // 2``. Default 128.
    window : {"hamming", "hann", "gaussian"}
        Periodic analysis window. Default ``"hamming"``.
    amin : float > 0
        Magnitude floor before the logarithm: ``logmag = ln(max(|X|, amin))``.
        Default 1e-5 (-100 dB re full-scale amplitude 1).
    drop_nyquist : bool
        Drop the Nyquist row, giving ``n_fft // 2`` frequency rows. Default True.

    Examples
    --------
    >>> cfg = SpectrogramConfig()
    >>> cfg.shape
    (256, 128)
    >>> SpectrogramConfig(window="hann", n_samples=8192).shape
    (256, 64)
    """

    sample_rate: int = 16000
    n_samples: int = 16384
    n_fft: int = 512
    win_length: int | None = None
    hop_length: int = 128
    window: WindowName = "hamming"
    amin: float = 1e-5
    drop_nyquist: bool = True

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_samples", "n_fft", "hop_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
            object.__setattr__(self, name, int(value))
        if self.win_length is None:
            object.__setattr__(self, "win_length", self.n_fft)
        wl = self.win_length
        if isinstance(wl, bool) or not isinstance(wl, (int, np.integer)) or wl <= 0:
            raise ParameterError(f"win_length={wl!r} must be a positive integer or None")
        object.__setattr__(self, "win_length", int(wl))
        if self.n_fft % 2:
            raise ParameterError(f"n_fft={self.n_fft} must be even")
        if self.win_length > self.n_fft:
            raise ParameterError(f"win_length={self.win_length} must be <= n_fft={self.n_fft}")
        if self.window not in WINDOWS:
            raise ParameterError(f"window={self.window!r} is not supported; choose one of {list(WINDOWS)}")
        if (self.n_fft // 2) % self.hop_length:
            raise ParameterError(
                f"hop_length={self.hop_length} must divide n_fft // 2 = {self.n_fft // 2} "
                f"(for example {self.n_fft // 4})"
            )
        if self.hop_length > self.win_length // 2:
            raise ParameterError(
                f"hop_length={self.hop_length} must be <= win_length // 2 = {self.win_length // 2} "
                "so that the frames overlap enough to be inverted"
            )
        if self.n_samples % self.hop_length:
            raise ParameterError(
                f"n_samples={self.n_samples} must be a multiple of hop_length={self.hop_length} "
                f"(for example {math.ceil(self.n_samples / self.hop_length) * self.hop_length})"
            )
        if self.n_samples < self.n_fft:
            raise ParameterError(f"n_samples={self.n_samples} must be >= n_fft={self.n_fft}")
        if not (isinstance(self.amin, (float, int)) and math.isfinite(self.amin) and self.amin > 0):
            raise ParameterError(f"amin={self.amin!r} must be a positive finite number")
        object.__setattr__(self, "amin", float(self.amin))
        if not isinstance(self.drop_nyquist, bool):
            raise ParameterError(f"drop_nyquist={self.drop_nyquist!r} must be True or False")

    # --- derived quantities -------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Number of STFT frames per clip, ``n_samples // hop_length``."""
        return self.n_samples // self.hop_length

    @property
    def n_bins(self) -> int:
        """Number of frequency rows kept: ``n_fft // 2`` (Nyquist dropped) or ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + (0 if self.drop_nyquist else 1)

    @property
    def shape(self) -> tuple[int, int]:
        """Spectrogram shape ``(n_bins, n_frames)``."""
        return (self.n_bins, self.n_frames)

    @property
    def duration(self) -> float:
        """Clip duration in seconds."""
        return self.n_samples / self.sample_rate

    @property
    def gamma(self) -> float:
        """PGHI's Gaussian variance parameter gamma = C_g * win_length**2, in samples**2."""
        return GAMMA_COEFFICIENTS[self.window] * float(self.win_length) ** 2

    def window_array(self) -> np.ndarray:
        """The analysis window, shape ``(n_fft,)``, float64, peak at index ``n_fft // 2``."""
        return window_function(self.window, self.win_length, n_fft=self.n_fft)

    # --- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpectrogramConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error."""
        if not isinstance(data, dict):
            raise ParameterError(f"data={data!r} must be a dict of SpectrogramConfig fields")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(
                f"unknown SpectrogramConfig field(s) {unknown}; valid fields are {sorted(known)}"
            )
        return cls(**data)

    def to_json(self) -> str:
        """The config as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SpectrogramConfig:
        """Rebuild a config from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))
