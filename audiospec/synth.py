"""Synthetic instrument-like tones for demos and tests (no download needed).

Three families with distinct spectral shapes, loosely modelled on NSynth's guitar, string and mallet:

* :func:`plucked_tone`: harmonic partials with a sharp attack, each decaying faster the higher it is
  (a plucked string);
* :func:`bowed_tone`: a sawtooth-like harmonic series with a slow attack, vibrato and sustain
  (a bowed string);
* :func:`struck_tone`: inharmonic partials (ratios of a marimba bar) with a fast decay
  (a struck mallet instrument).
"""

from __future__ import annotations

import numpy as np

from audiospec._validation import valid_rng
from audiospec.errors import ParameterError

__all__ = ["FAMILIES", "plucked_tone", "bowed_tone", "struck_tone", "chirp", "synth_note"]


def _time(duration: float, sample_rate: int) -> np.ndarray:
    if not (duration > 0 and sample_rate > 0):
        raise ParameterError(f"duration={duration!r} and sample_rate={sample_rate!r} must be positive")
    return np.arange(round(duration * sample_rate), dtype=np.float64) / sample_rate


def _finish(y: np.ndarray, peak: float) -> np.ndarray:
    y = y / max(float(np.max(np.abs(y))), 1e-12) * peak
    return y.astype(np.float32)


def plucked_tone(
    frequency: float, *, duration: float = 4.0, sample_rate: int = 16000, peak: float = 0.8, rng=None
) -> np.ndarray:
    """A plucked-string tone, shape (round(duration * sample_rate),), float32."""
    rng = valid_rng(rng)
    t = _time(duration, sample_rate)
    y = np.zeros_like(t)
    for k in range(1, 25):
        f = k * frequency * (1 + 0.0004 * k * k)  # slight stiffness inharmonicity
        if f >= sample_rate / 2:
            break
        decay = 1.5 + 0.9 * k
        y += (1.0 / k) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * np.exp(-decay * t)
    attack = np.minimum(t / 0.003, 1.0)
    return _finish(y * attack, peak)


def bowed_tone(
    frequency: float, *, duration: float = 4.0, sample_rate: int = 16000, peak: float = 0.8, rng=None
) -> np.ndarray:
    """A bowed-string tone with vibrato, shape (round(duration * sample_rate),), float32."""
    rng = valid_rng(rng)
    t = _time(duration, sample_rate)
    vibrato = 1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
    inst_phase = 2 * np.pi * frequency * np.cumsum(vibrato) / sample_rate
    y = np.zeros_like(t)
    for k in range(1, 30):
        if k * frequency * 1.01 >= sample_rate / 2:
            break
        y += (1.0 / k) * np.sin(k * inst_phase + rng.uniform(0, 2 * np.pi))
    envelope = np.minimum(t / 0.12, 1.0) * np.where(
        t < duration - 0.3, 1.0, np.maximum((duration - t) / 0.3, 0)
    )
    y += 0.01 * rng.standard_normal(t.shape) * envelope  # bow noise
    return _finish(y * envelope, peak)


def struck_tone(
    frequency: float, *, duration: float = 4.0, sample_rate: int = 16000, peak: float = 0.8, rng=None
) -> np.ndarray:
    """A struck-bar (mallet) tone with inharmonic partials, shape (round(duration * sample_rate),)."""
    rng = valid_rng(rng)
    t = _time(duration, sample_rate)
    y = np.zeros_like(t)
    for ratio, amp, decay in ((1.0, 1.0, 3.0), (3.93, 0.5, 9.0), (9.54, 0.25, 20.0), (16.0, 0.1, 35.0)):
        f = ratio * frequency
        if f >= sample_rate / 2:
            continue
        y += amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * np.exp(-decay * t)
    click = rng.standard_normal(t.shape) * np.exp(-t / 0.002) * 0.3
    return _finish(y + click, peak)


def chirp(
    f0: float = 100.0,
    f1: float = 6000.0,
    *,
    duration: float = 1.024,
    sample_rate: int = 16000,
    peak: float = 0.5,
) -> np.ndarray:
    """A linear chirp from ``f0`` to ``f1`` Hz, shape (round(duration * sample_rate),), float32."""
    t = _time(duration, sample_rate)
    y = np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / duration * t * t))
    return (peak * y).astype(np.float32)


#: family name -> tone function, in the order of NSynth's paper subset (guitar, string, mallet).
FAMILIES = {"guitar": plucked_tone, "string": bowed_tone, "mallet": struck_tone}


def synth_note(
    family: str, pitch: int, *, duration: float = 4.0, sample_rate: int = 16000, rng=None
) -> np.ndarray:
    """A note of ``family`` ("guitar", "string" or "mallet") at MIDI ``pitch``, float32."""
    if family not in FAMILIES:
        raise ParameterError(f"family={family!r} is not one of {list(FAMILIES)}")
    if not (isinstance(pitch, (int, np.integer)) and 0 <= pitch <= 127):
        raise ParameterError(f"pitch={pitch!r} must be a MIDI note number in 0..127")
    frequency = 440.0 * 2.0 ** ((int(pitch) - 69) / 12.0)
    return FAMILIES[family](frequency, duration=duration, sample_rate=sample_rate, rng=rng)
