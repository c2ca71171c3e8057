"""Format-3 storage (issue 15, item 3): direct shard and chunk I/O against zarr's own, the compiled
float16 cast, compaction across shard boundaries, and resume after a kill in the middle of a write."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zarr

import audiospec
from audiospec._cache_layout import output_blocks
from audiospec._cache_tasks import normalized_rows, partial_from_record, partial_record
from audiospec._chunk_io import direct_layout, read_rows, write_rows
from audiospec._heap import float16_bits, normalize_half
from audiospec.cache import build_cache, open_cache
from audiospec.errors import CacheError
from audiospec.stats import partial_stats
from tests.audiospec.test_cache import assert_same_cache, expected_logmag, make_listing

SHAPE = (6, 5)


def _array(path, n, *, shards=None, dtype="float16", **kw):
    extra = {"shards": (shards, *SHAPE)} if shards else {}
    return zarr.create_array(
        str(path), shape=(n, *SHAPE), chunks=(1, *SHAPE), dtype=dtype, fill_value=0.0,
        compressors=kw.pop("compressors", None), **extra, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("shards", [None, 4])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_direct_writes_read_back_by_zarr_and_zarr_writes_read_back_directly(tmp_path, shards, dtype):
    rng = np.random.default_rng(0)
    n = 10  # the last shard is partial (10 = 4 + 4 + 2)
    data = rng.uniform(-1, 1, (n, *SHAPE)).astype(dtype)
    _array(tmp_path / "mine.zarr", n, shards=shards, dtype=dtype)
    layout = direct_layout(str(tmp_path / "mine.zarr"))
    assert layout is not None and layout.sharded == bool(shards) and layout.per_file == (shards or 1)
    for lo in range(0, n, 4):
        write_rows(layout, lo, data[lo : lo + 4])
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "mine.zarr"), mode="r")[:], data)
    theirs = _array(tmp_path / "theirs.zarr", n, shards=shards, dtype=dtype)
    theirs[:] = data
    idx = np.array([0, 3, 4, 7, 9])
    np.testing.assert_array_equal(read_rows(direct_layout(str(tmp_path / "theirs.zarr")), idx), data[idx])
    if shards:  # a full shard is byte for byte what zarr writes
        shard = os.path.join("c", "1", "0", "0")
        mine, theirs = (tmp_path / "mine.zarr" / shard), (tmp_path / "theirs.zarr" / shard)
        assert mine.read_bytes() == theirs.read_bytes()


def test_unwritten_items_read_as_the_fill_value_and_other_layouts_go_through_zarr(tmp_path):
    _array(tmp_path / "a.zarr", 8, shards=4)
    layout = direct_layout(str(tmp_path / "a.zarr"))
    write_rows(layout, 4, np.ones((4, *SHAPE), np.float16))
    np.testing.assert_array_equal(read_rows(layout, np.array([1, 5])), [np.zeros(SHAPE), np.ones(SHAPE)])
    with pytest.raises(ValueError, match="whole shards"):
        write_rows(layout, 2, np.ones((4, *SHAPE), np.float16))
    _array(tmp_path / "z.zarr", 8, shards=4, compressors=zarr.codecs.ZstdCodec())
    _array(tmp_path / "k.zarr", 8, chunk_key_encoding={"name": "default", "separator": "."})
    zarr.create_array(str(tmp_path / "c8.zarr"), shape=(8, *SHAPE), chunks=(2, *SHAPE), dtype="float16")
    assert direct_layout(str(tmp_path / "z.zarr")) is None
    assert direct_layout(str(tmp_path / "k.zarr")) is None
    assert direct_layout(str(tmp_path / "c8.zarr")) is None
    assert direct_layout(str(tmp_path / "missing.zarr")) is None


def test_float16_kernels_round_exactly_like_numpy():
    # every float16 in [-1, 1], the midpoints between neighbours (ties) and their float32 neighbours
    halves = np.arange(0, 0x3C01, dtype=np.uint16).view(np.float16).astype(np.float32)
    mids = ((halves[:-1].astype(np.float64) + halves[1:]) / 2).astype(np.float32)
    values = np.concatenate(
        [halves, mids, np.nextafter(mids, np.float32(2)), np.nextafter(mids, np.float32(-2)),
         np.array([1e-45, 1e-30, 2**-25, 3 * 2**-26, 2**-14], np.float32)]
    )  # fmt: skip
    values = np.concatenate([values, -values])
    out = np.empty(values.size, np.uint16)
    float16_bits(values, out)
    np.testing.assert_array_equal(out, values.astype(np.float16).view(np.uint16))
    logmag = np.random.default_rng(1).uniform(-12, 6, 50_000).astype(np.float32)
    scale, offset = np.float32(0.17), np.float32(0.41)
    normalize_half(logmag, scale, offset, out[: logmag.size])
    expected = np.clip(logmag * scale + offset, -1, 1).astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(out[: logmag.size], expected)


def test_normalized_rows_equal_normalize_and_refuse_non_finite_values():
    logmag = np.random.default_rng(2).uniform(-11, 5, (3, 256, 128)).astype(np.float32)
    stats = audiospec.dataset_stats(audiospec.partial_stats(logmag))
    rows = normalized_rows(logmag, stats, np.dtype(np.float16))
    assert rows.dtype == np.float16
    np.testing.assert_array_equal(rows, audiospec.normalize(logmag, stats).astype(np.float16))
    logmag[1, 2, 3] = np.nan
    with pytest.raises(audiospec.ParameterError, match="non-finite"):
        normalized_rows(logmag, stats, np.dtype(np.float16))


def test_output_blocks_gather_the_kept_rows_across_staging_blocks():
    # kept rows per input block of 4: 4, 1, 0, 3, 4 -> 12 output rows in blocks of 4
    tasks = output_blocks([4, 1, 0, 3, 4], 4)
    assert [(j, lo, k) for j, lo, _, k in tasks] == [(0, 0, 4), (1, 4, 4), (2, 8, 4)]
    assert tasks[0][2] == [(0, 0, 4)]  # no skip before it: output block 0 is staging block 0
    assert tasks[1][2] == [(1, 0, 1), (3, 0, 3)]
    assert tasks[2][2] == [(4, 0, 4)]
    assert output_blocks([2, 2], 4) == [(0, 0, [(0, 0, 2), (1, 0, 2)], 4)]


def _bad_files():
    silent = np.zeros(8000, np.float32)
    return [("aa_empty.wav", b""), ("ba_silent.wav", silent), ("ma_junk.wav", b"not audio at all")]


@pytest.mark.parametrize("shard_size", [3, 4, 64])
def test_skipped_files_in_the_middle_give_the_reference_cache(tmp_path, shard_size):
    """Skips at the start and in the middle shift later rows across shard boundaries."""
    listing = make_listing(tmp_path / "data", 11, bad=_bad_files())
    report = build_cache(listing, tmp_path / "c.zarr", shard_size=shard_size, workers=1, progress=False)
    assert report.n_skipped == 3 and report.n_items == 11
    cache = open_cache(tmp_path / "c.zarr")
    ref = expected_logmag(listing)
    assert list(cache.paths) == [it.path for it in listing.items if it.path in ref]
    logmag = np.stack([ref[p][0] for p in cache.paths])
    expected = audiospec.normalize(logmag, cache.stats).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(cache[:], expected)  # every row in place, bit for bit
    idx = np.array([10, 0, 5, 5, 3])
    np.testing.assert_array_equal(cache.batch(idx)[0], expected[idx])
    spectrograms = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")["spectrograms"]
    assert spectrograms.shards == (min(shard_size, 11), 256, 128)  # format 3: sharded
    np.testing.assert_array_equal(spectrograms[:].astype(np.float32), expected)  # plain zarr agrees
    one = build_cache(
        listing, tmp_path / "one.zarr", shard_size=shard_size, workers=1, progress=False, sharded=False
    )
    assert one.n_items == 11
    np.testing.assert_array_equal(open_cache(tmp_path / "one.zarr")[:], expected)


KILL_MID_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import audiospec._chunk_io as chunk_io
    import audiospec.cache as cache_module
    from tests.audiospec.test_cache import make_listing
    from tests.audiospec.test_cache_storage import _bad_files

    original = chunk_io._write_file
    calls = [0]

    def torn(target, buffers, reuse=None):  # the second shard is cut in the middle of its bytes
        calls[0] += 1
        if calls[0] == 2:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(reuse or target, "r+b" if reuse else "wb") as f:
                f.write(bytes(buffers[0])[: len(bytes(buffers[0])) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return original(target, buffers, reuse)

    chunk_io._write_file = torn
    bad = _bad_files() if sys.argv[3] == "skips" else ()
    listing = make_listing(sys.argv[1], 11, bad=bad)
    cache_module.build_cache(listing, sys.argv[2], shard_size=4, workers=1, progress=False)
    """
)


