import numpy as np
import pytest
import scipy.signal

import audiospec
from audiospec import ParameterError, SpectrogramConfig


def test_paper_defaults():
    cfg = SpectrogramConfig()
    assert cfg.shape == (256, 128)
    assert (cfg.sample_rate, cfg.n_samples, cfg.n_fft, cfg.win_length, cfg.hop_length) == (
        16000,
        16384,
        512,
        512,
        128,
    )
    assert cfg.window == "hamming"
    assert cfg.duration == pytest.approx(1.024)
    # phase.md: gamma = 0.29794 * 512**2 = 78103 samples**2
    assert cfg.gamma == pytest.approx(78103, abs=1)
    assert SpectrogramConfig(drop_nyquist=False).shape == (257, 128)


@pytest.mark.parametrize("window,scipy_name", [("hamming", "hamming"), ("hann", "hann")])
def test_windows_are_periodic_and_match_scipy(window, scipy_name):
    w = audiospec.window_function(window, 512)
    np.testing.assert_allclose(w, scipy.signal.get_window(scipy_name, 512, fftbins=True), atol=1e-12)
    assert np.argmax(w) == 256


def test_gaussian_window_is_the_exact_gaussian():
    w = audiospec.window_function("gaussian", 512)
    gamma = 0.25 * 512**2
    l = np.arange(512) - 256
    np.testing.assert_allclose(w, np.exp(-np.pi * l**2 / gamma))


def test_short_window_is_centred_in_the_frame():
    w = audiospec.window_function("hann", 256, n_fft=512)
    assert w.shape == (512,) and np.argmax(w) == 256 and w[:128].sum() == 0 and w[384:].sum() == 0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_samples": 16100}, "n_samples=16100 must be a multiple of hop_length=128"),
        ({"n_fft": 511}, "n_fft=511 must be even"),
        ({"hop_length": 0}, "hop_length=0 must be a positive integer"),
        ({"hop_length": 96}, "hop_length=96 must divide n_fft // 2 = 256"),
        ({"hop_length": 512}, "hop_length=512"),
        ({"window": "kaiser"}, "window='kaiser' is not supported"),
        ({"win_length": 1024}, "win_length=1024 must be <= n_fft=512"),
        ({"n_samples": 256}, "n_samples=256 must be >= n_fft=512"),
        ({"amin": 0.0}, "amin=0.0 must be a positive"),
        ({"sample_rate": 16000.5}, "sample_rate=16000.5 must be a positive integer"),
    ],
)
def test_bad_values_name_argument_value_and_rule(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        SpectrogramConfig(**kwargs)


def test_round_trips_through_json_and_rejects_unknown_keys():
    cfg = SpectrogramConfig(window="hann", n_samples=8192)
    assert SpectrogramConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ParameterError, match=r"unknown SpectrogramConfig field\(s\) \['hop'\]"):
        SpectrogramConfig.from_dict({"hop": 128})


def test_frozen():
    with pytest.raises(AttributeError):
        SpectrogramConfig().n_fft = 1024
