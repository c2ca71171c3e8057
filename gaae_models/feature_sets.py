"""What feature extraction returns: :class:`Embedding` (one clip), :class:`FeatureSet` (many files).

:func:`save_features` writes a :class:`FeatureSet` as an ``.npz`` file that loads without pickles
(``np.load(path, allow_pickle=False)``), atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiospec.atomic import atomic_path
from gaae_models.errors import ConfigError

__all__ = ["Embedding", "FeatureSet", "pooled_mean", "save_features"]


@dataclass(frozen=True)
class Embedding:
    """The features of one clip.

    Attributes
    ----------
    z : np.ndarray or None, shape (n_windows, z_dim), float32
        Guided latent of each window (None when the model or ``which`` has no z).
    s : np.ndarray or None, shape (n_windows, s_dim), float32
        Style latent of each window.
    offsets : np.ndarray, shape (n_windows,), float64
        Start of each window in seconds.
    duration : float
        Length of the audio in seconds (before padding).
    sample_rate : int
        Rate the audio was resampled to (Hz).
    """

    z: np.ndarray | None
    s: np.ndarray | None
    offsets: np.ndarray
    duration: float
    sample_rate: int

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.offsets.shape[0])

    @property
    def z_mean(self) -> np.ndarray | None:
        """Mean of ``z`` over the windows, shape (z_dim,), float32."""
        return None if self.z is None else pooled_mean(self.z)

    @property
    def s_mean(self) -> np.ndarray | None:
        """Mean of ``s`` over the windows, shape (s_dim,), float32."""
        return None if self.s is None else pooled_mean(self.s)


def pooled_mean(x: np.ndarray) -> np.ndarray:
    """Mean over the windows (axis 0), accumulated in float64, as float32."""
    return x.mean(axis=0, dtype=np.float64).astype(np.float32)


@dataclass(frozen=True)
class FeatureSet:
    """Features of many files, as :func:`extract_features` returns and :func:`save_features` writes.

    Attributes
    ----------
    files : tuple of str
        The files that were read, in input order.
    file_index : np.ndarray, shape (N,), int64
        For each window, its file (an index into ``files``).
    offset_seconds : np.ndarray, shape (N,), float64
        For each window, its start in its file (s).
    latents : dict of str to np.ndarray
        ``{"z": (N, z_dim), "s": (N, s_dim)}`` (the requested ones), float32.
    pooled : dict of str to np.ndarray
        The per-file means, ``{"z": (n_files, z_dim), ...}``, float32.
    n_windows : np.ndarray, shape (n_files,), int64
    duration_seconds : np.ndarray, shape (n_files,), float64
    skipped : tuple of (str, str)
        Files that could not be read, with the reason.
    sample_rate : int
    window_seconds, hop_seconds : float
    """

    files: tuple[str, ...]
    file_index: np.ndarray
    offset_seconds: np.ndarray
    latents: dict[str, np.ndarray]
    pooled: dict[str, np.ndarray]
    n_windows: np.ndarray
    duration_seconds: np.ndarray
    skipped: tuple[tuple[str, str], ...]
    sample_rate: int
    window_seconds: float
    hop_seconds: float

    def arrays(self) -> dict[str, np.ndarray]:
        """The npz arrays: ``z``/``s``, ``z_mean``/``s_mean``, the index and metadata (no pickles)."""
        out: dict[str, np.ndarray] = {}
        for name, value in self.latents.items():
            out[name] = value
            out[f"{name}_mean"] = self.pooled[name]
        out.update(
            file_index=self.file_index,
            offset_seconds=self.offset_seconds,
            files=np.array(self.files, dtype=str),
            n_windows=self.n_windows,
            duration_seconds=self.duration_seconds,
            skipped_files=np.array([p for p, _ in self.skipped], dtype=str),
            skipped_reasons=np.array([r for _, r in self.skipped], dtype=str),
            latent_names=np.array(list(self.latents), dtype=str),
            sample_rate=np.array(self.sample_rate, dtype=np.int64),
            window_seconds=np.array(self.window_seconds),
            hop_seconds=np.array(self.hop_seconds),
        )
        return out


def save_features(
    path: str | os.PathLike, features: FeatureSet, *, metadata: dict[str, Any] | None = None
) -> str:
    """Write :meth:`FeatureSet.arrays` (plus string ``metadata``) as an ``.npz`` file, atomically.

    Parameters
    ----------
    path : path-like
        Output file; written to a temporary name beside it and renamed.
    features : FeatureSet
    metadata : dict of str to str or list of str, optional
        Extra arrays, e.g. the model id (stored as unicode arrays, loadable without pickle).

    Returns
    -------
    str
        The absolute path written.
    """
    path = os.path.abspath(os.fspath(path))
    arrays = features.arrays()
    for key, value in (metadata or {}).items():
        if key in arrays:
            raise ConfigError(f"metadata key {key!r} collides with a feature array; choose another name")
        arrays[key] = np.array(value, dtype=str)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path
