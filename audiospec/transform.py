"""The short-time Fourier transform, its exact inverse, and log-magnitude spectrograms.

All functions take data first and a :class:`~audiospec.SpectrogramConfig` as the keyword ``config``;
they accept one clip ``(n_samples,)`` or any batch ``(..., n_samples)`` and never loop over frames in
Python. See :mod:`audiospec.config` for the framing convention (centred, circular frames, so a clip
of ``n_samples`` gives ``n_samples // hop_length`` frames).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.fft

from audiospec._validation import valid_audio, valid_config, valid_spectrogram
from audiospec.config import SpectrogramConfig
from audiospec.errors import ParameterError
from audiospec.runtime import map_blocks

__all__ = ["stft", "istft", "stft_logmag", "logmag_to_magnitude", "magnitude_to_logmag"]


#: librosa's keyword arguments, and what audiospec takes instead (``SpectrogramConfig`` fields).
_LIBROSA_CONFIG_KEYWORDS = {
    "n_fft": "n_fft",
    "hop_length": "hop_length",
    "win_length": "win_length",
    "window": "window",
    "sr": "sample_rate",
}


def _refuse_librosa_keywords(func: str, kwargs: dict) -> None:
    """Turn librosa-style keywords into an error that says what to write instead.

    Raises
    ------
    ParameterError
        Naming each keyword and the ``SpectrogramConfig`` call that replaces it.
    TypeError
        For keywords that are neither audiospec's nor librosa's (as Python would).
    """
    if not kwargs:
        return
    known = {k: v for k, v in kwargs.items() if k in _LIBROSA_CONFIG_KEYWORDS}
    if known:
        fields = ", ".join(f"{_LIBROSA_CONFIG_KEYWORDS[k]}={v!r}" for k, v in known.items())
        raise ParameterError(
            f"{func}() takes its transform as config=, not librosa's {', '.join(f'{k}=' for k in known)}: "
            f"{func}(y, config=audiospec.SpectrogramConfig({fields}))"
        )
    if "center" in kwargs:
        raise ParameterError(
            f"{func}() has no center=: frames are always centred and circular (see audiospec.config)"
        )
    raise TypeError(f"{func}() got an unexpected keyword argument {next(iter(kwargs))!r}")


@functools.lru_cache(maxsize=32)
def _window(config: SpectrogramConfig, dtype: str) -> np.ndarray:
    w = config.window_array().astype(dtype)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=32)
def _synthesis_window(config: SpectrogramConfig, dtype: str) -> np.ndarray:
    """The canonical dual window: w / sum_k w(t - k*hop)**2, exact for circular framing."""
    w = config.window_array()
    hop = config.hop_length
    energy = (w**2).reshape(-1, hop).sum(axis=0)  # periodic with period hop
    dual = (w / np.tile(energy, config.n_fft // hop)).astype(dtype)
    dual.flags.writeable = False
    return dual


def stft(y: np.ndarray, *, config: SpectrogramConfig | None = None, **librosa_kwargs: Any) -> np.ndarray:
    """Complex STFT with circular, centred frames.

    Parameters
    ----------
    y : np.ndarray, shape (..., n)
        Waveform(s); ``n`` must be a multiple of ``config.hop_length``. float32 input gives
        complex64 output, float64 gives complex128.
    config : SpectrogramConfig, optional
        Window, FFT size and hop; the paper's defaults when omitted. ``config.n_samples`` is not
        enforced here, so whole files can be analysed.

    Returns
    -------
    np.ndarray, shape (..., n_fft // 2 + 1, n // hop_length), complex
        Frequency x time, *including* the Nyquist row (needed for an exact inverse).

    Examples
    --------
    >>> import numpy as np
    >>> X = stft(np.zeros(16384, dtype=np.float32))
    >>> X.shape
    (257, 128)
    """
    _refuse_librosa_keywords("stft", librosa_kwargs)
    config = valid_config(config)
    y = _whole_hops(valid_audio(y), config)
    return stft_kernel(y, config, config.n_fft // 2 + 1)


def _whole_hops(y: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """``y`` when its length is a multiple of the hop; else a ParameterError saying how to pad it."""
    n, hop = y.shape[-1], config.hop_length
    if n % hop:
        padded = -(-n // hop) * hop
        raise ParameterError(
            f"y has {n} samples, which is not a multiple of hop_length={hop}: pad it to {padded} "
            f"(np.pad), or crop / pad it to the model's n_samples={config.n_samples} with audiospec.crop"
        )
    return y


def stft_kernel(
    y: np.ndarray, config: SpectrogramConfig, n_bins: int, floor: np.ndarray | None = None
) -> np.ndarray:
    """Unchecked blocked STFT of (..., n): complex (..., n_bins, n_frames); with ``floor`` (a 0-d array
    of the input's dtype), the real log-magnitude ``ln(max(|X|, floor))`` instead.

    Each block of clips is framed and windowed by a compiled kernel into one buffer, transformed by
    one single-threaded ``rfft``; for log-magnitudes, ``|X|``, the floor and the logarithm are numpy's
    vectorised loops over contiguous memory (the same operations, hence the same bits, as on the
    transposed spectra), with one transposing copy into the output between floor and logarithm.
    """
    from audiospec._heap import windowed_frames  # compiled once, cached on disk

    half, hop = config.n_fft // 2, config.hop_length
    n = y.shape[-1]
    if n < half:
        raise ParameterError(f"y has {n} samples; at least n_fft // 2 = {half} are needed")
    dtype = "float32" if y.dtype == np.float32 else "float64"
    flat = y.astype(dtype, copy=False).reshape(-1, n)
    window = _window(config, dtype)
    n_frames = n // hop
    out_dtype = np.dtype(dtype) if floor is not None else np.result_type(dtype, np.complex64)
    out = np.empty((flat.shape[0], n_bins, n_frames), dtype=out_dtype)

    def run(lo: int, hi: int) -> None:
        frames = np.empty((hi - lo, n_frames, config.n_fft), dtype=dtype)
        windowed_frames(np.ascontiguousarray(flat[lo:hi]), window, hop, frames)
        spec = scipy.fft.rfft(frames, axis=-1, workers=1, overwrite_x=True)  # (clips, frames, bins)
        block = out[lo:hi]
        if floor is None:
            block[...] = np.swapaxes(spec, -1, -2)[:, :n_bins, :]
            return
        magnitude = np.abs(spec, out=frames.reshape(-1)[: spec.size].reshape(spec.shape))  # reuses frames
        np.maximum(magnitude, floor, out=magnitude)
        block[...] = np.swapaxes(magnitude, -1, -2)[:, :n_bins, :]
        np.log(block, out=block)

    map_blocks(run, flat.shape[0])
    return out.reshape(*y.shape[:-1], n_bins, n_frames)


def istft(spec: np.ndarray, *, config: SpectrogramConfig | None = None) -> np.ndarray:
    """Invert :func:`stft` exactly (canonical dual window, circular overlap-add).

    Parameters
    ----------
    spec : np.ndarray, shape (..., n_bins, n_frames), complex
        ``n_bins`` is ``n_fft // 2 + 1``, or ``n_fft // 2`` when the Nyquist row was dropped (it is
        then taken as zero).

    Returns
    -------
    np.ndarray, shape (..., n_frames * hop_length), float32 for complex64 input, else float64.
    """
    config = valid_config(config)
    spec = np.asarray(spec)
    if spec.dtype.kind != "c":
        raise ParameterError(f"spec must be a complex STFT (got dtype {spec.dtype}); see stft()")
    if spec.ndim < 2 or spec.shape[-2] not in (config.n_fft // 2, config.n_fft // 2 + 1):
        raise ParameterError(
            f"spec has shape {spec.shape}; expected (..., {config.n_fft // 2 + 1} or "
            f"{config.n_fft // 2}, n_frames) for n_fft={config.n_fft}"
        )
    n_frames = spec.shape[-1]
    hop = config.hop_length
    if n_frames * hop < config.n_fft:
        raise ParameterError(
            f"spec has {n_frames} frames; at least n_fft / hop_length = {config.n_fft // hop} are needed"
        )
    return istft_kernel(spec, config)


def istft_kernel(spec: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Unchecked blocked inverse of (..., n_bins, n_frames) complex: (..., n_frames * hop)."""
    dtype = "float32" if spec.dtype == np.complex64 else "float64"
    hop, n_frames = config.hop_length, spec.shape[-1]
    ratio = config.n_fft // hop
    dual = _synthesis_window(config, dtype)
    flat = spec.reshape(-1, *spec.shape[-2:])
    out = np.empty((flat.shape[0], n_frames * hop), dtype=dtype)

    def run(lo: int, hi: int) -> None:
        frames = scipy.fft.irfft(np.swapaxes(flat[lo:hi], -1, -2), n=config.n_fft, axis=-1, workers=1)
        blocks = (frames.astype(dtype, copy=False) * dual).reshape(hi - lo, n_frames, ratio, hop)
        # overlap-add on the circle: frame n covers hop-blocks n - R/2 ... n + R/2 - 1 (mod n_frames)
        acc = np.zeros((hi - lo, n_frames, hop), dtype=dtype)
        for r in range(ratio):
            acc += np.roll(blocks[:, :, r, :], r - ratio // 2, axis=1)
        out[lo:hi] = acc.reshape(hi - lo, n_frames * hop)

    map_blocks(run, flat.shape[0])
    return out.reshape(*spec.shape[:-2], n_frames * hop)


def magnitude_to_logmag(magnitude: np.ndarray, *, config: SpectrogramConfig | None = None) -> np.ndarray:
    """Natural log of a magnitude with the config's floor: ``ln(max(|X|, amin))``."""
    config = valid_config(config)
    magnitude = np.asarray(magnitude)
    return np.log(np.maximum(magnitude, np.asarray(config.amin, dtype=magnitude.dtype)))


def logmag_to_magnitude(logmag: np.ndarray, *, config: SpectrogramConfig | None = None) -> np.ndarray:
    """Inverse of :func:`magnitude_to_logmag` above the floor: ``exp(logmag)``.

    Returns the linear magnitude with the same shape; validates ``logmag`` like
    :func:`audiospec.reconstruct` does.
    """
    config = valid_config(config)
    logmag = valid_spectrogram(logmag, config=config)
    return np.exp(logmag)


def stft_logmag(
    y: np.ndarray, *, config: SpectrogramConfig | None = None, **librosa_kwargs: Any
) -> np.ndarray:
    """Log-magnitude spectrogram of one clip or a batch of clips.

    Parameters
    ----------
    y : np.ndarray, shape (..., n)
        Waveform(s) at ``config.sample_rate``, float32 or float64. ``n`` is any multiple of
        ``config.hop_length`` (at least ``n_fft // 2``); the model's input is ``config.n_samples``
        (16384 by default: crop or pad to it with :func:`audiospec.crop`).
    config : SpectrogramConfig, optional
        The paper's defaults when omitted.

    Returns
    -------
    np.ndarray, shape (..., config.n_bins, n // config.hop_length), same float dtype as ``y``
        ``ln(max(|STFT(y)|, amin))`` in nepers (natural log of the linear magnitude); with the
        defaults and ``n = 16384``, (..., 256, 128).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(16384) / 16000
    >>> stft_logmag(np.sin(2 * np.pi * 440 * t).astype(np.float32)).shape
    (256, 128)
    """
    _refuse_librosa_keywords("stft_logmag", librosa_kwargs)
    config = valid_config(config)
    y = _whole_hops(valid_audio(y), config)
    return stft_kernel(y, config, config.n_bins, floor=np.asarray(config.amin, dtype=y.dtype))
