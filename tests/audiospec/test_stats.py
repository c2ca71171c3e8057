import json

import numpy as np
import pytest

import audiospec
from audiospec import ParameterError


def _logmag_batch(rng, n=6):
    cfg = audiospec.SpectrogramConfig()
    y = rng.standard_normal((n, cfg.n_samples)) * np.linspace(0.001, 0.5, n)[:, None]
    return audiospec.stft_logmag(y, config=cfg)


def test_merge_equals_single_pass(rng):
    logmag = _logmag_batch(rng)
    whole = audiospec.partial_stats(logmag)
    parts = [audiospec.partial_stats(logmag[i : i + 2]) for i in range(0, 6, 2)]
    parts.append(audiospec.partial_stats(logmag[:0]))  # empty partial is the identity
    merged = audiospec.merge_stats(parts)
    assert merged.count == whole.count == logmag.size
    np.testing.assert_array_equal(merged.hist, whole.hist)
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-10)
    assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)
    assert whole.mean == pytest.approx(logmag.astype(np.float64).mean(), rel=1e-12)
    assert np.sqrt(whole.variance) == pytest.approx(logmag.astype(np.float64).std(), rel=1e-10)
    assert merged.hist.sum() == logmag.size


def test_histogram_quantile_matches_numpy_within_a_bin(rng):
    logmag = _logmag_batch(rng)
    partial = audiospec.partial_stats(logmag)
    width = (partial.hist_high - partial.hist_low) / partial.hist.size
    for q in (0.001, 0.01, 0.25, 0.5, 0.9, 0.999):
        assert abs(partial.quantile(q) - np.quantile(logmag, q)) <= width


def test_dataset_stats_rule_and_normalize_range(rng):
    logmag = _logmag_batch(rng)
    stats = audiospec.dataset_stats(audiospec.partial_stats(logmag), clip_quantile=0.05)
    z = (logmag - logmag.mean()) / logmag.std()
    assert stats.upper == pytest.approx(z.max(), rel=1e-6)
    assert -stats.r == pytest.approx(np.quantile(z, 0.05), abs=0.01)
    x = audiospec.normalize(logmag, stats)
    assert x.dtype == logmag.dtype and x.shape == logmag.shape
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0, abs=1e-5)
    assert np.mean(x == -1.0) == pytest.approx(0.05, abs=0.005)  # the clipped fraction


def test_normalize_denormalize_are_inverse_on_unclipped_range(rng):
    logmag = _logmag_batch(rng).astype(np.float64)
    stats = audiospec.dataset_stats(audiospec.partial_stats(logmag), r=3.0)
    back = audiospec.denormalize(audiospec.normalize(logmag, stats), stats)
    kept = logmag > stats.floor
    np.testing.assert_allclose(back[kept], logmag[kept], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back[~kept], stats.floor, atol=1e-12)
    x = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(audiospec.normalize(audiospec.denormalize(x, stats), stats), x, atol=1e-12)
    assert stats.r_rule == "explicit" and stats.r == 3.0


def test_json_round_trip(rng):
    stats = audiospec.dataset_stats(audiospec.partial_stats(_logmag_batch(rng)))
    text = stats.to_json()
    json.loads(text)
    back = audiospec.DatasetStats.from_json(text)
    assert (back.mean, back.std, back.r, back.upper, back.r_rule) == (
        stats.mean,
        stats.std,
        stats.r,
        stats.upper,
        stats.r_rule,
    )
    np.testing.assert_array_equal(back.partial.hist, stats.partial.hist)
    # r can be re-derived from the stored histogram without the audio
    again = audiospec.dataset_stats(back.partial)
    assert again.r == stats.r


