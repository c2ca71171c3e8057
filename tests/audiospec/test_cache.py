import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import zarr

import audiospec
from audiospec import CacheError, ParameterError
from audiospec.cache import build_cache, item_seed, open_cache
from audiospec.readers import DatasetListing, Item
from audiospec.synth import synth_note

FAMILIES = ["guitar", "string", "mallet"]


def make_listing(root, n=10, *, split="train", bad=()):
    """n short notes (some longer than a clip, some shorter), labels cycling over the families."""
    items = []
    for i in range(n):
        family = FAMILIES[i % 3]
        path = f"{split}/{family}_{i:03d}.wav"
        os.makedirs(os.path.join(root, split), exist_ok=True)
        duration = 1.5 if i % 4 else 0.8
        sf.write(
            os.path.join(root, path),
            synth_note(family, 48 + i, duration=duration, rng=i),
            16000,
            subtype="PCM_16",
        )
        crop = "random" if i % 2 else "start"
        items.append(Item(path=path, label=i % 3, split=split, crop=crop, attributes={"pitch": str(48 + i)}))
    for name, payload in bad:
        path = f"{split}/{name}"
        if isinstance(payload, bytes):
            with open(os.path.join(root, path), "wb") as f:
                f.write(payload)
        else:
            sf.write(os.path.join(root, path), payload, 16000, subtype="FLOAT")
        items.append(Item(path=path, label=0, split=split))
    items.sort(key=lambda it: it.path)
    return DatasetListing("folder", str(root), items, FAMILIES, {"test": True})


def expected_logmag(listing, seed=0, config=None):
    config = config or audiospec.SpectrogramConfig()
    out = {}
    for item in listing.items:
        try:
            clip, offset = audiospec.load_clip(
                os.path.join(listing.root, item.path),
                config=config,
                policy=item.crop,
                rng=item_seed(seed, item),
            )
        except audiospec.AudioError:
            continue
        out[item.path] = (audiospec.stft_logmag(clip, config=config), offset)
    return out


def assert_same_cache(a, b):
    assert len(a) == len(b)
    np.testing.assert_array_equal(a[:], b[:])
    np.testing.assert_array_equal(a.logmag(np.arange(len(a))), b.logmag(np.arange(len(b))))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert list(a.paths) == list(b.paths)
    assert a.stats.to_dict() == b.stats.to_dict()
    assert a.skipped == b.skipped


