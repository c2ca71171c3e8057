"""Faults of issue 15, each reproduced: locks, builds in progress, truncated and out-of-range audio,
outlier files and the clip rule, killed drivers, format-1 caches, progress in logs."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf
import zarr

from audiospec import CacheError
from audiospec._cache_layout import BuildLock, start_build
from audiospec.cache import build_cache, open_cache
from tests.audiospec.test_cache import make_listing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_second_build_fails_at_once_naming_the_holder_and_open_says_in_progress(tmp_path):
    listing = make_listing(tmp_path / "data", 4)
    out = str(tmp_path / "c.zarr")
    with BuildLock(out):  # what a running build holds (flock: a second open conflicts, even in-process)
        start_build(out, {"fingerprint": "x"})
        t0 = time.perf_counter()
        with pytest.raises(CacheError, match=rf"being built by another process \(pid {os.getpid()} on host"):
            build_cache(listing, out, workers=1, progress=False)
        assert time.perf_counter() - t0 < 2
        with pytest.raises(CacheError, match=rf"is being built right now \(pid {os.getpid()}"):
            open_cache(out)
    # the holder is gone: the same folder is an interrupted build, and --overwrite recovers it
    assert not os.path.exists(f"{out}.lock")
    with pytest.raises(CacheError, match="incomplete build \\(interrupted\\?\\)"):
        open_cache(out)
    assert build_cache(listing, out, workers=1, progress=False, overwrite=True).n_items == 4


def _truncate(path, n_bytes):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:n_bytes])


def test_truncated_files_are_skipped_or_kept_with_a_warning(tmp_path):
    listing = make_listing(tmp_path / "data", 6)
    y = (0.5 * np.sin(np.arange(64000) * 0.05)).astype(np.float32)
    for name, n_bytes in (("cut300.wav", 300), ("cut_late.wav", 44 + 2 * 40000)):
        path = tmp_path / "data" / "train" / name
        sf.write(path, y, 16000, subtype="PCM_16")
        _truncate(path, n_bytes)
    listing.items.extend(
        [
            type(listing.items[0])(path=f"train/{n}", label=0, split="train")
            for n in ("cut300.wav", "cut_late.wav")
        ]
    )
    report = build_cache(listing, tmp_path / "c.zarr", workers=1, progress=False)
    assert [os.path.basename(r["path"]) for r in report.skipped] == ["cut300.wav"]
    assert (
        "truncated" in report.skipped[0]["reason"]
        and "declares 64000 frames, only 128" in report.skipped[0]["reason"]
    )
    assert [os.path.basename(r["path"]) for r in report.warnings] == ["cut_late.wav"]  # the crop is all there
    assert "only 40000 are in the file" in report.warnings[0]["reason"]
    assert open_cache(tmp_path / "c.zarr").attrs["warnings"] == report.warnings


def _loud_listing(root, n=30, with_outlier=True):
    listing = make_listing(root, n)
    if with_outlier:
        loud = (50 * np.sin(np.arange(20000) * 0.1)).astype(np.float32)  # a float WAV peaking at +-50
        sf.write(os.path.join(root, "train", "loud.wav"), loud, 16000, subtype="FLOAT")
        listing.items.append(type(listing.items[0])(path="train/loud.wav", label=0, split="train"))
    return listing


def test_out_of_range_policy_and_a_clip_rule_robust_to_one_outlier(tmp_path):
    clean = build_cache(
        _loud_listing(tmp_path / "a", with_outlier=False), tmp_path / "clean.zarr", workers=1, progress=False
    )
    skip = build_cache(_loud_listing(tmp_path / "b"), tmp_path / "skip.zarr", workers=1, progress=False)
    assert [r["path"] for r in skip.skipped] == ["train/loud.wav"]
    assert "out of range: peak 50 > 1" in skip.skipped[0]["reason"] and skip.n_items == clean.n_items
    keep = build_cache(
        _loud_listing(tmp_path / "c"), tmp_path / "keep.zarr", workers=1, progress=False, range_policy="keep"
    )
    assert keep.n_items == clean.n_items + 1 and [r["path"] for r in keep.warnings] == ["train/loud.wav"]
    upper_clean = open_cache(tmp_path / "clean.zarr").stats.upper
    kept_stats = open_cache(tmp_path / "keep.zarr").stats
    # the outlier moves the upper clip by little under the per-item quantile rule ...
    assert abs(kept_stats.upper - upper_clean) < 0.35
    # ... and by far more under the old maximum rule
    old_upper = (kept_stats.partial.maximum - kept_stats.mean) / kept_stats.std
    assert old_upper - upper_clean > 1.0


def test_dc_only_and_clipped_files_are_reported(tmp_path):
    listing = make_listing(tmp_path / "data", 4)
    t = np.arange(16384)
    for name, y in (
        ("dc.wav", np.full(16384, 0.3, np.float32)),
        ("clipped.wav", np.clip(3 * np.sin(t * 0.05), -1, 1).astype(np.float32)),
    ):
        sf.write(tmp_path / "data" / "train" / name, y, 16000, subtype="FLOAT")
        listing.items.append(type(listing.items[0])(path=f"train/{name}", label=0, split="train"))
    report = build_cache(listing, tmp_path / "c.zarr", workers=1, progress=False)
    reasons = {r["path"]: r["reason"] for r in report.skipped}
    assert "DC only" in reasons["train/dc.wav"] and "clipped" in reasons["train/clipped.wav"]


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from audiospec.cache import build_cache
    from tests.audiospec.test_cache import make_listing

    if __name__ == "__main__":
        listing = make_listing(sys.argv[1], 8)
        build_cache(listing, sys.argv[2], shard_size=2, workers=2, progress=False)
    """
)


