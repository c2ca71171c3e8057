"""audiospec.preprocessor: the one audio -> model-input chain, its windows and its saved config."""

from __future__ import annotations

import json

import numpy as np
import pytest

import audiospec
from audiospec.errors import AudioError, ParameterError
from audiospec.preprocessor import (
    PREPROCESSOR_CONFIG_NAME,
    Preprocessor,
    frame_windows,
    window_starts,
)


@pytest.fixture
def stats(config, rng):
    logmag = audiospec.stft_logmag(0.1 * rng.standard_normal(config.n_samples), config=config)
    return audiospec.dataset_stats(audiospec.partial_stats(logmag, config=config))


def _old_chain(audio, sr, config, stats, hop=None):
    """The chain gaae_models wrote by hand before: resample, zero-padded windows, normalize(stft_logmag)."""
    y = np.ascontiguousarray(audiospec.resample(audio, sr, config.sample_rate), dtype=np.float32)
    window, hop = config.n_samples, hop or config.n_samples
    count = 1 + max(0, -(-(y.shape[0] - window) // hop))
    windows = np.zeros((count, window), np.float32)
    for i in range(count):
        part = y[i * hop : i * hop + window]
        windows[i, : part.shape[0]] = part
    return audiospec.normalize(audiospec.stft_logmag(windows, config=config), stats)


@pytest.mark.parametrize("n", [1, 100, 16384, 16385, 40000])
@pytest.mark.parametrize("sr", [16000, 22050])
def test_call_equals_the_old_chain_bit_for_bit(config, stats, rng, n, sr):
    audio = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    x = Preprocessor(config=config, stats=stats)(audio, sr)
    expected = _old_chain(audio, sr, config, stats)
    assert x.shape == (expected.shape[0], 1, 256, 128) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], expected)


def test_hop_overlaps_windows(config, stats, rng):
    audio = rng.uniform(-0.5, 0.5, 40000).astype(np.float32)
    x = Preprocessor(config=config, stats=stats)(audio, 16000, hop=2048)
    np.testing.assert_array_equal(x[:, 0], _old_chain(audio, 16000, config, stats, hop=2048))
    assert x.shape[0] == 1 + -(-(40000 - 16384) // 2048)


def test_windows():
    assert window_starts(40000, window=16384, hop=16384).tolist() == [0, 16384, 32768]
    windows, starts = frame_windows(np.ones(20000, np.float32), window=16384, hop=16384)
    assert windows.shape == (2, 16384) and starts.tolist() == [0, 16384]
    assert windows[1, : 20000 - 16384].all() and not windows[1, 20000 - 16384 :].any()


def test_save_and_load_round_trip(config, stats, tmp_path):
    pre = Preprocessor(config=config, stats=stats)
    path = pre.save_pretrained(tmp_path / "model")
    assert path.endswith(PREPROCESSOR_CONFIG_NAME)
    data = json.loads(open(path).read())
    assert data["preprocessor_type"] == "audiospec.Preprocessor" and data["sampling_rate"] == 16000
    assert "partial" not in data["stats"]  # the histogram is not needed to normalise
    again = Preprocessor.from_pretrained(tmp_path / "model")
    assert again == pre and again.config == config and again.stats.mean == stats.mean
    assert Preprocessor.from_pretrained(path) == pre  # the file itself


def test_from_cache(tiny_data):
    from audiospec.cache import open_cache

    cache = open_cache(tiny_data["train"])
    pre = Preprocessor.from_cache(tiny_data["train"])
    assert pre.config == cache.config and pre.stats.to_dict(histogram=False) == cache.stats.to_dict(
        histogram=False
    )


@pytest.mark.parametrize(
    ("audio", "sr", "error", "match"),
    [
        (np.zeros(100, np.float32), 0, ParameterError, r"sr=0 must be a positive integer"),
        (np.zeros(100, np.float32), 16000.0, ParameterError, r"sr=16000.0 must be a positive integer"),
        (np.zeros(100, np.float32), True, ParameterError, r"sr=True"),
        (
            np.zeros((2, 100), np.float32),
            16000,
            ParameterError,
            r"audio has shape \(2, 100\); expected one mono",
        ),
        (np.zeros(100, np.int16), 16000, ParameterError, r"audio must be a floating-point array"),
        (np.zeros(0, np.float32), 16000, AudioError, r"audio is empty"),
        (np.full(10, np.nan, np.float32), 16000, AudioError, r"audio contains non-finite"),
    ],
)
def test_clear_errors(config, stats, audio, sr, error, match):
    with pytest.raises(error, match=match):
        Preprocessor(config=config, stats=stats)(audio, sr)


def test_bad_construction_and_files(config, stats, tmp_path):
    with pytest.raises(ParameterError, match="stats=None must be an audiospec.DatasetStats"):
        Preprocessor(config=config, stats=None)
    with pytest.raises(ParameterError, match="hop=0 must be a positive integer"):
        Preprocessor(config=config, stats=stats)(np.zeros(10, np.float32), 16000, hop=0)
    with pytest.raises(ParameterError, match="does not exist"):
        Preprocessor.from_pretrained(tmp_path)
    (tmp_path / PREPROCESSOR_CONFIG_NAME).write_text(
        json.dumps({"preprocessor_type": "audiospec.Preprocessor", "format_version": 9})
    )
    with pytest.raises(ParameterError, match="format_version=9 is not one this audiospec reads"):
        Preprocessor.from_pretrained(tmp_path)
