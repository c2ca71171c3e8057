"""Audio from magnitudes: Phase Gradient Heap Integration, fast Griffin-Lim, and `reconstruct`.

PGHI (Průša, Balazs and Søndergaard, IEEE/ACM TASLP 25(5), 2017) estimates the phase's time and
frequency derivatives from the log-magnitude alone, treating the analysis window as the Gaussian
exp(-pi l**2 / gamma) with ``gamma = config.gamma``, and integrates them along a max-heap, loudest
bins first. Fast Griffin-Lim (Perraudin, Balazs and Søndergaard, WASPAA 2013) then refines a
phase by alternating projections with momentum.

Conventions: the STFT is the one of :func:`audiospec.stft` (frames centred on ``n * hop``, window
peak at ``n_fft // 2``, circular), so the frequency derivative carries the ``+pi`` term of the
torch/librosa convention and the time direction wraps around. Log-magnitudes are natural logs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from audiospec._heap import heap_integrate
from audiospec._validation import valid_config, valid_rng, valid_spectrogram
from audiospec.config import SpectrogramConfig
from audiospec.errors import ParameterError
from audiospec.runtime import map_blocks, n_cores
from audiospec.stats import DatasetStats, denormalize
from audiospec.transform import istft_kernel, stft_kernel

__all__ = [
    "DEFAULT_TOL",
    "phase_gradients",
    "pghi_phase",
    "griffin_lim",
    "reconstruct",
]

#: PGHI's relative tolerance: one heap pass over every bin within 120 dB of the maximum (and above
#: the clip floor); bins below get a seeded random phase. A single pass grows one island from the
#: loudest bin through everything connected to it. LTFAT/phaseret's two-pass default (1e-1, then
#: 1e-10) first grows separate islands around every peak within 20 dB, whose phases are mutually
#: arbitrary; on 50 speech and 50 instrument clips it measured 0.5-0.7 dB worse before refinement and
#: 1-2 dB worse after 16 FGLA iterations (benchmarks/README.md). Pass a tuple for several passes.
DEFAULT_TOL: float | tuple[float, ...] = 1e-6


def _n_jobs(n_jobs: int | None, n_items: int) -> int:
    if n_jobs is None:
        n_jobs = n_cores()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ParameterError(f"n_jobs={n_jobs!r} must be a positive integer or None (all cores)")
    return max(1, min(n_jobs, n_items))


def phase_gradients(
    logmag: np.ndarray, *, config: SpectrogramConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the phase's time and frequency steps from a log-magnitude.

    Parameters
    ----------
    logmag : np.ndarray, shape (..., n_bins, n_frames)
        Natural-log magnitude; ``n_bins`` is ``n_fft // 2`` or ``n_fft // 2 + 1``.

    Returns
    -------
    tgrad : np.ndarray, same shape, float64
        Phase advance from frame n to n + 1, in radians per hop:
        ``(hop * n_fft / gamma) * d_m logmag + 2 pi hop m / n_fft``.
    fgrad : np.ndarray, same shape, float64
        Phase advance from bin m to m + 1, in radians per bin:
        ``-(gamma / (hop * n_fft)) * d_n logmag + pi``.

    Centred differences; the frequency difference is 0 at DC and Nyquist (even symmetry) and
    one-sided at a dropped-Nyquist top row; the time difference is circular.
    """
    config = valid_config(config)
    s = valid_spectrogram(logmag, config=config).astype(np.float64, copy=False)
    a, M, gamma = config.hop_length, config.n_fft, config.gamma
    n_bins = s.shape[-2]
    d_m = np.empty_like(s)
    d_m[..., 1:-1, :] = 0.5 * (s[..., 2:, :] - s[..., :-2, :])
    d_m[..., 0, :] = 0.0
    if n_bins == M // 2 + 1:
        d_m[..., -1, :] = 0.0
    else:
        d_m[..., -1, :] = s[..., -1, :] - s[..., -2, :]
    d_n = 0.5 * (np.roll(s, -1, axis=-1) - np.roll(s, 1, axis=-1))
    bins = np.arange(n_bins, dtype=np.float64)[:, None]
    tgrad = (a * M / gamma) * d_m + (2.0 * np.pi * a / M) * bins
    fgrad = -(gamma / (a * M)) * d_n + np.pi
    return tgrad, fgrad


def _valid_tol(tol: float | Sequence[float]) -> np.ndarray:
    values = [tol] if isinstance(tol, (int, float)) else list(tol)
    if not values or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 < v < 1.0) for v in values
    ):
        raise ParameterError(f"tol={tol!r} must be a number or a sequence of numbers in (0, 1)")
    if any(b >= a for a, b in itertools.pairwise(values)):
        raise ParameterError(f"tol={tol!r} must be strictly decreasing (coarse pass first)")
    return np.log(np.asarray(values, dtype=np.float64))


