"""The torch loader over a cache: values, labels and attributes aligned, workers, seeded order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from audiospec import ParameterError  # noqa: E402
from audiospec.cache import build_cache, open_cache  # noqa: E402
from audiospec.loader import CacheDataset, cache_loader  # noqa: E402
from tests.audiospec.test_cache import make_listing  # noqa: E402


@pytest.fixture(scope="module")
def cache_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    build_cache(make_listing(root / "data", 10), root / "c.zarr", shard_size=4, workers=1, progress=False)
    return str(root / "c.zarr")


def test_batches_hold_the_cached_items_labels_and_attributes(cache_path):
    cache = open_cache(cache_path)
    pitch, _names = cache.attribute("pitch")
    seen = []
    for num_workers in (0, 2):
        loader = cache_loader(cache_path, batch_size=4, num_workers=num_workers, seed=3, drop_last=False)
        batches = list(loader)
        assert [len(b["y"]) for b in batches] == [4, 4, 2]
        for b in batches:
            idx = b["index"].numpy()
            assert b["x"].shape == (len(idx), 1, 256, 128) and b["x"].dtype == torch.float32
            np.testing.assert_array_equal(b["x"][:, 0].numpy(), cache[idx])
            np.testing.assert_array_equal(b["y"].numpy(), cache.labels[idx])
            np.testing.assert_array_equal(b["attributes"]["pitch"].numpy(), pitch[idx])
        order = np.concatenate([b["index"].numpy() for b in batches])
        assert sorted(order) == list(range(10)) and list(order) != list(range(10))
        seen.append(order)
    np.testing.assert_array_equal(seen[0], seen[1])  # the order depends on the seed, not the workers


def test_subset_single_items_and_errors(cache_path):
    ds = CacheDataset(cache_path, indices=[7, 2], attributes=[])
    item = ds[1]
    assert item["x"].shape == (1, 256, 128) and int(item["index"]) == 2 and item["attributes"] == {}
    np.testing.assert_array_equal(item["x"][0].numpy(), open_cache(cache_path)[2])
    with pytest.raises(ParameterError, match=r"attributes=\['speaker'\] are not in"):
        CacheDataset(cache_path, attributes=["speaker"])
    with pytest.raises(ParameterError, match="indices must lie in 0..9"):
        CacheDataset(cache_path, indices=[10])
    with pytest.raises(ParameterError, match="batch_size=0"):
        cache_loader(cache_path, batch_size=0)


def test_audiospec_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import audiospec, audiospec.cache\n"
        "try:\n    import audiospec.loader\nexcept ImportError as e:\n    print('message:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "audiospec.loader needs PyTorch" in out
