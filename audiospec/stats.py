"""Dataset statistics and the normalisation of log-magnitudes to [-1, 1] (GAAE paper, IV-B).

The recipe
----------
1. Standardise with the training set's mean and standard deviation: ``z = (logmag - mean) / std``.
2. Clip below at ``-r`` and above at ``upper`` (both in standard deviations).
3. Map ``[-r, upper]`` affinely onto ``[-1, 1]``: ``x = 2 (z + r) / (upper + r) - 1``.

How ``r`` and ``upper`` are chosen (when not given)
---------------------------------------------------
* ``upper`` is read off the per-item peaks when they are given (as :func:`audiospec.cache.build_cache`
  does): the ``upper_quantile`` quantile (default 0.99) of the items' largest standardised values.
  The quantile takes the observed peak just below it (numpy's ``"lower"`` method), so with fewer
  than 101 items it is the second-largest peak: one outlier file (a float WAV peaking at +-50, say)
  cannot move the ceiling of everyone else; the peaks of the loudest 1 % of items are clipped.
  Without per-item peaks, ``upper`` is the largest standardised value (the rule of format-1 caches
  and of the paper).
* ``r`` is read off the histogram of all training values: ``-r`` is the ``clip_quantile``
  quantile (default 0.01) of the standardised values, so the quietest 1 % of time-frequency bins
  are clipped to the floor. This removes the long tail of near-silent bins (whose exact level is
  noise and inaudible, and which would otherwise skew the distribution the network must match)
  while keeping 99 % of the values unchanged. Pass ``r`` explicitly to override (TiFGAN's r = 10 is
  in nepers below each clip's maximum, a different unit; ``r`` here is in standard deviations).

Streaming and merging
---------------------
:func:`partial_stats` summarises any block of spectrograms as a :class:`PartialStats` (count, mean,
sum of squared deviations, min, max and a fixed-bin histogram). Partials from parallel workers
merge exactly (Chan et al.'s pairwise update; the histogram adds), so one pass over the data gives
the same :class:`DatasetStats` whatever the blocking.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from functools import reduce
from typing import Any

import numpy as np

from audiospec._validation import valid_config
from audiospec.config import SpectrogramConfig
from audiospec.errors import ParameterError

__all__ = [
    "PartialStats",
    "DatasetStats",
    "partial_stats",
    "partial_stats_and_peaks",
    "merge_stats",
    "dataset_stats",
    "check_clip_rule",
    "normalize",
    "denormalize",
    "normalize_affine",
    "DEFAULT_CLIP_QUANTILE",
    "DEFAULT_UPPER_QUANTILE",
    "DEFAULT_HIST_BINS",
]

DEFAULT_CLIP_QUANTILE: float = 0.01
#: Quantile of the per-item peaks that sets the upper clip (see the module docstring).
DEFAULT_UPPER_QUANTILE: float = 0.99
DEFAULT_HIST_BINS: int = 4096


def _hist_range(config: SpectrogramConfig) -> tuple[float, float]:
    # |X| <= sum(window) * max|y| <= n_fft for audio in [-1, 1]; values beyond the range land in
    # the end bins (and the exact minimum and maximum are kept separately).
    return (math.log(config.amin), math.log(config.n_fft) + 1.0)


@dataclass(frozen=True)
class PartialStats:
    """Mergeable summary of a set of log-magnitude values.

    Attributes
    ----------
    count : int
        Number of values.
    mean : float
        Their mean (nepers).
    m2 : float
        Sum of squared deviations from the mean.
    minimum, maximum : float
        Exact extremes.
    hist : np.ndarray, shape (n_bins,), int64
        Counts in ``n_bins`` equal bins over ``[hist_low, hist_high]``; values outside the range
        are counted in the first or last bin.
    hist_low, hist_high : float
        The histogram's range in nepers.
    """

    count: int
    mean: float
    m2: float
    minimum: float
    maximum: float
    hist: np.ndarray = field(repr=False)
    hist_low: float
    hist_high: float

    @property
    def variance(self) -> float:
        """Population variance, ``m2 / count``."""
        return self.m2 / self.count if self.count else float("nan")

    def merge(self, other: PartialStats) -> PartialStats:
        """Combine two partials as if their values had been summarised together."""
        if not isinstance(other, PartialStats):
            raise ParameterError(f"other={other!r} must be a PartialStats")
        if (self.hist_low, self.hist_high, self.hist.shape) != (
            other.hist_low,
            other.hist_high,
            other.hist.shape,
        ):
            raise ParameterError(
                "cannot merge PartialStats with different histograms: "
                f"[{self.hist_low}, {self.hist_high}] x {self.hist.shape[0]} bins vs "
                f"[{other.hist_low}, {other.hist_high}] x {other.hist.shape[0]} bins"
            )
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        return PartialStats(
            count=n,
            mean=self.mean + delta * other.count / n,
            m2=self.m2 + other.m2 + delta * delta * self.count * other.count / n,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            hist=self.hist + other.hist,
            hist_low=self.hist_low,
            hist_high=self.hist_high,
        )

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the values (nepers), interpolated within histogram bins."""
        if not (0.0 <= q <= 1.0):
            raise ParameterError(f"q={q!r} must be in [0, 1]")
        if self.count == 0:
            raise ParameterError("cannot take a quantile of empty statistics (count=0)")
        cdf = np.cumsum(self.hist)
        target = q * self.count
        i = int(np.searchsorted(cdf, target, side="left"))
        i = min(i, len(cdf) - 1)
        width = (self.hist_high - self.hist_low) / len(self.hist)
        below = cdf[i - 1] if i > 0 else 0
        in_bin = self.hist[i]
        frac = (target - below) / in_bin if in_bin else 0.0
        value = self.hist_low + (i + frac) * width
        return float(min(max(value, self.minimum), self.maximum))

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """JSON-ready dict: the histogram as a list of ints (``hist``) or, with ``compact``, as base64
        of its little-endian int64 bytes (``hist_b64``: a 4096-bin list costs ~0.3 ms to write and as
        much to read, which the cache build's pass-1 markers would pay per task)."""
        # the fields as they are (dataclasses.asdict would deep-copy the histogram first), the
        # histogram as Python ints (tolist: 10x faster than a loop) or as base64
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "hist":
                out[f.name] = getattr(self, f.name)
            elif compact:
                raw = np.asarray(self.hist, dtype="<i8").tobytes()
                out["hist_b64"] = base64.b64encode(raw).decode("ascii")
            else:
                out["hist"] = np.asarray(self.hist, dtype=np.int64).tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartialStats:
        """Rebuild from :meth:`to_dict` output (either histogram form)."""
        try:
            if "hist" in data:
                hist = np.asarray(data["hist"], dtype=np.int64)
            else:
                raw = base64.b64decode(data["hist_b64"], validate=True)
                hist = np.frombuffer(raw, dtype="<i8").astype(np.int64)
            return cls(
                count=int(data["count"]),
                mean=float(data["mean"]),
                m2=float(data["m2"]),
                minimum=float(data["minimum"]),
                maximum=float(data["maximum"]),
                hist=hist,
                hist_low=float(data["hist_low"]),
                hist_high=float(data["hist_high"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"data is not a serialised PartialStats: {exc!r}") from None


def partial_stats(
    logmag: np.ndarray,
    *,
    config: SpectrogramConfig | None = None,
    n_bins: int = DEFAULT_HIST_BINS,
) -> PartialStats:
    """Summarise a block of log-magnitude spectrograms for later merging.

    Parameters
    ----------
    logmag : np.ndarray, shape (..., n_bins, n_frames)
        Raw (unnormalised) log-magnitudes from :func:`audiospec.stft_logmag`.
    config : SpectrogramConfig, optional
        Fixes the histogram range, ``[ln(amin), ln(n_fft) + 1]`` nepers.
    n_bins : int > 0
        Number of histogram bins. Partials merge only with equal ``n_bins`` and config range.
    """
    values = np.asarray(logmag)
    return _summary(values.reshape(1, -1), config, n_bins)[0]


def partial_stats_and_peaks(
    logmag: np.ndarray,
    *,
    config: SpectrogramConfig | None = None,
    n_bins: int = DEFAULT_HIST_BINS,
) -> tuple[PartialStats, np.ndarray]:
    """:func:`partial_stats` of a batch of items and each item's peak, from one pass.

    Parameters
    ----------
    logmag : np.ndarray, shape (n_items, n_bins, n_frames)
        Raw log-magnitudes of ``n_items`` items (any trailing shape).
    config, n_bins
        As for :func:`partial_stats`.

    Returns
    -------
    partial : PartialStats
        ``partial_stats(logmag)``, the same bits.
    peaks : np.ndarray, shape (n_items,), float64
        ``logmag.reshape(n_items, -1).max(axis=1)``: each item's largest value (the ``item_peaks`` of
        :func:`dataset_stats`).
    """
    values = np.asarray(logmag)
    if values.ndim < 1:
        raise ParameterError(f"logmag must have a leading item axis (got shape {values.shape})")
    return _summary(values.reshape(values.shape[0], math.prod(values.shape[1:])), config, n_bins)


def _summary(
    values: np.ndarray, config: SpectrogramConfig | None, n_bins: int
) -> tuple[PartialStats, np.ndarray]:
    """The :class:`PartialStats` of ``values`` (n_items, m) and its rows' peaks, in one compiled pass."""
    config = valid_config(config)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins <= 0:
        raise ParameterError(f"n_bins={n_bins!r} must be a positive integer")
    if values.dtype.kind != "f":
        raise ParameterError(f"logmag must be a floating-point array (got dtype {values.dtype})")
    low, high = _hist_range(config)
    if values.size == 0:
        empty = PartialStats(0, 0.0, 0.0, math.inf, -math.inf, np.zeros(n_bins, np.int64), low, high)
        return empty, np.full(values.shape[0], -math.inf)
    from audiospec._heap import summarise  # compiled once, cached on disk

    hist = np.zeros(n_bins, dtype=np.int64)
    peaks = np.empty(values.shape[0], dtype=np.float64)
    count, mean, m2, minimum, maximum = summarise(
        np.ascontiguousarray(values), low, n_bins / (high - low), hist, peaks
    )
    if count < 0:  # the kernel met a NaN or an infinity
        raise ParameterError("logmag contains non-finite values (NaN or inf)")
    partial = PartialStats(
        count=int(count),
        mean=float(mean),
        m2=float(m2),
        minimum=float(minimum),
        maximum=float(maximum),
        hist=hist,
        hist_low=low,
        hist_high=high,
    )
    return partial, peaks


def merge_stats(parts: Iterable[PartialStats]) -> PartialStats:
    """Merge any number of :class:`PartialStats` (at least one)."""
    parts = list(parts)
    if not parts:
        raise ParameterError("parts is empty; merge_stats needs at least one PartialStats")
    return reduce(PartialStats.merge, parts)


@dataclass(frozen=True)
class DatasetStats:
    """Everything :func:`normalize` needs, plus where it came from.

    Attributes
    ----------
    mean, std : float
        Mean and standard deviation of the training log-magnitudes (nepers).
    r : float > 0
        Lower clip, in standard deviations below the mean.
    upper : float > -r
        Upper clip, in standard deviations above the mean.
    r_rule : str
        ``"quantile"`` (r read off the histogram at ``clip_quantile``) or ``"explicit"``.
    clip_quantile : float or None
        The quantile used by the ``"quantile"`` rule.
    partial : PartialStats or None
        The full summary (histogram included), so that r can be re-derived without the audio.
    upper_rule : str
        ``"max"`` (the largest training value) or ``"item_quantile"`` (the ``upper_quantile``
        quantile of the per-item peaks).
    upper_quantile : float or None
        The quantile used by the ``"item_quantile"`` rule.
    """

    mean: float
    std: float
    r: float
    upper: float
    r_rule: str = "quantile"
    clip_quantile: float | None = DEFAULT_CLIP_QUANTILE
    partial: PartialStats | None = field(default=None, repr=False)
    upper_rule: str = "max"
    upper_quantile: float | None = None

    def __post_init__(self) -> None:
        for name in ("mean", "std", "r", "upper"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"{name}={value!r} must be a finite number")
        if self.std <= 0:
            raise ParameterError(f"std={self.std!r} must be > 0 (the data have no spread)")
        if self.r <= 0:
            raise ParameterError(f"r={self.r!r} must be > 0 (standard deviations below the mean)")
        if self.upper <= -self.r:
            raise ParameterError(f"upper={self.upper!r} must be > -r = {-self.r!r}")

    @property
    def floor(self) -> float:
        """The lowest log-magnitude kept, ``mean - r * std`` (nepers)."""
        return self.mean - self.r * self.std

    @property
    def ceiling(self) -> float:
        """The highest log-magnitude kept, ``mean + upper * std`` (nepers)."""
        return self.mean + self.upper * self.std

    def to_dict(self, *, histogram: bool = True) -> dict[str, Any]:
        """JSON-ready dict; ``histogram=False`` leaves out ``partial`` (not needed to normalise)."""
        out = {
            "mean": self.mean,
            "std": self.std,
            "r": self.r,
            "upper": self.upper,
            "r_rule": self.r_rule,
            "clip_quantile": self.clip_quantile,
            "partial": None if self.partial is None else self.partial.to_dict(),
            "upper_rule": self.upper_rule,
            "upper_quantile": self.upper_quantile,
        }
        if not histogram:
            del out["partial"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStats:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(data, dict):
            raise ParameterError(f"data={data!r} must be a dict from DatasetStats.to_dict()")
        missing = sorted({"mean", "std", "r", "upper"} - set(data))
        if missing:
            raise ParameterError(f"serialised DatasetStats lacks the key(s) {missing}")
        partial = data.get("partial")
        return cls(
            mean=float(data["mean"]),
            std=float(data["std"]),
            r=float(data["r"]),
            upper=float(data["upper"]),
            r_rule=str(data.get("r_rule", "explicit")),
            clip_quantile=data.get("clip_quantile"),
            partial=None if partial is None else PartialStats.from_dict(partial),
            upper_rule=str(data.get("upper_rule", "max")),
            upper_quantile=data.get("upper_quantile"),
        )

    def to_json(self) -> str:
        """The statistics as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> DatasetStats:
        """Rebuild from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"text is not JSON: {exc}") from None
        return cls.from_dict(data)


def check_clip_rule(r: float | None, clip_quantile: float) -> None:
    """Validate the clip options of :func:`dataset_stats` (before any data are read)."""
    if r is None:
        if not (isinstance(clip_quantile, (int, float)) and 0.0 < clip_quantile < 0.5):
            raise ParameterError(f"clip_quantile={clip_quantile!r} must be in (0, 0.5)")
    elif isinstance(r, bool) or not isinstance(r, (int, float)) or not (math.isfinite(r) and r > 0):
        raise ParameterError(f"r={r!r} must be a positive finite number (standard deviations)")


def dataset_stats(
    partial: PartialStats,
    *,
    r: float | None = None,
    clip_quantile: float = DEFAULT_CLIP_QUANTILE,
    item_peaks: np.ndarray | None = None,
    upper_quantile: float = DEFAULT_UPPER_QUANTILE,
) -> DatasetStats:
    """Fit the normalisation from a (merged) training-set summary.

    Parameters
    ----------
    partial : PartialStats
        Summary of *all* training log-magnitudes (see :func:`merge_stats`).
    r : float > 0, optional
        Lower clip in standard deviations; when omitted, derived by the quantile rule.
    clip_quantile : float in (0, 0.5)
        Fraction of training values clipped to the floor by the quantile rule.
    item_peaks : np.ndarray, shape (n_items,), optional
        The largest log-magnitude (nepers) of each training item. When given, ``upper`` is their
        ``upper_quantile`` quantile (robust to a few outlier items); otherwise the largest value.
    upper_quantile : float in (0.5, 1]
        See ``item_peaks``.

    Returns
    -------
    DatasetStats
    """
    if not isinstance(partial, PartialStats):
        raise ParameterError(f"partial={partial!r} must be a PartialStats (see partial_stats)")
    if partial.count < 2:
        raise ParameterError(f"partial has count={partial.count}; at least 2 values are needed")
    std = math.sqrt(partial.variance)
    if std <= 0:
        raise ParameterError("the log-magnitudes are all equal (std = 0); is the audio silent?")
    if item_peaks is None:
        upper, upper_rule, upper_q = (partial.maximum - partial.mean) / std, "max", None
    else:
        peaks = np.asarray(item_peaks, dtype=np.float64).reshape(-1)
        if not (isinstance(upper_quantile, (int, float)) and 0.5 < upper_quantile <= 1.0):
            raise ParameterError(f"upper_quantile={upper_quantile!r} must be in (0.5, 1]")
        if peaks.size == 0 or not np.all(np.isfinite(peaks)):
            raise ParameterError("item_peaks must be a non-empty array of finite log-magnitudes")
        # "lower": an observed peak, and below the largest whenever upper_quantile < 1 and n >= 2
        peak = float(np.quantile(peaks, upper_quantile, method="lower"))
        upper, upper_rule, upper_q = (peak - partial.mean) / std, "item_quantile", float(upper_quantile)
    check_clip_rule(r, clip_quantile)
    if r is None:
        r_value = -(partial.quantile(clip_quantile) - partial.mean) / std
        if r_value <= 0:
            raise ParameterError(
                f"the quantile rule gave r={r_value:.4g} <= 0 (the {clip_quantile} quantile is above "
                "the mean); pass r explicitly"
            )
        rule, quantile = "quantile", float(clip_quantile)
    else:
        r_value, rule, quantile = float(r), "explicit", None
    return DatasetStats(
        mean=partial.mean,
        std=std,
        r=r_value,
        upper=upper,
        r_rule=rule,
        clip_quantile=quantile,
        partial=partial,
        upper_rule=upper_rule,
        upper_quantile=upper_q,
    )


def _valid_stats(stats: Any) -> DatasetStats:
    if not isinstance(stats, DatasetStats):
        raise ParameterError(f"stats={stats!r} must be an audiospec.DatasetStats (see dataset_stats)")
    return stats


def normalize(logmag: np.ndarray, stats: DatasetStats) -> np.ndarray:
    """Standardise, clip to ``[-r, upper]`` and scale to ``[-1, 1]``.

    Parameters
    ----------
    logmag : np.ndarray, shape (...)
        Raw log-magnitudes (nepers). Not modified.
    stats : DatasetStats

    Returns
    -------
    np.ndarray, same shape and float dtype, values in [-1, 1].

    Raises
    ------
    ParameterError
        If ``logmag`` is not floating point or holds NaN or infinite values (clipping would
        otherwise turn them into plausible-looking -1 or 1, or keep NaN).
    """
    stats = _valid_stats(stats)
    logmag = np.asarray(logmag)
    if logmag.dtype.kind != "f":
        raise ParameterError(f"logmag must be a floating-point array (got dtype {logmag.dtype})")
    bad = logmag.size - int(np.count_nonzero(np.isfinite(logmag)))
    if bad:
        raise ParameterError(
            f"logmag contains {bad} non-finite value(s) (NaN or inf) of {logmag.size}; "
            "normalize needs finite log-magnitudes (check the audio or the STFT input)"
        )
    # one affine map and one clip: the map is increasing, so clipping its output to [-1, 1] is
    # clipping the standardised value to [-r, upper]
    scale, offset = normalize_affine(stats, dtype=logmag.dtype)
    out = logmag * scale
    out += offset
    np.clip(out, -1.0, 1.0, out=out)
    return out


def normalize_affine(stats: DatasetStats, *, dtype: Any = np.float32) -> tuple[np.generic, np.generic]:
    """``(scale, offset)`` of :func:`normalize`'s map ``clip(logmag * scale + offset, -1, 1)``, as
    scalars of ``dtype`` (what the compiled cache writer applies, so that both agree to the bit)."""
    stats = _valid_stats(stats)
    scale = 2.0 / (stats.std * (stats.upper + stats.r))
    offset = (stats.r - stats.mean / stats.std) * 2.0 / (stats.upper + stats.r) - 1.0
    return np.dtype(dtype).type(scale), np.dtype(dtype).type(offset)


def denormalize(x: np.ndarray, stats: DatasetStats) -> np.ndarray:
    """Inverse of :func:`normalize` (exact for values that were not clipped).

    Parameters
    ----------
    x : np.ndarray, shape (...)
        Normalised values, normally in [-1, 1] (values outside are extrapolated, not clipped).

    Returns
    -------
    np.ndarray, same shape and float dtype: log-magnitudes in nepers.
    """
    stats = _valid_stats(stats)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ParameterError(f"x must be a floating-point array (got dtype {x.dtype})")
    z = (x + 1.0) * ((stats.upper + stats.r) / 2.0) - stats.r
    return (z * stats.std + stats.mean).astype(x.dtype, copy=False)