def test_errors(rng):
    partial = audiospec.partial_stats(_logmag_batch(rng))
    with pytest.raises(ParameterError, match="r=-1 must be a positive"):
        audiospec.dataset_stats(partial, r=-1)
    with pytest.raises(ParameterError, match="clip_quantile=0.7 must be in"):
        audiospec.dataset_stats(partial, clip_quantile=0.7)
    with pytest.raises(ParameterError, match="std = 0"):
        audiospec.dataset_stats(audiospec.partial_stats(np.zeros((4, 4))))
    other = audiospec.partial_stats(np.zeros((4, 4)), n_bins=10)
    with pytest.raises(ParameterError, match="different histograms"):
        partial.merge(other)
    with pytest.raises(ParameterError, match="stats=.* must be an audiospec.DatasetStats"):
        audiospec.normalize(np.zeros(3), {"mean": 0})
    with pytest.raises(ParameterError, match="lacks the key"):
        audiospec.DatasetStats.from_dict({"mean": 0.0})
    with pytest.raises(ParameterError, match="non-finite"):
        audiospec.partial_stats(np.array([np.nan, 1.0]))
    for bad in (np.nan, np.inf, -np.inf):  # anywhere: first, middle, last (float32 and float64)
        for where in (0, 500, -1):
            for dtype in (np.float32, np.float64):
                values = np.linspace(-5, 5, 1000).astype(dtype)
                values[where] = bad
                with pytest.raises(ParameterError, match="non-finite"):
                    audiospec.partial_stats(values.reshape(10, 100))


def test_dataset_stats_to_dict_without_histogram(rng):
    logmag = rng.normal(size=(8, 257, 128)).astype(np.float32)
    stats = audiospec.dataset_stats(audiospec.partial_stats(logmag))
    full, short = stats.to_dict(), stats.to_dict(histogram=False)
    assert full["partial"] is not None and "partial" not in short
    assert short == {k: v for k, v in full.items() if k != "partial"}
    back = audiospec.DatasetStats.from_dict(short)
    assert back.partial is None and back.to_dict(histogram=False) == short


def _sequential_reference(values, low, high, n_bins):
    """The statistics kernel's specification, in plain Python: float64 sums about the first value, in
    memory order, one value at a time; bins floor((v - low) * scale), clamped; rows' maxima."""
    rows = values.reshape(values.shape[0], -1)
    flat = [float(v) for v in rows.reshape(-1)]
    shift, total, total_sq = flat[0], 0.0, 0.0
    hist = np.zeros(n_bins, np.int64)
    scale = n_bins / (high - low)
    for v in flat:
        d = v - shift
        total += d
        total_sq += d * d
        hist[min(max(int(np.floor((v - low) * scale)), 0), n_bins - 1)] += 1
    n = len(flat)
    mean, m2 = shift + total / n, max(total_sq - total * total / n, 0.0)
    peaks = np.array([max(float(v) for v in row) for row in rows])
    return (n, mean, m2, min(flat), max(flat)), hist, peaks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_stats_and_peaks_equal_the_sequential_reference_bit_for_bit(rng, dtype):
    # issue 15: the cache build takes both from one pass; the statistics feed the normalisation and
    # the cache's attributes, so they must be the bits of the one sequential float64 pass, and equal
    # partial_stats and numpy's per-item max exactly
    cfg = audiospec.SpectrogramConfig()
    low, high = np.log(cfg.amin), np.log(cfg.n_fft) + 1.0
    logmag = _logmag_batch(rng, n=3)[:, ::8, ::4].astype(dtype)  # (3, 32, 32): a quick Python loop
    logmag[1, :4] = np.log(np.float32(cfg.amin))  # floor values (the first bin, or just below it)
    logmag[2, 0, 0] = 40.0  # above the histogram: the last bin
    for values in (logmag, logmag[:1], logmag[1:2, :1, :5]):
        partial, peaks = audiospec.stats.partial_stats_and_peaks(values, config=cfg)
        (count, mean, m2, lo, hi), hist, ref_peaks = _sequential_reference(values, low, high, 4096)
        assert (partial.count, partial.mean, partial.m2, partial.minimum, partial.maximum) == (
            count, mean, m2, lo, hi,
        )  # fmt: skip
        np.testing.assert_array_equal(partial.hist, hist)
        assert peaks.dtype == np.float64 and peaks.tolist() == ref_peaks.tolist()
        assert peaks.tolist() == values.reshape(len(values), -1).max(axis=1).astype(float).tolist()
        assert partial.to_dict() == audiospec.partial_stats(values, config=cfg).to_dict()
    empty, none = audiospec.stats.partial_stats_and_peaks(logmag[:0], config=cfg)
    assert empty.count == 0 and none.shape == (0,)
    with pytest.raises(ParameterError, match="non-finite"):
        bad = logmag.copy()
        bad[2, 31, 31] = np.nan
        audiospec.stats.partial_stats_and_peaks(bad, config=cfg)
