import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import audiospec
from audiospec.cache import open_cache
from gaae_cli.audiospec_cli import main


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo-data", "nsynth", str(root), "--per-family", "4"])
    assert result.exit_code == 0, result.output
    return root


def test_demo_data_has_nsynth_layout(demo_root):
    examples = json.loads((demo_root / "nsynth-train" / "examples.json").read_text())
    assert len(examples) == 12
    note, entry = next(iter(examples.items()))
    assert entry["note_str"] == note and entry["instrument_family_str"] in {"guitar", "string", "mallet"}
    info = sf.info(demo_root / "nsynth-train" / "audio" / f"{note}.wav")
    assert (info.samplerate, info.frames, info.channels) == (16000, 64000, 1)
    assert len(json.loads((demo_root / "nsynth-test" / "examples.json").read_text())) == 3


def test_build_info_invert_plot(demo_root, tmp_path):
    runner = CliRunner()
    train, test = tmp_path / "train.zarr", tmp_path / "test.zarr"
    args = [
        "build-cache",
        "nsynth",
        str(demo_root),
        str(train),
        "--sources",
        "all",
        "--workers",
        "1",
        "--quiet",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "12 items" in result.output
    result = runner.invoke(main, args)  # the same command again: nothing to do
    assert result.exit_code == 0 and "already complete" in result.output
    test_args = [
        "build-cache",
        "nsynth",
        str(demo_root),
        str(test),
        *"--split test --sources all --quiet".split(),
    ]
    result = runner.invoke(main, test_args)
    assert result.exit_code == 2 and "--stats-from TRAIN_CACHE" in result.output
    result = runner.invoke(main, [*test_args, "--stats-from", str(train), "--workers", "1", "--keep-logmag"])
    assert result.exit_code == 0, result.output
    assert open_cache(test).stats.to_dict() == open_cache(train).stats.to_dict()

    result = runner.invoke(main, ["info", str(train)])
    assert result.exit_code == 0, result.output
    assert "12 items" in result.output and "guitar 4" in result.output and "mallet 4" in result.output
    summary = json.loads(runner.invoke(main, ["info", str(train), "--json"]).output)
    assert summary["items"] == 12 and summary["counts"]["train"] == {"guitar": 4, "string": 4, "mallet": 4}

    out = tmp_path / "wavs"
    result = runner.invoke(
        main, ["invert", str(test), str(out), "--index", "0", "--index", "2", "--n-iter", "4"]
    )
    assert result.exit_code == 0, result.output
    wavs = sorted(out.glob("*.wav"))
    assert [w.name.split("-")[1] for w in wavs] == ["000000", "000002"]
    y, sr = sf.read(wavs[0], dtype="float32")
    cache = open_cache(test)
    sc = audiospec.spectral_convergence(np.exp(cache.logmag([0])[0]), y, config=cache.config)
    assert sr == 16000 and sc < -15  # the rebuilt audio really is the cached item

    result = runner.invoke(main, ["plot", str(train), str(tmp_path / "grid.png"), "--n", "6"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--families", "guitar,piano"], "unknown NSynth families ['piano']"),
        ([], "sources ['acoustic']"),
        (["--split", "valid", "--sources", "all", "--r", "-2", "--own-stats"], "r=-2.0 must be a positive"),
    ],
)
def test_build_errors_are_one_line_exit_2(demo_root, tmp_path, extra, message):
    result = CliRunner().invoke(
        main, ["build-cache", "nsynth", str(demo_root), str(tmp_path / "x.zarr"), *extra]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_missing_examples_json_and_bad_cache(tmp_path):
    result = CliRunner().invoke(main, ["build-cache", "nsynth", str(tmp_path), str(tmp_path / "x.zarr")])
    assert result.exit_code == 2 and "examples.json" in result.output
    result = CliRunner().invoke(main, ["info", str(tmp_path / "nothing.zarr")])
    assert result.exit_code == 2 and "no cache at" in result.output


def test_unreachable_scheduler_is_one_error_line_and_creates_nothing(demo_root, tmp_path):
    import socket

    import dask

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "x.zarr"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = CliRunner().invoke(
            main,
            ["build-cache", "nsynth", str(demo_root), str(out), "--sources", "all", "--quiet",
             "--scheduler", f"tcp://127.0.0.1:{port}"],
        )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: scheduler='tcp://127.0.0.1:{port}' cannot be reached")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "x.zarr.lock").exists()


def test_build_reports_skipped_and_kept_files(demo_root, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    audio = sorted((root / "nsynth-train" / "audio").glob("*.wav"))
    data = audio[0].read_bytes()
    audio[0].write_bytes(data[:300])  # truncated: its header still promises 4 s
    result = CliRunner().invoke(
        main, ["build-cache", "nsynth", str(root), str(tmp_path / "c.zarr"), "--sources", "all", "--quiet",
               "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "11 items" in result.output and "skipped 1 file(s)" in result.output and "truncated" in result.output
    )