def test_round_trip_values_labels_and_provenance(tmp_path):
    listing = make_listing(tmp_path / "data", 10)
    report = build_cache(
        listing,
        tmp_path / "c.zarr",
        shard_size=4,
        workers=1,
        progress=False,
        dtype="float32",
        keep_logmag=True,
    )
    assert report.n_items == 10 and report.n_skipped == 0
    cache = open_cache(tmp_path / "c.zarr")
    assert cache.shape == (10, 256, 128) and cache.label_names == FAMILIES
    ref = expected_logmag(listing)
    logmags = np.stack([ref[p][0] for p in cache.paths])
    # statistics are those of all the training values, and normalisation follows them exactly
    peaks = logmags.reshape(10, -1).max(axis=1)
    whole = audiospec.dataset_stats(audiospec.partial_stats(logmags), item_peaks=peaks)
    assert cache.stats.mean == pytest.approx(whole.mean, rel=1e-12)
    assert cache.stats.std == pytest.approx(whole.std, rel=1e-9)
    assert cache.stats.r == pytest.approx(whole.r, rel=1e-9)
    assert (
        cache.stats.upper == pytest.approx(whole.upper, rel=1e-9)
        and cache.stats.upper_rule == "item_quantile"
    )
    np.testing.assert_allclose(cache[:], audiospec.normalize(logmags, cache.stats), atol=1e-6)
    np.testing.assert_array_equal(cache.logmag(np.arange(10)), logmags)
    assert cache[:].min() == -1.0 and cache[:].max() == 1.0  # the loudest item's peak is clipped
    np.testing.assert_array_equal(cache.labels, [it.label for it in listing.items])
    np.testing.assert_array_equal(cache.offsets, [ref[p][1] for p in cache.paths])
    assert any(o > 0 for o in cache.offsets)  # the random crops really are random
    prov = cache.provenance(3)
    assert prov["path"] == listing.items[3].path and prov["split"] == "train"
    assert prov["pitch"] == listing.items[3].attributes["pitch"] and prov["label"] == listing.items[3].label
    codes, names = cache.attribute("pitch")
    assert [names[c] for c in codes] == [it.attributes["pitch"] for it in listing.items]
    # batched random access, in the order asked for
    x, y = cache.batch([7, 2, 7, -1])
    np.testing.assert_array_equal(x, cache[:][[7, 2, 7, 9]])
    np.testing.assert_array_equal(y, cache.labels[[7, 2, 7, 9]])
    xb, yb = cache.random_batch(4, rng=0)
    assert xb.shape == (4, 256, 128) and set(yb) <= {0, 1, 2}
    with pytest.raises(ParameterError, match="index 10 is out of range"):
        cache.batch([10])
    with pytest.raises(ParameterError, match="batch_size=11"):
        cache.random_batch(11)
    attrs = json.loads((tmp_path / "c.zarr" / "zarr.json").read_text())["attributes"]
    assert attrs["format_version"] == 3 and attrs["complete"] is True and attrs["config"]["n_fft"] == 512
    assert attrs["reader_options"] == {"test": True} and "zarr" in attrs["versions"]
    assert not (tmp_path / "c.zarr" / "_build").exists() and not (tmp_path / "c.zarr.lock").exists()
    # the default storage: float16 on disk, float32 out, within half a float16 step of the float32 cache
    build_cache(listing, tmp_path / "f16.zarr", shard_size=4, workers=1, progress=False)
    f16 = open_cache(tmp_path / "f16.zarr")
    assert (
        f16[:].dtype == np.float32
        and zarr.open_array(tmp_path / "f16.zarr" / "spectrograms").dtype == "float16"
    )
    np.testing.assert_allclose(f16[:], cache[:], atol=5e-4)
    with pytest.raises(CacheError, match="no raw log-magnitudes"):
        f16.logmag([0])


def test_train_statistics_applied_to_test(tmp_path):
    train = make_listing(tmp_path / "data", 9, split="train")
    test = make_listing(tmp_path / "data", 6, split="test")
    build_cache(train, tmp_path / "train.zarr", workers=1, progress=False)
    build_cache(
        test, tmp_path / "test.zarr", stats_from=tmp_path / "train.zarr", workers=1, progress=False,
        dtype="float32", keep_logmag=True,
    )  # fmt: skip
    tr, te = open_cache(tmp_path / "train.zarr"), open_cache(tmp_path / "test.zarr")
    assert te.stats.to_dict() == tr.stats.to_dict() and te.attrs["stats_source"] == "given"
    np.testing.assert_allclose(te[:], audiospec.normalize(te.logmag(np.arange(len(te))), tr.stats), atol=1e-6)


def test_bad_files_are_skipped_and_reported(tmp_path):
    nan_audio = np.full(16000, 0.1, dtype=np.float32)
    nan_audio[10] = np.nan
    bad = [
        ("silent.wav", np.zeros(16000, np.float32)),
        ("garbage.wav", b"RIFF....WAVEnot audio"),
        ("empty.wav", np.zeros(0, np.float32)),
        ("nan.wav", nan_audio),
        ("truncated.wav", b"RIFF\xff\xff\x00\x00WAVEfmt "),
    ]
    listing = make_listing(tmp_path / "data", 6, bad=bad)
    report = build_cache(listing, tmp_path / "c.zarr", shard_size=3, workers=1, progress=False)
    assert report.n_items == 6 and report.n_skipped == 5
    reasons = {os.path.basename(r["path"]): r["reason"] for r in report.skipped}
    assert "silent" in reasons["silent.wav"] and "non-finite" in reasons["nan.wav"]
    assert "cannot read" in reasons["garbage.wav"] and "empty" in reasons["empty.wav"]
    cache = open_cache(tmp_path / "c.zarr")
    assert len(cache) == 6 and len(cache.skipped) == 5
    assert not any(os.path.basename(p) in reasons for p in cache.paths)
    assert np.all(np.isfinite(cache[:]))
    # compact: what plain zarr / dask see holds the kept items only, every column aligned, no holes
    import dask.array as da

    group = zarr.open_group(tmp_path / "c.zarr", mode="r")
    assert "valid" not in group
    assert {name: group[name].shape[0] for name in group.array_keys()} == dict.fromkeys(group.array_keys(), 6)
    assert np.isfinite(float(da.from_zarr(group["spectrograms"]).astype("float32").mean().compute()))
    assert list(group["paths"][:]) == list(cache.paths)
    by_path = {it.path: it.label for it in listing.items}
    assert list(group["labels"][:]) == [by_path[p] for p in group["paths"][:]]
    with pytest.raises(audiospec.AudioError):
        build_cache(listing, tmp_path / "strict.zarr", strict=True, workers=1, progress=False)
    with pytest.raises(CacheError, match="incomplete build"):
        open_cache(tmp_path / "strict.zarr")


