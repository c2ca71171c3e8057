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

__all__ = [
    "FAMILIES",
    "PITCH_RANGES",
    "plucked_tone",
    "bowed_tone",
    "struck_tone",
    "chirp",
    "synth_note",
    "make_nsynth_demo",
]


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


#: MIDI pitch ranges of the demo families (as in the project's corpus renderer).
PITCH_RANGES = {"guitar": (40, 84), "string": (36, 96), "mallet": (48, 96)}
_VELOCITIES = (25, 50, 75, 100, 127)


def make_nsynth_demo(
    out_dir: str,
    *,
    per_family: int = 40,
    splits: dict[str, float] | None = None,
    seed: int = 0,
    duration: float = 4.0,
    sample_rate: int = 16000,
) -> dict[str, int]:
    """Write a small NSynth-layout dataset of synthetic guitar, string and mallet notes.

    Creates ``out_dir/nsynth-<split>/examples.json`` (one object keyed by ``note_str``, with NSynth's
    fields) and ``out_dir/nsynth-<split>/audio/<note_str>.wav`` (16-bit PCM, 4 s), so that
    ``audiospec build-cache nsynth out_dir OUT.zarr --split train --sources all`` reads it like the
    real dataset. The notes are synthetic (``instrument_source_str = "synthetic"``).

    Parameters
    ----------
    out_dir : str
        Destination folder (created).
    per_family : int > 0
        Notes per family in the ``train`` split.
    splits : dict[str, float], optional
        Split name -> size relative to ``train``; default ``{"train": 1, "valid": 0.25, "test": 0.25}``.
    seed : int
        Everything (pitches, velocities, partial phases) derives from it.

    Returns
    -------
    dict[str, int]
        Number of notes written per split.
    """
    import json
    import os

    import soundfile as sf

    if isinstance(per_family, bool) or not isinstance(per_family, int) or per_family <= 0:
        raise ParameterError(f"per_family={per_family!r} must be a positive integer")
    splits = {"train": 1.0, "valid": 0.25, "test": 0.25} if splits is None else splits
    families = {"guitar": 3, "string": 8, "mallet": 5}  # NSynth's family indices
    counts = {}
    for split_number, (split, fraction) in enumerate(splits.items()):
        rng = np.random.default_rng([seed, split_number])
        audio_dir = os.path.join(out_dir, f"nsynth-{split}", "audio")
        os.makedirs(audio_dir, exist_ok=True)
        examples: dict[str, dict] = {}
        n_notes = max(1, round(per_family * fraction))
        for family, family_index in families.items():
            low, high = PITCH_RANGES[family]
            written = 0
            while written < n_notes:
                instrument = int(rng.integers(0, 4))
                pitch = int(rng.integers(low, high + 1))
                velocity = int(rng.choice(_VELOCITIES))
                note_str = f"{family}_synthetic_{instrument:03d}-{pitch:03d}-{velocity:03d}"
                if note_str in examples:
                    continue
                y = synth_note(family, pitch, duration=duration, sample_rate=sample_rate, rng=rng)
                y = y * (0.25 + 0.75 * velocity / 127)
                sf.write(os.path.join(audio_dir, note_str + ".wav"), y, sample_rate, subtype="PCM_16")
                examples[note_str] = {
                    "note": len(examples),
                    "note_str": note_str,
                    "instrument": family_index * 100 + instrument,
                    "instrument_str": f"{family}_synthetic_{instrument:03d}",
                    "pitch": pitch,
                    "velocity": velocity,
                    "sample_rate": sample_rate,
                    "qualities": [0] * 10,
                    "qualities_str": [],
                    "instrument_family": family_index,
                    "instrument_family_str": family,
                    "instrument_source": 2,
                    "instrument_source_str": "synthetic",
                }
                written += 1
        with open(os.path.join(out_dir, f"nsynth-{split}", "examples.json"), "w") as f:
            json.dump(examples, f, indent=1)
        counts[split] = len(examples)
    return counts