def pghi_phase(
    logmag: np.ndarray,
    *,
    config: SpectrogramConfig | None = None,
    tol: float | Sequence[float] = DEFAULT_TOL,
    floor: float | None = None,
    rng: np.random.Generator | int | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Phase Gradient Heap Integration: a phase for a log-magnitude spectrogram.

    Parameters
    ----------
    logmag : np.ndarray, shape (..., n_bins, n_frames)
        Natural-log magnitude (undo any normalisation first: :func:`audiospec.denormalize`).
        Not modified.
    config : SpectrogramConfig, optional
        Window (its gamma), FFT size and hop of the analysis.
    tol : float or sequence of float in (0, 1), decreasing
        Relative magnitude tolerance(s), one heap pass each (see :data:`DEFAULT_TOL`);
        for example ``(1e-1, 1e-10)`` for LTFAT's two passes.
    floor : float, optional
        Log-magnitude at or below which a bin is unknown (a clip floor): such bins get a random
        phase whatever ``tol`` says. Default ``ln(config.amin)``.
    rng : Generator or int, optional
        Source of the random phases of unknown bins (uniform on [0, 2 pi)).
    n_jobs : int, optional
        Threads for a batch (the kernel releases the GIL); default all cores.

    Returns
    -------
    np.ndarray, same shape as ``logmag``, float64: phases in radians (not wrapped).
    """
    config = valid_config(config)
    s = valid_spectrogram(logmag, config=config)
    log_tol = _valid_tol(tol)
    if floor is None:
        floor = math.log(config.amin)
    if not isinstance(floor, (int, float)) or not math.isfinite(floor):
        raise ParameterError(f"floor={floor!r} must be a finite log-magnitude")
    rng = valid_rng(rng)
    tgrad, fgrad = phase_gradients(s, config=config)
    batch_shape = s.shape[:-2]
    flat_s = np.ascontiguousarray(s.reshape(-1, *s.shape[-2:]), dtype=np.float64)
    tgrad = np.ascontiguousarray(tgrad.reshape(flat_s.shape))
    fgrad = np.ascontiguousarray(fgrad.reshape(flat_s.shape))
    fill = rng.uniform(0.0, 2.0 * np.pi, size=flat_s.shape)
    phase = np.zeros_like(flat_s)
    # strictly above the floor: nextafter makes ">= threshold" exclude bins sitting on it
    above_floor = math.nextafter(float(floor), math.inf)

    def run(k: int) -> None:
        thresholds = np.maximum(flat_s[k].max() + log_tol, above_floor)
        heap_integrate(flat_s[k], tgrad[k], fgrad[k], thresholds, fill[k], phase[k])

    jobs = _n_jobs(n_jobs, flat_s.shape[0])
    if jobs == 1:
        for k in range(flat_s.shape[0]):
            run(k)
    else:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(run, range(flat_s.shape[0])))
    return phase.reshape(*batch_shape, *s.shape[-2:])


def griffin_lim(
    magnitude: np.ndarray,
    *,
    config: SpectrogramConfig | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    phase: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Fast Griffin-Lim (FGLA): a waveform whose STFT magnitude approaches ``magnitude``.

    ``c_k = P1(P2(t_{k-1}))`` and ``t_k = c_k + momentum (c_k - c_{k-1})``, where P2 imposes the
    target magnitude and P1 = stft(istft(.)) (Perraudin et al., 2013).

    Parameters
    ----------
    magnitude : np.ndarray, shape (..., n_bins, n_frames)
        Linear target magnitude; float32 runs in single precision, float64 in double.
    n_iter : int >= 0
        Iterations.
    momentum : float in [0, 1.5)
        0 gives the classic Griffin-Lim; 0.99 is the recommended value. Values above 1 warn.
    phase : np.ndarray, optional
        Initial phase (for example from :func:`pghi_phase`); seeded uniform random when omitted.
    rng : Generator or int, optional
        Randomness for the initial phase.

    Returns
    -------
    np.ndarray, shape (..., n_frames * hop_length): the waveform.
    """
    config = valid_config(config)
    mag = valid_spectrogram(magnitude, config=config, name="magnitude")
    if np.any(mag < 0):
        raise ParameterError("magnitude must be non-negative (did you pass a log-magnitude?)")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ParameterError(f"n_iter={n_iter!r} must be a non-negative integer")
    if not isinstance(momentum, (int, float)) or not (0.0 <= momentum < 1.5):
        raise ParameterError(f"momentum={momentum!r} must be in [0, 1.5); 0.99 is recommended")
    if momentum > 1:
        import warnings

        warnings.warn(f"momentum={momentum} > 1 may not converge", stacklevel=2)
    if mag.shape[-1] * config.hop_length < config.n_fft:
        raise ParameterError(f"magnitude has {mag.shape[-1]} frames; too few for n_fft={config.n_fft}")
    dtype = "float32" if mag.dtype == np.float32 else "float64"
    cdtype = np.complex64 if dtype == "float32" else np.complex128
    if phase is None:
        phase = valid_rng(rng).uniform(0.0, 2.0 * np.pi, size=mag.shape)
    else:
        phase = np.asarray(phase)
        if phase.shape != mag.shape:
            raise ParameterError(f"phase has shape {phase.shape} but magnitude has shape {mag.shape}")
        if not np.all(np.isfinite(phase)):
            raise ParameterError("phase contains non-finite values")
    n_bins = mag.shape[-2]
    tiny = np.finfo(dtype).tiny
    target = np.ascontiguousarray(mag, dtype=dtype).reshape(-1, *mag.shape[-2:])
    phase = np.asarray(phase).reshape(target.shape)
    out = np.empty((target.shape[0], mag.shape[-1] * config.hop_length), dtype=dtype)

    def run(lo: int, hi: int) -> None:  # each block of clips runs every iteration in cache
        goal = target[lo:hi]
        t = (goal * np.exp(1j * phase[lo:hi])).astype(cdtype)
        c_prev = None
        for _ in range(n_iter):
            c = stft_kernel(istft_kernel(goal * (t / np.maximum(np.abs(t), tiny)), config), config, n_bins)
            t = c if c_prev is None else c + momentum * (c - c_prev)
            c_prev = c
        out[lo:hi] = istft_kernel(goal * (t / np.maximum(np.abs(t), tiny)), config)

    map_blocks(run, target.shape[0], block_size=4)
    return out.reshape(*mag.shape[:-2], out.shape[-1])


#: The largest log-magnitude whose exp() is a finite float32 (about 88.7 nepers).
_MAX_LOGMAG: float = float(np.log(np.finfo(np.float32).max))


def reconstruct(
    spectrogram: np.ndarray,
    *,
    config: SpectrogramConfig | None = None,
    stats: DatasetStats | None = None,
    method: Literal["pghi", "random", "zeros"] = "pghi",
    n_iter: int = 0,
    momentum: float = 0.99,
    tol: float | Sequence[float] = DEFAULT_TOL,
    rng: np.random.Generator | int | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Audio from a (possibly generated) log-magnitude spectrogram.

    Parameters
    ----------
    spectrogram : np.ndarray, shape (..., n_bins, n_frames)
        Normalised values in [-1, 1] when ``stats`` is given, else a raw natural-log magnitude.
        Generated spectrograms need not be consistent. Not modified.
    config : SpectrogramConfig, optional
        The transform that produced (or that the model imitates) the spectrogram.
    stats : DatasetStats, optional
        Undo the dataset normalisation first; bins at the clip floor get a random phase.
    method : {"pghi", "random", "zeros"}
        Initial phase: PGHI, seeded uniform random, or zero.
    n_iter : int >= 0
        Fast Griffin-Lim iterations warm-started from that phase (0: none).
    momentum : float
        FGLA momentum (0.99).
    tol : float or sequence of float
        PGHI tolerance(s), see :func:`pghi_phase`.
    rng : Generator or int, optional
        Randomness for unknown-bin and random phases.
    n_jobs : int, optional
        Threads for PGHI over a batch; default all cores.

    Returns
    -------
    np.ndarray, shape (..., n_frames * hop_length), float32
        The waveform at ``config.sample_rate``.

    Examples
    --------
    >>> import numpy as np, audiospec
    >>> cfg = audiospec.SpectrogramConfig()
    >>> t = np.arange(cfg.n_samples) / cfg.sample_rate
    >>> y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    >>> y_hat = audiospec.reconstruct(audiospec.stft_logmag(y, config=cfg), config=cfg, rng=0)
    >>> y_hat.shape
    (16384,)
    """
    config = valid_config(config)
    spectrogram = valid_spectrogram(spectrogram, config=config, name="spectrogram")
    if method not in ("pghi", "random", "zeros"):
        raise ParameterError(f"method={method!r} must be one of ['pghi', 'random', 'zeros']")
    rng = valid_rng(rng)
    if stats is not None:
        logmag = denormalize(spectrogram.astype(np.float64), stats)
        floor = stats.floor
    else:
        logmag = spectrogram.astype(np.float64)
        floor = math.log(config.amin)
    peak = float(np.max(logmag)) if logmag.size else 0.0
    if peak > _MAX_LOGMAG:
        where = (
            f"normalised values must lie in [-1, 1] (got max {float(np.max(spectrogram)):.4g}), "
            f"which map to log-magnitudes up to {float(denormalize(np.float64(1.0), stats)):.4g}"
            if stats is not None
            else f"log-magnitudes (nepers) must be <= {_MAX_LOGMAG:.4g} (got max {peak:.4g})"
        )
        raise ParameterError(
            f"spectrogram is out of range: its magnitudes overflow float32 (exp({peak:.4g})); {where}"
        )
    magnitude = np.exp(logmag)
    if method == "pghi":
        phase = pghi_phase(logmag, config=config, tol=tol, floor=floor, rng=rng, n_jobs=n_jobs)
    elif method == "random":
        phase = rng.uniform(0.0, 2.0 * np.pi, size=logmag.shape)
    else:
        phase = np.zeros_like(logmag)
    y = griffin_lim(
        magnitude.astype(np.float32), config=config, n_iter=n_iter, momentum=momentum, phase=phase
    )
    return y.astype(np.float32, copy=False)
