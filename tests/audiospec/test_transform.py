import numpy as np
import pytest
import scipy.fft
import scipy.signal

import audiospec
from audiospec import AudioError, ParameterError, SpectrogramConfig
from tests.signals import chirp, tone

CONFIGS = [
    SpectrogramConfig(),
    SpectrogramConfig(window="hann"),
    SpectrogramConfig(window="gaussian", n_samples=8192),
    SpectrogramConfig(n_fft=1024, hop_length=256, n_samples=16384),
    SpectrogramConfig(n_fft=512, win_length=384, hop_length=64, n_samples=4096),
]


def test_shapes_and_frame_count(config, rng):
    y = rng.standard_normal((2, 3, config.n_samples)).astype(np.float32)
    assert audiospec.stft_logmag(y, config=config).shape == (2, 3, 256, 128)
    assert audiospec.stft_logmag(y[0, 0], config=config).shape == (256, 128)
    X = audiospec.stft(y[0, 0], config=config)
    assert X.shape == (257, 128) and X.dtype == np.complex64
    assert audiospec.stft(y[0, 0].astype(np.float64), config=config).dtype == np.complex128
    # whole files: any multiple of the hop
    assert audiospec.stft(rng.standard_normal(128 * 300), config=config).shape == (257, 300)


def test_agrees_with_scipy_stft_on_circularly_padded_signal(config, rng):
    y = rng.standard_normal(config.n_samples)
    X = audiospec.stft(y, config=config)
    padded = np.concatenate([y[-256:], y, y[:256]])
    window = scipy.signal.get_window("hamming", 512, fftbins=True)
    _, _, Z = scipy.signal.stft(
        padded, window=window, nperseg=512, noverlap=384, boundary=None, padded=False, detrend=False
    )
    Z = Z * window.sum()  # scipy scales by 1 / sum(window)
    np.testing.assert_allclose(X, Z[:, :128], atol=1e-9 * np.abs(Z).max())


def test_matches_a_naive_dft_loop(rng):
    cfg = SpectrogramConfig(n_fft=16, hop_length=4, n_samples=32)
    y = rng.standard_normal(32)
    X = audiospec.stft(y, config=cfg)
    w = cfg.window_array()
    for n in range(8):
        for m in range(9):
            ref = sum(y[(n * 4 - 8 + l) % 32] * w[l] * np.exp(-2j * np.pi * m * l / 16) for l in range(16))
            assert abs(X[m, n] - ref) < 1e-12


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.window}-{c.n_fft}-{c.win_length}-{c.hop_length}")
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_perfect_reconstruction_with_true_phase(cfg, dtype, tol, rng):
    y = rng.standard_normal((2, cfg.n_samples)).astype(dtype)
    y_hat = audiospec.istft(audiospec.stft(y, config=cfg), config=cfg)
    assert y_hat.dtype == dtype
    assert np.linalg.norm(y_hat - y) / np.linalg.norm(y) < tol


def test_dropping_nyquist_costs_little_on_band_limited_audio(config):
    y = chirp()
    X = audiospec.stft(y, config=config)[:256]
    err = np.linalg.norm(audiospec.istft(X, config=config) - y) / np.linalg.norm(y)
    assert err < 1e-3


def test_logmag_is_natural_log_of_magnitude_with_floor(config):
    y = tone(1000.0)
    logmag = audiospec.stft_logmag(y, config=config)
    mag = np.abs(audiospec.stft(y, config=config))[:256]
    np.testing.assert_allclose(logmag, np.log(np.maximum(mag, 1e-5)))
    # a 1 kHz tone of amplitude 0.5 peaks at bin 32 with |X| = 0.5 * sum(w) / 2
    assert np.argmax(logmag[:, 64]) == 32
    assert np.exp(logmag[32, 64]) == pytest.approx(0.5 * config.window_array().sum() / 2, rel=1e-6)
    silent = audiospec.stft_logmag(np.zeros(config.n_samples), config=config)
    assert np.all(silent == np.log(1e-5))


def test_batch_equals_item_by_item(config, rng):
    y = rng.standard_normal((3, config.n_samples)).astype(np.float32)
    batch = audiospec.stft_logmag(y, config=config)
    for k in range(3):
        np.testing.assert_array_equal(batch[k], audiospec.stft_logmag(y[k], config=config))


def test_inputs_not_modified(config, rng):
    y = rng.standard_normal(config.n_samples)
    copy = y.copy()
    X = audiospec.stft(y, config=config)
    Xc = X.copy()
    audiospec.stft_logmag(y, config=config)
    audiospec.istft(X, config=config)
    np.testing.assert_array_equal(y, copy)
    np.testing.assert_array_equal(X, Xc)