@pytest.mark.slow
def test_killing_the_driver_ends_its_workers(tmp_path):
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "kill_me.py"
    # every decode sleeps (sitecustomize patches each spawned worker), so the build is still running
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time, audiospec._cache_tasks as t\n"
        "_orig = t.load_clip_with_notes\n"
        "def _slow(*a, **k):\n    time.sleep(30)\n    return _orig(*a, **k)\n"
        "t.load_clip_with_notes = _slow\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "PYTHONSTARTUP": ""}
    (tmp_path / "sitecustomize.py").write_text("import slow\n")
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data"), str(tmp_path / "c.zarr")], env=env, cwd=ROOT
    )
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 60
    children = []
    while time.time() < deadline and len(children) < 2:
        time.sleep(0.5)
        children = [
            c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())
        ]
    assert len(children) >= 2, "the build never started its workers"
    everyone = parent.children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _gone, alive = psutil.wait_procs(everyone, timeout=10)
    assert not alive, [p.cmdline() for p in alive]


def _write_format1(path, n=4):
    """A format-1 cache as the old code wrote it: a NaN row for a skipped file, masked by `valid`."""
    from audiospec import SpectrogramConfig
    from audiospec.stats import DatasetStats

    config = SpectrogramConfig()
    group = zarr.open_group(path, mode="w")
    spec = np.random.default_rng(0).uniform(-1, 1, (n, *config.shape)).astype(np.float32)
    spec[1] = np.nan
    valid = np.ones(n, bool)
    valid[1] = False
    for name, values in {
        "spectrograms": spec, "valid": valid, "labels": np.arange(n, dtype=np.int16) % 2,
        "offsets": np.zeros(n, np.int64), "splits": np.zeros(n, np.int16),
        "crop_index": np.zeros(n, np.int16),
    }.items():  # fmt: skip
        group.create_array(name, data=values)
    paths = group.create_array("paths", shape=(n,), dtype=str)
    paths[:] = np.array([f"f{i}.wav" for i in range(n)], dtype=object)
    group.attrs.update(
        {
            "audiospec_cache": True, "format_version": 1, "complete": True, "config": config.to_dict(),
            "stats": DatasetStats(mean=-5.0, std=2.0, r=2.0, upper=4.0).to_dict(), "label_names": ["a", "b"],
            "split_names": ["train"], "reader": "folder", "root": "", "skipped": [{"path": "f1.wav"}],
        }
    )  # fmt: skip
    return spec, valid


def test_format_1_caches_still_open_with_their_holes_masked(tmp_path):
    spec, valid = _write_format1(tmp_path / "old.zarr")
    cache = open_cache(tmp_path / "old.zarr")
    assert len(cache) == 3 and cache.format_version == 1
    np.testing.assert_array_equal(cache[:], spec[valid])
    assert list(cache.paths) == ["f0.wav", "f2.wav", "f3.wav"] and list(cache.labels) == [0, 0, 1]


def test_a_format_1_build_killed_after_its_zarr_json_is_recovered_by_overwrite(tmp_path):
    out = tmp_path / "c.zarr"
    zarr.open_group(out, mode="w").create_array("labels", shape=(3,), dtype="int16")  # no attributes yet
    listing = make_listing(tmp_path / "data", 3)
    with pytest.raises(CacheError, match="interrupted format-1 build; pass --overwrite"):
        build_cache(listing, out, workers=1, progress=False)
    assert build_cache(listing, out, workers=1, progress=False, overwrite=True).n_items == 3


def test_progress_is_one_line_per_update_when_not_a_terminal(tmp_path, monkeypatch):
    import audiospec.progress as progress

    monkeypatch.setattr(progress, "LOG_MININTERVAL", 0.0)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    build_cache(make_listing(tmp_path / "data", 6), tmp_path / "c.zarr", shard_size=2, workers=1)
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert any(line.startswith("[1/2] decode+STFT: 100%") for line in lines)
    assert any(line.startswith("[2/2] normalise: 100%") for line in lines)
    assert len(lines) <= 2 * (3 + 2)  # at most one line per update (3 blocks each) plus start and end


def test_lock_file_names_its_holder(tmp_path):
    out = str(tmp_path / "c.zarr")
    with BuildLock(out):
        holder = json.loads(open(f"{out}.lock").read())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["since"] and holder["command"]
    assert not os.path.exists(f"{out}.lock")
