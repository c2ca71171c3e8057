import heapq
import math

import numpy as np
import pytest

import audiospec
from audiospec import ParameterError, SpectrogramConfig
from audiospec._heap import heap_integrate
from tests.signals import chirp, harmonic, tone


def _princarg(x):
    return (x + np.pi) % (2 * np.pi) - np.pi


def _sc(y, y_hat, config):
    return float(
        audiospec.spectral_convergence(np.abs(audiospec.stft(y, config=config))[:256], y_hat, config=config)
    )


@pytest.mark.parametrize("signal", [tone(1234.5), chirp()], ids=["tone", "chirp"])
def test_time_gradient_matches_true_phase_advance(config, signal):
    X = audiospec.stft(signal, config=config)[:256]
    logmag = np.log(np.abs(X) + 1e-12)
    tgrad, _ = audiospec.phase_gradients(logmag, config=config)
    # bins within 1 neper (8.7 dB) of their frame's peak, away from the clip's wrap-around
    strong = logmag > logmag.max(axis=0, keepdims=True) - 1
    strong[:, :4] = strong[:, -5:] = False
    true_t = _princarg(np.angle(np.roll(X, -1, axis=-1)) - np.angle(X))
    est_t = 0.5 * (tgrad + np.roll(tgrad, -1, axis=-1))  # the trapezoid rule PGHI uses
    err = _princarg(true_t - est_t)[strong]
    assert np.sqrt(np.mean(err**2)) < 0.2  # phase.md: < 0.2 rad on tones and chirps


def test_frequency_gradient_matches_true_phase_step_for_an_impulse(config):
    y = np.zeros(config.n_samples)
    y[8000 + 37] = 1.0  # an impulse between frame centres
    X = audiospec.stft(y, config=config)[:256]
    logmag = np.log(np.abs(X) + 1e-12)
    _, fgrad = audiospec.phase_gradients(logmag, config=config)
    # frames whose window centre is near the impulse (within 0.5 neper of each row's peak): PGHI
    # treats the Hamming window as a Gaussian, which holds near its centre but not in its tails
    strong = logmag > logmag.max(axis=1, keepdims=True) - 0.5
    strong[0] = strong[-1] = False
    true_f = _princarg(np.angle(X[1:]) - np.angle(X[:-1]))
    est_f = 0.5 * (fgrad[1:] + fgrad[:-1])
    err = _princarg(true_f - est_f)[strong[1:] & strong[:-1]]
    assert err.size > 100 and np.sqrt(np.mean(err**2)) < 0.2


def _reference_heap_integrate(s, tg, fg, thresholds, fill):
    """Slow pure-Python PGHI heap integration (heapq), the algorithm of phase.md section 3."""
    n_bins, n_frames = s.shape
    phase = np.zeros_like(s)
    done = np.zeros(s.shape, bool)
    for thr in thresholds:
        heap = [(-s[m, n], m, n) for m in range(n_bins) for n in range(n_frames) if done[m, n]]
        heapq.heapify(heap)
        while True:
            while heap:
                _, m, n = heapq.heappop(heap)
                for dm, dn in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                    mm, nn = m + dm, (n + dn) % n_frames
                    if not (0 <= mm < n_bins) or done[mm, nn] or s[mm, nn] < thr:
                        continue
                    if dn:
                        phase[mm, nn] = phase[m, n] + dn * 0.5 * (tg[m, n] + tg[mm, nn])
                    else:
                        phase[mm, nn] = phase[m, n] + dm * 0.5 * (fg[m, n] + fg[mm, nn])
                    done[mm, nn] = True
                    heapq.heappush(heap, (-s[mm, nn], mm, nn))
            rest = np.where(done, -np.inf, s)
            m, n = np.unravel_index(np.argmax(rest), s.shape)
            if rest[m, n] < thr:
                break
            phase[m, n] = 0.0
            done[m, n] = True
            heapq.heappush(heap, (-s[m, n], m, n))
    phase[~done] = fill[~done]
    return phase


def test_heap_kernel_equals_slow_reference(rng):
    s = rng.standard_normal((24, 16))
    tg, fg = rng.standard_normal((2, 24, 16))
    fill = rng.uniform(0, 2 * np.pi, (24, 16))
    thresholds = np.array([s.max() - 1.0, s.max() - 2.5])
    ref = _reference_heap_integrate(s, tg, fg, thresholds, fill)
    out = np.zeros_like(s)
    n_done = heap_integrate(s, tg, fg, thresholds, fill, out)
    assert 0 < n_done < s.size  # some islands, some bins left to the random fill
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "name,signal,limit",
    [("chirp", chirp(), -25.0), ("harmonic", harmonic(), -25.0), ("tone", tone(440.0), -30.0)],
)
def test_pghi_reaches_stated_spectral_convergence(config, name, signal, limit):
    logmag = audiospec.stft_logmag(signal, config=config)
    y_hat = audiospec.reconstruct(logmag, config=config, rng=0)
    pghi = _sc(signal, y_hat, config)
    assert pghi < limit
    # PGHI is far better than a random phase, and FGLA refinement improves it further
    random = _sc(signal, audiospec.reconstruct(logmag, config=config, method="random", rng=0), config)
    assert pghi < random - 15
    refined = _sc(signal, audiospec.reconstruct(logmag, config=config, n_iter=32, rng=0), config)
    assert refined < pghi - 3


