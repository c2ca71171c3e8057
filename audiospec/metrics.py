"""Quality measures for phase reconstruction and generated spectrograms."""

from __future__ import annotations

import numpy as np

from audiospec._validation import valid_audio, valid_config, valid_spectrogram
from audiospec.config import SpectrogramConfig
from audiospec.errors import ParameterError
from audiospec.transform import stft

__all__ = ["spectral_convergence", "consistency"]


def spectral_convergence(
    magnitude: np.ndarray, waveform: np.ndarray, *, config: SpectrogramConfig | None = None
) -> np.ndarray:
    """Spectral convergence in dB (lower is better; Griffin & Lim 1984, LTFAT ``magnitudeerrdb``).

    ``20 log10(|| |X| - |STFT(waveform)| ||_F / || |X| ||_F)`` over each item's time-frequency plane,
    with the waveform re-analysed by :func:`audiospec.stft` under ``config``.

    Parameters
    ----------
    magnitude : np.ndarray, shape (..., n_bins, n_frames)
        The target's *linear* magnitude (``np.exp(logmag)``).
    waveform : np.ndarray, shape (..., n_frames * hop_length)
        The reconstruction.

    Returns
    -------
    np.ndarray, shape (...): dB per item (a float for a single item). For a corpus average in the
    LTFAT manner, average the linear ratios ``10 ** (sc / 20)`` and convert back.
    """
    config = valid_config(config)
    mag = valid_spectrogram(magnitude, config=config, name="magnitude")
    if np.any(mag < 0):
        raise ParameterError("magnitude must be linear and non-negative (did you pass a log-magnitude?)")
    y = valid_audio(waveform, name="waveform")
    if y.shape[-1] != mag.shape[-1] * config.hop_length:
        raise ParameterError(
            f"waveform has {y.shape[-1]} samples but magnitude has {mag.shape[-1]} frames "
            f"(needs {mag.shape[-1] * config.hop_length} samples)"
        )
    rebuilt = np.abs(stft(y.astype(np.float64), config=config))[..., : mag.shape[-2], :]
    num = np.sqrt(np.sum((mag - rebuilt) ** 2, axis=(-2, -1)))
    den = np.sqrt(np.sum(mag.astype(np.float64) ** 2, axis=(-2, -1)))
    if np.any(den == 0):
        raise ParameterError("magnitude is all zero for some item; spectral convergence is undefined")
    return 20.0 * np.log10(np.maximum(num / den, 1e-300))


def consistency(
    logmag: np.ndarray, *, config: SpectrogramConfig | None = None, dynamic_range: float = 10.0
) -> np.ndarray:
    """TiFGAN's consistency of a log-magnitude (Marafioti et al., ICML 2019), in [-1, 1].

    With ``s`` normalised to a maximum of 0 and clipped at ``-dynamic_range`` nepers,
    ``TT = d2s/dn2 + pi hop**2 / gamma`` and ``FF = d2s/dm2 + pi gamma / n_fft**2``; the score is the
    Pearson correlation of ``|TT|`` and ``|FF|``. Real audio scores high (about 0.7 for speech);
    compare generated against real spectrograms of the same pipeline only.

    Parameters
    ----------
    logmag : np.ndarray, shape (..., n_bins, n_frames)
        Natural-log magnitude.
    dynamic_range : float > 0
        Clip depth in nepers below each item's maximum (TiFGAN: 10).

    Returns
    -------
    np.ndarray, shape (...).
    """
    config = valid_config(config)
    s = valid_spectrogram(logmag, config=config).astype(np.float64)
    if not (isinstance(dynamic_range, (int, float)) and dynamic_range > 0):
        raise ParameterError(f"dynamic_range={dynamic_range!r} must be a positive number of nepers")
    s = s - s.max(axis=(-2, -1), keepdims=True)
    s = np.maximum(s, -float(dynamic_range))
    a, M, gamma = config.hop_length, config.n_fft, config.gamma
    tt = s[..., 1:-1, :-2] - 2 * s[..., 1:-1, 1:-1] + s[..., 1:-1, 2:] + np.pi * a * a / gamma
    ff = s[..., :-2, 1:-1] - 2 * s[..., 1:-1, 1:-1] + s[..., 2:, 1:-1] + np.pi * gamma / (M * M)
    A = np.abs(tt) - np.abs(tt).mean(axis=(-2, -1), keepdims=True)
    B = np.abs(ff) - np.abs(ff).mean(axis=(-2, -1), keepdims=True)
    num = np.sum(A * B, axis=(-2, -1))
    den = np.sqrt(np.sum(A * A, axis=(-2, -1)) * np.sum(B * B, axis=(-2, -1)))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