def test_a_block_of_skipped_files_changes_nothing(tmp_path):
    # a pass-1 block whose files are all skipped stages no rows and adds an empty summary (and no
    # peaks): the cache equals the one built without those files. Before the one-pass statistics of
    # issue 15, the peaks' reshape(0, -1) made such a build fail ("cannot reshape array of size 0")
    bad = [("a_silent.wav", np.zeros(16000, np.float32)), ("b_garbage.wav", b"RIFF....WAVEnot audio")]
    listing = make_listing(tmp_path / "data", 5, bad=bad)
    assert [os.path.basename(it.path) for it in listing.items[:2]] == ["a_silent.wav", "b_garbage.wav"]
    report = build_cache(listing, tmp_path / "c.zarr", shard_size=2, workers=1, progress=False)
    assert report.n_items == 5 and report.n_skipped == 2
    clean = DatasetListing(listing.reader, listing.root, listing.items[2:], FAMILIES, listing.options)
    build_cache(clean, tmp_path / "clean.zarr", shard_size=2, workers=1, progress=False)
    a, b = open_cache(tmp_path / "c.zarr"), open_cache(tmp_path / "clean.zarr")
    assert a.stats.to_dict() == b.stats.to_dict()
    assert a[:].tobytes() == b[:].tobytes() and list(a.paths) == list(b.paths)


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, shutil, signal, sys
    import audiospec._cache_tasks as tasks
    import audiospec.cache as cache_module
    from tests.audiospec.test_cache import make_listing

    where, after = sys.argv[3], int(sys.argv[4])
    module, target = {
        "decode": (tasks, "load_clip_with_notes"),
        "normalize": (tasks, "normalize"),
        "layout": (cache_module, "create_arrays"),  # right after the root zarr.json is written
        "finish": (shutil, "rmtree"),  # complete, build folder not yet deleted
    }[where]
    original = getattr(module, target)
    calls = [0]

    def crash(*args, **kwargs):
        if where == "finish" and "_build.done" not in str(args[0]):
            return original(*args, **kwargs)  # zarr deletes folders with rmtree too
        calls[0] += 1
        if calls[0] > after:
            os.kill(os.getpid(), signal.SIGKILL)  # a hard crash: no cleanup, no exception handlers
        return original(*args, **kwargs)

    setattr(module, target, crash)
    listing = make_listing(sys.argv[1], 12)
    cache_module.build_cache(
        listing, sys.argv[2], shard_size=3, workers=1, progress=False, dtype="float32", keep_logmag=True
    )
    """
)


@pytest.mark.parametrize("where,after", [("decode", 7), ("layout", 0), ("normalize", 2), ("finish", 0)])
def test_killed_build_resumes_to_the_same_cache(tmp_path, where, after):
    data, broken, clean = tmp_path / "data", tmp_path / "broken.zarr", tmp_path / "clean.zarr"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(data), str(broken), where, str(after)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    listing = make_listing(data, 12)
    build_cache(listing, clean, shard_size=3, workers=1, progress=False, dtype="float32", keep_logmag=True)
    if where == "finish":  # killed after `complete`: the cache opens, the same command has nothing to do
        assert_same_cache(open_cache(broken), open_cache(clean))
        return
    with pytest.raises(CacheError, match="incomplete build"):
        open_cache(broken)
    again = tmp_path / "again.zarr"  # a copy: the same command resumes, and --overwrite recovers
    shutil.copytree(broken, again)
    report = build_cache(
        listing, broken, shard_size=3, workers=1, progress=False, dtype="float32", keep_logmag=True
    )
    assert report.resumed_blocks == (2 if where == "decode" else 4)
    assert_same_cache(open_cache(broken), open_cache(clean))
    build_cache(
        listing,
        again,
        shard_size=3,
        workers=1,
        progress=False,
        overwrite=True,
        dtype="float32",
        keep_logmag=True,
    )
    assert_same_cache(open_cache(again), open_cache(clean))


@pytest.mark.slow
def test_parallel_and_distributed_builds_equal_the_serial_build(tmp_path):
    from distributed import LocalCluster

    listing = make_listing(tmp_path / "data", 8)
    opts = {"shard_size": 2, "progress": False, "dtype": "float32", "keep_logmag": True}
    build_cache(listing, tmp_path / "serial.zarr", workers=1, **opts)
    build_cache(listing, tmp_path / "procs.zarr", workers=2, **opts)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        build_cache(listing, tmp_path / "dist.zarr", scheduler=cluster.scheduler_address, **opts)
    serial = open_cache(tmp_path / "serial.zarr")
    assert_same_cache(serial, open_cache(tmp_path / "procs.zarr"))
    assert_same_cache(serial, open_cache(tmp_path / "dist.zarr"))


def test_existing_caches_are_protected(tmp_path):
    listing = make_listing(tmp_path / "data", 4)
    out = tmp_path / "c.zarr"
    build_cache(listing, out, workers=1, progress=False)
    assert build_cache(listing, out, workers=1, progress=False).already_complete
    with pytest.raises(CacheError, match="complete cache built with other options; pass --overwrite"):
        build_cache(listing, out, seed=1, workers=1, progress=False)
    report = build_cache(listing, out, seed=1, workers=1, overwrite=True, progress=False)
    assert not report.already_complete and open_cache(out).attrs["settings"]["seed"] == 1
    other = tmp_path / "notacache"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(CacheError, match="not an audiospec cache"):
        build_cache(listing, other, workers=1, overwrite=True, progress=False)
    assert (other / "precious.txt").exists()


def test_format_version_is_checked_on_open(tmp_path):
    listing = make_listing(tmp_path / "data", 3)
    build_cache(listing, tmp_path / "c.zarr", workers=1, progress=False)
    meta = tmp_path / "c.zarr" / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["format_version"] = 99
    meta.write_text(json.dumps(doc))
    with pytest.raises(
        CacheError, match="format_version=99; this audiospec reads versions 1, 2, 3 and writes 3"
    ):
        open_cache(tmp_path / "c.zarr")
    with pytest.raises(CacheError, match="no cache at"):
        open_cache(tmp_path / "missing.zarr")


def test_drop_logmag_and_argument_errors(tmp_path):
    listing = make_listing(tmp_path / "data", 3)
    build_cache(listing, tmp_path / "c.zarr", workers=1, keep_logmag=False, progress=False)
    cache = open_cache(tmp_path / "c.zarr")
    with pytest.raises(CacheError, match="no raw log-magnitudes"):
        cache.logmag([0])
    assert cache[0].shape == (256, 128)
    with pytest.raises(ParameterError, match="range_policy='warn' must be one of"):
        build_cache(listing, tmp_path / "x.zarr", range_policy="warn")
    with pytest.raises(ParameterError, match="dtype='int8' must be one of"):
        build_cache(listing, tmp_path / "x.zarr", dtype="int8")
    with pytest.raises(ParameterError, match="shard_size=0"):
        build_cache(listing, tmp_path / "x.zarr", shard_size=0)
    with pytest.raises(ParameterError, match="workers=0"):
        build_cache(listing, tmp_path / "x.zarr", workers=0)
    with pytest.raises(ParameterError, match="clip_quantile=0.9"):
        build_cache(listing, tmp_path / "x.zarr", clip_quantile=0.9)
    with pytest.raises(ParameterError, match="listing="):
        build_cache([], tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists()