@pytest.mark.parametrize("window", ["hann", "gaussian"])
def test_pghi_other_windows(window):
    cfg = SpectrogramConfig(window=window)
    y = harmonic()
    y_hat = audiospec.reconstruct(audiospec.stft_logmag(y, config=cfg), config=cfg, rng=0)
    assert _sc(y, y_hat, cfg) < -22


def test_reconstruct_from_normalised_spectrogram(config):
    y = np.stack([chirp(), harmonic()])
    logmag = audiospec.stft_logmag(y, config=config)
    stats = audiospec.dataset_stats(audiospec.partial_stats(logmag, config=config))
    x = audiospec.normalize(logmag, stats)
    y_hat = audiospec.reconstruct(x, config=config, stats=stats, n_iter=8, rng=0)
    assert y_hat.shape == (2, 16384) and y_hat.dtype == np.float32
    sc = audiospec.spectral_convergence(np.exp(logmag), y_hat, config=config)
    assert np.all(sc < -25)


def test_generated_inconsistent_spectrogram_gives_finite_audio(config, rng):
    x = np.tanh(rng.standard_normal((2, 256, 128))).astype(np.float32)  # like a generator's output
    stats = audiospec.DatasetStats(mean=-5.0, std=2.0, r=2.5, upper=4.0)
    y = audiospec.reconstruct(x, config=config, stats=stats, n_iter=4, rng=0)
    assert y.shape == (2, 16384) and np.all(np.isfinite(y))


def test_batch_threads_and_seed_are_deterministic(config):
    logmag = audiospec.stft_logmag(np.stack([chirp(), harmonic(), tone(300.0)]), config=config)
    a = audiospec.pghi_phase(logmag, config=config, rng=3, n_jobs=1)
    b = audiospec.pghi_phase(logmag, config=config, rng=3, n_jobs=3)
    np.testing.assert_array_equal(a, b)
    single = audiospec.pghi_phase(logmag[1], config=config, rng=3)
    # the same bins are integrated item by item (only the random fill draws differ)
    s = logmag[1]
    known = (s > math.log(config.amin)) & (s >= s.max() + math.log(audiospec.DEFAULT_TOL))
    np.testing.assert_allclose(single[known], a[1][known], atol=1e-9)
    assert not np.array_equal(audiospec.pghi_phase(logmag, config=config, rng=4), a)  # random fill


def test_floor_bins_get_random_phase(config):
    logmag = audiospec.stft_logmag(tone(1000.0), config=config)
    floor = np.quantile(logmag, 0.9)
    p1 = audiospec.pghi_phase(logmag, config=config, floor=floor, rng=1)
    p2 = audiospec.pghi_phase(logmag, config=config, floor=floor, rng=2)
    above = logmag > floor
    np.testing.assert_array_equal(p1[above], p2[above])
    assert np.all(p1[~above] != p2[~above])


def test_inputs_not_modified(config):
    logmag = audiospec.stft_logmag(chirp(), config=config)
    copy = logmag.copy()
    audiospec.reconstruct(logmag, config=config, n_iter=2, rng=0)
    np.testing.assert_array_equal(logmag, copy)


def test_bad_arguments(config):
    logmag = audiospec.stft_logmag(chirp(), config=config)
    with pytest.raises(ParameterError, match="tol=.* strictly decreasing"):
        audiospec.pghi_phase(logmag, config=config, tol=(1e-5, 1e-1))
    with pytest.raises(ParameterError, match="tol=2.0"):
        audiospec.pghi_phase(logmag, config=config, tol=2.0)
    with pytest.raises(ParameterError, match="method='magic'"):
        audiospec.reconstruct(logmag, config=config, method="magic")
    with pytest.raises(ParameterError, match="n_iter=-1"):
        audiospec.reconstruct(logmag, config=config, n_iter=-1)
    with pytest.raises(ParameterError, match="momentum=2"):
        audiospec.griffin_lim(np.exp(logmag), config=config, momentum=2)
    with pytest.raises(ParameterError, match="non-negative"):
        audiospec.griffin_lim(logmag, config=config)
    with pytest.raises(ParameterError, match="frequency rows"):
        audiospec.reconstruct(logmag[:100], config=config)
    with pytest.raises(ParameterError, match="non-finite"):
        audiospec.reconstruct(np.full((256, 128), np.nan), config=config)
    with pytest.raises(ParameterError, match="rng="):
        audiospec.reconstruct(logmag, config=config, rng="seed")
    with pytest.raises(ParameterError, match="n_jobs=0"):
        audiospec.pghi_phase(logmag, config=config, n_jobs=0)
