"""Tiny synthetic test signals (16 kHz, float64)."""

from __future__ import annotations

import numpy as np


def tone(freq: float, n: int = 16384, sr: int = 16000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(n) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float64)


def chirp(n: int = 16384, sr: int = 16000, f0: float = 200.0, f1: float = 5000.0) -> np.ndarray:
    t = np.arange(n) / sr
    dur = n / sr
    return (0.4 * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t))).astype(np.float64)


def harmonic(f0: float = 220.0, n: int = 16384, sr: int = 16000) -> np.ndarray:
    t = np.arange(n) / sr
    y = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 8))
    return (0.3 * y * np.exp(-2 * t)).astype(np.float64)