@pytest.mark.parametrize("skips", ["skips", "none"])
def test_a_build_killed_in_the_middle_of_a_shard_write_resumes_to_the_same_cache(tmp_path, skips):
    """With skipped files (from the first one on) every shard is a new file; without, each shard is
    written over its staging file's pages: a kill there loses that block's staging, redone on resume."""
    data, broken, clean = tmp_path / "data", tmp_path / "broken.zarr", tmp_path / "clean.zarr"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    command = [sys.executable, "-c", KILL_MID_WRITE, str(data), str(broken), skips]
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    shard = broken / "spectrograms" / "c" / "1" / "0" / "0"
    if skips == "skips":
        assert shard.exists() and shard.stat().st_size < 4 * 256 * 128 * 2  # torn
    else:
        staging = broken / "_build" / "staging"
        assert not shard.exists() and not (staging / "block-000001.npy").exists()
        assert (staging / "shard-000001.tmp").exists() and (staging / "block-000002.npy").exists()
    listing = make_listing(data, 11, bad=_bad_files() if skips == "skips" else ())
    build_cache(listing, clean, shard_size=4, workers=1, progress=False)
    with pytest.raises(audiospec.CacheError, match="incomplete build"):
        open_cache(broken)
    again = tmp_path / "again.zarr"
    shutil.copytree(broken, again)
    report = build_cache(listing, broken, shard_size=4, workers=1, progress=False)
    assert report.resumed_blocks == (4 if skips == "skips" else 2)
    assert_same_cache_arrays(open_cache(broken), open_cache(clean))
    build_cache(listing, again, shard_size=4, workers=1, progress=False, overwrite=True)
    assert_same_cache_arrays(open_cache(again), open_cache(clean))
    if skips == "none":  # every shard was written over its staging file: same bytes as a new file
        ref = tmp_path / "ref.zarr"
        build_cache(listing, ref, shard_size=4, workers=1, progress=False, sharded=False)
        np.testing.assert_array_equal(open_cache(ref)[:], open_cache(clean)[:])


