"""Audio of any length -> the normalised model input, in one object that saves and loads itself.

:class:`Preprocessor` is a thin wrapper over the functional core: it holds a
:class:`~audiospec.config.SpectrogramConfig` and the training set's
:class:`~audiospec.stats.DatasetStats`, and ``preprocessor(audio, sr)`` resamples the audio to the
config's rate, cuts it into windows of ``config.n_samples`` samples and returns
``normalize(stft_logmag(window))`` of each: exactly the spectrograms of an audiospec cache for the
same crops, shaped as the networks take them, ``(n_windows, 1, F, T)``.

The windows start at ``0, hop, 2 hop, ...`` until every sample is covered (:func:`window_starts`);
the last window, and a clip shorter than one window, are zero-padded at the end, as the cache's
``start`` crop pads a short file.

Like the feature extractors of ``transformers``, it writes and reads ``preprocessor_config.json``
(:meth:`Preprocessor.save_pretrained`, :meth:`Preprocessor.from_pretrained`), and
:meth:`Preprocessor.from_cache` takes the config and statistics of a spectrogram cache.

Examples
--------
>>> import numpy as np
>>> from audiospec.preprocessor import Preprocessor
>>> pre = Preprocessor.from_cache("train.zarr")  # doctest: +SKIP
>>> pre(np.zeros(40000, np.float32), 16000).shape  # doctest: +SKIP
(3, 1, 256, 128)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from audiospec._validation import valid_audio, valid_config
from audiospec.atomic import atomic_write_text
from audiospec.config import SpectrogramConfig
from audiospec.errors import ParameterError
from audiospec.io import resample
from audiospec.stats import DatasetStats, normalize
from audiospec.transform import stft_logmag

__all__ = [
    "PREPROCESSOR_CONFIG_NAME",
    "PREPROCESSOR_FORMAT_VERSION",
    "Preprocessor",
    "window_starts",
    "iter_windows",
    "frame_windows",
]

#: The file :meth:`Preprocessor.save_pretrained` writes (the name transformers' feature extractors use).
PREPROCESSOR_CONFIG_NAME: str = "preprocessor_config.json"
#: Version of the layout of ``preprocessor_config.json`` (key ``format_version``).
PREPROCESSOR_FORMAT_VERSION: int = 1
_TYPE = "audiospec.Preprocessor"


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    return int(value)


def window_starts(n_samples: int, *, window: int, hop: int) -> np.ndarray:
    """First samples of the windows that cover ``n_samples`` samples.

    Windows start at ``0, hop, 2 hop, ...`` until the last one reaches the end of the audio: with
    ``n <= window`` that is one window; otherwise ``1 + ceil((n - window) / hop)``. The last window
    (or the only one, for a short clip) is zero-padded at the end (:func:`iter_windows`).

    Parameters
    ----------
    n_samples : int >= 1
        Length of the audio in samples.
    window, hop : int >= 1
        Window length and hop in samples.

    Returns
    -------
    np.ndarray, shape (n_windows,), int64

    Raises
    ------
    ParameterError
        An argument is not a positive integer.

    Examples
    --------
    >>> window_starts(16000, window=16384, hop=16384).tolist()
    [0]
    >>> window_starts(40000, window=16384, hop=16384).tolist()
    [0, 16384, 32768]
    """
    n_samples = _positive_int("n_samples", n_samples)
    window = _positive_int("window", window)
    hop = _positive_int("hop", hop)
    count = 1 + max(0, -(-(n_samples - window) // hop))
    return np.arange(count, dtype=np.int64) * hop


def iter_windows(y: np.ndarray, *, window: int, hop: int) -> Iterator[np.ndarray]:
    """The windows of :func:`window_starts` over ``y`` (shape (n,)); the last is zero-padded to ``window``."""
    for start in window_starts(y.shape[0], window=window, hop=hop):
        segment = y[start : start + window]
        if segment.shape[0] < window:
            segment = np.pad(segment, (0, window - segment.shape[0]))
        yield segment


def frame_windows(y: np.ndarray, *, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows of ``y`` (shape (n,)) at once: ``(windows (n_windows, window), starts (n_windows,))``."""
    starts = window_starts(y.shape[0], window=window, hop=hop)
    return np.stack(list(iter_windows(y, window=window, hop=hop))), starts


