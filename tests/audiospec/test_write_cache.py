"""write_cache: in-memory (generated) spectrograms as a complete, openable cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from audiospec.cache import open_cache, write_cache
from audiospec.config import SpectrogramConfig
from audiospec.errors import CacheError, ParameterError
from audiospec.stats import DatasetStats, denormalize, normalize

CONFIG = SpectrogramConfig()
STATS = DatasetStats(mean=-5.0, std=2.0, r=2.0, upper=4.0)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n, *CONFIG.shape)).astype(np.float32)


def test_write_cache_round_trips_data_labels_and_provenance(tmp_path):
    x = _data(5)
    out = write_cache(
        x,
        tmp_path / "gen.zarr",
        config=CONFIG,
        stats=STATS,
        labels=np.array([0, 1, 2, 0, -1]),
        label_names=["a", "b", "c"],
        options={"run": "somewhere", "seed": 3},
    )
    cache = open_cache(out)
    assert len(cache) == 5 and cache.label_names == ["a", "b", "c"]
    np.testing.assert_array_equal(cache[:], x)
    np.testing.assert_array_equal(cache.labels, [0, 1, 2, 0, -1])
    assert cache.stats == STATS and cache.config == CONFIG
    assert cache.reader_options == {"run": "somewhere", "seed": 3}
    # raw log-magnitudes invert the normalisation, so normalising them again gives the data back
    np.testing.assert_allclose(cache.logmag([1, 3]), denormalize(x[[1, 3]], STATS), rtol=1e-6)
    np.testing.assert_allclose(normalize(cache.logmag([2]), STATS), x[[2]], atol=1e-5)
    assert cache.provenance(4)["path"] == "generated/000004"
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]


def test_write_cache_refuses_to_overwrite_unless_asked_and_never_touches_other_folders(tmp_path):
    out = tmp_path / "gen.zarr"
    write_cache(_data(2), out, config=CONFIG, stats=STATS)
    with pytest.raises(CacheError, match="already exists"):
        write_cache(_data(3), out, config=CONFIG, stats=STATS)
    write_cache(_data(3, seed=1), out, config=CONFIG, stats=STATS, overwrite=True)
    assert len(open_cache(out)) == 3
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(CacheError, match="not an audiospec cache"):
        write_cache(_data(1), other, config=CONFIG, stats=STATS, overwrite=True)
    assert (other / "keep.txt").read_text() == "x"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spectrograms": np.zeros((2, 10, 10), np.float32)}, "must be \\(n, 256, 128\\)"),
        ({"spectrograms": np.full((1, 256, 128), np.nan, np.float32)}, "NaN"),
        ({"labels": np.array([0, 5])}, "labels must lie in"),
        ({"labels": np.array([0.5, 1.0])}, "integer array"),
    ],
)
def test_write_cache_errors(tmp_path, kwargs, match):
    args = {"spectrograms": _data(2), "labels": None, **kwargs}
    with pytest.raises(ParameterError, match=match):
        write_cache(
            args["spectrograms"],
            tmp_path / "x.zarr",
            config=CONFIG,
            stats=STATS,
            labels=args["labels"],
            label_names=["a", "b"],
        )