def test_stft_logmag_of_any_length_is_the_log_of_the_stft(config):
    """Any multiple of the hop: the frames of the whole signal, equal to the log of |stft|, and the
    model's 16384-sample clip is its first 128 frames' own transform."""
    rng = np.random.default_rng(0)
    for n in (8192, 16384 + 128, 48000):
        y = rng.standard_normal((2, n)).astype(np.float64) * 0.1
        out = audiospec.stft_logmag(y, config=config)
        assert out.shape == (2, config.n_bins, n // 128)
        ref = np.log(np.maximum(np.abs(audiospec.stft(y, config=config))[:, : config.n_bins], config.amin))
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_bad_inputs(config):
    with pytest.raises(ParameterError, match="floating-point"):
        audiospec.stft_logmag(np.zeros(16384, dtype=np.int16), config=config)
    with pytest.raises(
        ParameterError, match=r"not a multiple of hop_length=128: pad it to 16128.*n_samples=16384"
    ):
        audiospec.stft_logmag(np.zeros(16050), config=config)
    with pytest.raises(AudioError, match="non-finite"):
        audiospec.stft_logmag(np.full(16384, np.nan), config=config)
    with pytest.raises(AudioError, match="empty"):
        audiospec.stft(np.zeros(0), config=config)
    with pytest.raises(ParameterError, match="multiple of hop_length=128"):
        audiospec.stft(np.zeros(1000), config=config)
    with pytest.raises(ParameterError, match="complex"):
        audiospec.istft(np.zeros((257, 128)), config=config)
    with pytest.raises(ParameterError, match="257 or 256"):
        audiospec.istft(np.zeros((100, 128), complex), config=config)
    with pytest.raises(ParameterError, match="SpectrogramConfig"):
        audiospec.stft_logmag(np.zeros(16384), config={"n_fft": 512})


def _reference_frames(y, cfg):
    """Circularly padded frames times the window, the plain numpy way (a padded copy, a strided view)."""
    half, n = cfg.n_fft // 2, y.shape[-1]
    padded = np.concatenate([y[..., n - half :], y, y[..., :half]], axis=-1)
    view = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft, axis=-1)
    return view[..., :: cfg.hop_length, :][..., : n // cfg.hop_length, :] * cfg.window_array().astype(y.dtype)


@pytest.mark.parametrize(
    "cfg",
    [
        SpectrogramConfig(),
        SpectrogramConfig(n_fft=256, hop_length=64, n_samples=8192),
        SpectrogramConfig(n_fft=1024, hop_length=128, win_length=800),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_framing_gives_the_bits_of_numpy_framing(cfg, dtype, rng):
    # the frames are built by a compiled kernel and |X|, floor and log run on contiguous spectra;
    # the results are those of the plain numpy formulation bit for bit (batches, short clips that
    # wrap around both ends, and quiet clips near the floor)
    y = (0.3 * rng.standard_normal((3, 2, 4 * cfg.n_fft))).astype(dtype)
    y[0, 1] *= 1e-6
    short = (0.3 * rng.standard_normal(cfg.n_fft // 2 + cfg.hop_length)).astype(dtype)
    short = short[: short.shape[0] // cfg.hop_length * cfg.hop_length]
    for x in (y, short):
        spec = scipy.fft.rfft(_reference_frames(x, cfg), axis=-1)
        spec = np.swapaxes(spec, -1, -2)
        np.testing.assert_array_equal(audiospec.stft(x, config=cfg), spec)
        floor = np.asarray(cfg.amin, dtype=dtype)
        logmag = np.log(np.maximum(np.abs(spec[..., : cfg.n_bins, :]), floor))
        out = audiospec.stft_logmag(x, config=cfg)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, logmag)


def test_single_threaded_keeps_the_blocks_in_the_calling_thread(monkeypatch, rng):
    import threading

    from audiospec import runtime

    monkeypatch.setattr(runtime, "n_cores", lambda: 4)
    seen: list[int] = []

    def fn(lo, hi):
        seen.append(threading.get_ident())

    runtime.map_blocks(fn, 64, block_size=4)
    assert set(seen) != {threading.get_ident()}  # several cores: other threads
    seen.clear()
    with runtime.single_threaded():
        runtime.map_blocks(fn, 64, block_size=4)
        y = rng.standard_normal((20, 2048)).astype(np.float32)
        single = audiospec.stft_logmag(y)
    assert set(seen) == {threading.get_ident()} and len(seen) == 16
    np.testing.assert_array_equal(single, audiospec.stft_logmag(y))  # the same bits either way