class Preprocessor:
    """Audio -> normalised log-magnitude spectrograms, the input of the networks.

    Parameters
    ----------
    config : SpectrogramConfig
        The transform (sample rate, window length ``n_samples``, STFT).
    stats : DatasetStats
        The training set's statistics, for :func:`audiospec.normalize` (its histogram is dropped:
        normalising does not need it).

    Attributes
    ----------
    config : SpectrogramConfig
    stats : DatasetStats
    window : int
        Samples per window, ``config.n_samples`` (16384 = 1.024 s by default).
    sample_rate : int
        ``config.sample_rate`` in Hz.
    shape : tuple of int
        ``(F, T)`` of one spectrogram, ``config.shape`` (256, 128).

    Raises
    ------
    ParameterError
        ``config`` or ``stats`` has the wrong type.
    """

    def __init__(self, *, config: SpectrogramConfig, stats: DatasetStats) -> None:
        self.config = valid_config(config)
        if not isinstance(stats, DatasetStats):
            raise ParameterError(f"stats={stats!r} must be an audiospec.DatasetStats")
        self.stats = dataclasses.replace(stats, partial=None)

    @property
    def window(self) -> int:
        return self.config.n_samples

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.config.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Preprocessor(config={self.config!r}, stats={self.stats!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preprocessor) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def spectrograms(self, windows: np.ndarray) -> np.ndarray:
        """Windows of audio at :attr:`sample_rate`, ``(..., n_samples)`` -> ``(..., F, T)`` normalised.

        ``normalize(stft_logmag(windows, config=config), stats)``: the spectrograms of an audiospec
        cache, in [-1, 1], float32 for float32 windows.
        """
        return normalize(stft_logmag(windows, config=self.config), self.stats)

    def frame(self, y: np.ndarray, *, hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The windows of a waveform at :attr:`sample_rate` (see :func:`window_starts`).

        Parameters
        ----------
        y : np.ndarray, shape (n,)
        hop : int >= 1, optional
            Hop between windows in samples [default: one window, no overlap].

        Returns
        -------
        windows : np.ndarray, shape (n_windows, n_samples)
        starts : np.ndarray, shape (n_windows,), int64
            First sample of each window.
        """
        return frame_windows(y, window=self.window, hop=self.window if hop is None else hop)

    def __call__(self, audio: np.ndarray, sr: int, *, hop: int | None = None) -> np.ndarray:
        """The normalised model input of a waveform of any length.

        Parameters
        ----------
        audio : np.ndarray, shape (n,)
            Mono floating-point samples in [-1, 1], finite.
        sr : int > 0
            Its sample rate in Hz; resampled to :attr:`sample_rate` when different.
        hop : int >= 1, optional
            Hop between windows in samples at :attr:`sample_rate` [default: one window].

        Returns
        -------
        np.ndarray, shape (n_windows, 1, F, T), float32
            One normalised spectrogram per window, in [-1, 1]: ``(1, 1, 256, 128)`` for a clip of
            at most 1.024 s at the default config.

        Raises
        ------
        ParameterError
            ``sr`` is not a positive integer, ``audio`` is not one mono waveform of floats, or
            ``hop`` is not a positive integer.
        AudioError
            ``audio`` is empty or not finite.
        """
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ParameterError(f"sr={sr!r} must be a positive integer sample rate in Hz")
        y = valid_audio(audio, name="audio")
        if y.ndim != 1:
            raise ParameterError(
                f"audio has shape {y.shape}; expected one mono waveform of shape (n,) (average the channels)"
            )
        if hop is not None:
            hop = _positive_int("hop", hop)
        y = np.ascontiguousarray(resample(y, int(sr), self.sample_rate), dtype=np.float32)
        windows, _ = self.frame(y, hop=hop)
        return self.spectrograms(windows)[:, None]

    # -- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The content of ``preprocessor_config.json`` (JSON-serialisable)."""
        return {
            "preprocessor_type": _TYPE,
            "format_version": PREPROCESSOR_FORMAT_VERSION,
            "sampling_rate": self.sample_rate,
            "audio_config": self.config.to_dict(),
            "stats": self.stats.to_dict(histogram=False),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        """Rebuild from :meth:`to_dict`'s output.

        Raises
        ------
        ParameterError
            Another type or a newer format version, or a missing key (named).
        """
        if not isinstance(data, dict) or data.get("preprocessor_type") != _TYPE:
            kind = data.get("preprocessor_type") if isinstance(data, dict) else type(data).__name__
            raise ParameterError(f"preprocessor_type={kind!r}: not an {_TYPE} config")
        version = data.get("format_version")
        if not isinstance(version, int) or not 1 <= version <= PREPROCESSOR_FORMAT_VERSION:
            raise ParameterError(
                f"format_version={version!r} is not one this audiospec reads "
                f"(1..{PREPROCESSOR_FORMAT_VERSION}); upgrade audiospec"
            )
        missing = [key for key in ("audio_config", "stats") if key not in data]
        if missing:
            raise ParameterError(f"the preprocessor config lacks {missing}")
        return cls(
            config=SpectrogramConfig.from_dict(data["audio_config"]),
            stats=DatasetStats.from_dict(data["stats"]),
        )

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Write ``SAVE_DIRECTORY/preprocessor_config.json`` atomically; returns its path.

        The folder is created if missing; other files in it are left alone.
        """
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(os.fspath(save_directory), PREPROCESSOR_CONFIG_NAME)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> Preprocessor:
        """Read ``DIRECTORY/preprocessor_config.json`` (or that file itself).

        Raises
        ------
        ParameterError
            The file is missing, not JSON, or not a preprocessor config (see :meth:`from_dict`).
        """
        path = os.fspath(directory)
        if os.path.isdir(path):
            path = os.path.join(path, PREPROCESSOR_CONFIG_NAME)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ParameterError(
                f"{path!r} does not exist; save one with Preprocessor.save_pretrained"
            ) from None
        except (OSError, ValueError) as exc:
            raise ParameterError(f"cannot read {path!r}: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_cache(cls, path: str | os.PathLike) -> Preprocessor:
        """The config and statistics of an audiospec cache (see :func:`audiospec.cache.open_cache`)."""
        from audiospec.cache import open_cache

        cache = open_cache(path)
        return cls(config=cache.config, stats=cache.stats)