def assert_same_cache_arrays(a, b):
    """:func:`assert_same_cache` without raw log-magnitudes (not kept by default)."""
    np.testing.assert_array_equal(a[:], b[:])
    assert a.stats.to_dict() == b.stats.to_dict() and a.skipped == b.skipped
    np.testing.assert_array_equal(a.labels, b.labels)
    assert list(a.paths) == list(b.paths)


def test_format_2_caches_still_open_and_read_directly(tmp_path):
    """A format-2 cache (one file per item, no shards) opens, reads the same rows directly and
    through zarr, and equals the format-3 cache of the same listing."""
    listing = make_listing(tmp_path / "data", 6)
    build_cache(listing, tmp_path / "v3.zarr", workers=1, progress=False, keep_logmag=True)
    build_cache(listing, tmp_path / "v2.zarr", workers=1, progress=False, keep_logmag=True, sharded=False)
    group = zarr.open_group(str(tmp_path / "v2.zarr"), mode="r+")
    group.attrs["format_version"] = 2
    v2, v3 = open_cache(tmp_path / "v2.zarr"), open_cache(tmp_path / "v3.zarr")
    assert v2.format_version == 2 and group["spectrograms"].shards is None
    assert_same_cache(v2, v3)
    direct = group["spectrograms"].get_orthogonal_selection((np.array([1, 4]),))[::-1]
    np.testing.assert_array_equal(v2[[4, 1]], direct.astype(np.float32))


def test_marker_statistics_round_trip_exactly(rng):
    # pass-1 markers carry the histogram as base64 bytes (issue 15: a JSON list of 4096 ints cost
    # ~0.3 ms per task to write and as much to read at the pass barrier); markers of the list form,
    # written by an older audiospec, still read (a build resumed across the upgrade)
    logmag = np.log(np.abs(rng.standard_normal((3, 256, 128))).astype(np.float32) + 1e-5)
    logmag[0, 0, 0] = 40.0  # a value in the last bin
    for partial in (partial_stats(logmag), partial_stats(logmag[:0])):
        record = json.loads(json.dumps(partial_record(partial)))
        assert "hist" not in record
        back = partial_from_record(record)
        assert back.to_dict() == partial.to_dict() and back.hist.dtype == np.int64
        legacy = json.loads(json.dumps(partial.to_dict()))
        assert partial_from_record(legacy).to_dict() == partial.to_dict()
    damaged = partial_record(partial_stats(logmag))
    damaged["hist_b64"] = damaged["hist_b64"][:-5]
    with pytest.raises(CacheError, match="damaged histogram"):
        partial_from_record(damaged)
