import numpy as np
import pytest

import audiospec
from audiospec import ParameterError
from tests.signals import chirp, harmonic


def test_spectral_convergence_known_values(config):
    y = np.stack([chirp(), harmonic()])
    mag = np.abs(audiospec.stft(y, config=config))[..., :256, :]
    perfect = audiospec.spectral_convergence(mag, y, config=config)
    assert perfect.shape == (2,) and np.all(perfect < -200)
    # half the amplitude: || |X| - |X|/2 || / || |X| || = 1/2 -> -6.02 dB
    np.testing.assert_allclose(
        audiospec.spectral_convergence(mag, 0.5 * y, config=config), 20 * np.log10(0.5)
    )
    # silence: the error equals the target -> 0 dB
    np.testing.assert_allclose(
        audiospec.spectral_convergence(mag, np.zeros_like(y), config=config), 0.0, atol=1e-12
    )
    # a sign flip leaves the magnitude unchanged
    assert audiospec.spectral_convergence(mag[0], -y[0], config=config) < -200


def _naive_consistency(s, a, M, gamma):
    s = s - s.max()
    s = np.maximum(s, -10.0)
    tt, ff = [], []
    for m in range(1, s.shape[0] - 1):
        for n in range(1, s.shape[1] - 1):
            tt.append(abs(s[m, n - 1] - 2 * s[m, n] + s[m, n + 1] + np.pi * a * a / gamma))
            ff.append(abs(s[m - 1, n] - 2 * s[m, n] + s[m + 1, n] + np.pi * gamma / (M * M)))
    return np.corrcoef(tt, ff)[0, 1]


def test_consistency_equals_naive_pearson_correlation(config, rng):
    s = rng.standard_normal((2, 256, 128))
    got = audiospec.consistency(s, config=config)
    for k in range(2):
        assert got[k] == pytest.approx(_naive_consistency(s[k], 128, 512, config.gamma), abs=1e-10)


def test_consistency_constants_for_hamming(config):
    # phase.md: Hamming 512/128 with gamma = 78103 gives pi a^2 / gamma = 0.659 and pi gamma / M^2 = 0.936
    assert np.pi * 128**2 / config.gamma == pytest.approx(0.659, abs=1e-3)
    assert np.pi * config.gamma / 512**2 == pytest.approx(0.936, abs=1e-3)


def test_metric_errors(config):
    mag = np.ones((256, 128))
    with pytest.raises(ParameterError, match="waveform has 100 samples"):
        audiospec.spectral_convergence(mag, np.zeros(100), config=config)
    with pytest.raises(ParameterError, match="non-negative"):
        audiospec.spectral_convergence(-mag, np.zeros(16384), config=config)
    with pytest.raises(ParameterError, match="dynamic_range=0"):
        audiospec.consistency(mag, config=config, dynamic_range=0)
