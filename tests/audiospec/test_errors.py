"""Issue 12: empty selections, non-finite and out-of-range inputs give results or clear errors."""

import warnings

import numpy as np
import pytest

import audiospec
from audiospec.cache import open_cache
from audiospec.errors import ParameterError


def test_empty_index_lists_return_empty_results(tiny_data):
    cache = open_cache(tiny_data["train"])
    assert cache[[]].shape == (0, *cache.config.shape)
    x, y = cache.batch([])
    assert x.shape == (0, *cache.config.shape) and y.shape == (0,)
    with pytest.raises(ParameterError, match="indices must be integers"):
        cache.batch([0.5])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normalize_refuses_non_finite_input(config, bad):
    stats = audiospec.DatasetStats(mean=-3.0, std=2.0, r=3.0, upper=3.0)
    logmag = np.zeros(config.shape, np.float32)
    logmag[3, 4] = bad
    with pytest.raises(ParameterError, match=r"logmag contains 1 non-finite value"):
        audiospec.normalize(logmag, stats)


def test_reconstruct_names_an_out_of_range_spectrogram_without_overflow_warnings(config):
    stats = audiospec.DatasetStats(mean=-3.0, std=2.0, r=3.0, upper=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ParameterError, match=r"normalised values must lie in \[-1, 1\] \(got max 1e\+06\)"
        ):
            audiospec.reconstruct(np.full(config.shape, 1e6, np.float32), config=config, stats=stats)
        with pytest.raises(ParameterError, match=r"log-magnitudes \(nepers\) must be <= 88"):
            audiospec.reconstruct(np.full(config.shape, 1e3, np.float32), config=config)


def test_a_fake_mp3_is_named_without_decoder_noise(tmp_path, capfd):
    from audiospec.errors import AudioError

    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"not audio at all" * 10)
    for read in (audiospec.load_clip, audiospec.load_audio):
        with pytest.raises(AudioError, match="not audio in a format libsndfile can decode"):
            read(str(fake))
    assert "Note:" not in capfd.readouterr().err  # mpg123 writes its notes to file descriptor 2
