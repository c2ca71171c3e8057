"""Issue 12: bad input to the CLIs is one ``Error:`` line and exit code 2, never a traceback."""

import os

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from gaae_cli._common import default_threads
from gaae_cli.audiospec_cli import main as audiospec_main
from gaae_cli.gaae_cli import main as gaae_main


@pytest.fixture
def wav(tmp_path):
    t = np.arange(22050) / 22050
    path = tmp_path / "a.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    return str(path)


def one_error_line(result, *needles):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_roundtrip_to_a_missing_folder(wav, tmp_path):
    result = CliRunner().invoke(audiospec_main, ["roundtrip", wav, str(tmp_path / "nope" / "out.wav")])
    one_error_line(result, "does not exist", "nope")
    assert not os.path.exists(tmp_path / "nope")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "it does not exist"),
        (lambda p: os.symlink(p + ".gone", p), "dangling symbolic link"),
        (lambda p: open(p, "wb").write(b"not audio" * 20), "not audio in a format"),
        (lambda p: os.mkdir(p), "is a directory"),
    ],
)
def test_unreadable_inputs_say_what_happened(tmp_path, make, reason):
    path = str(tmp_path / "in.mp3")
    make(path)
    result = CliRunner().invoke(audiospec_main, ["roundtrip", path, str(tmp_path / "out.wav")])
    line = one_error_line(result, reason)
    assert "System error" not in line


def test_permission_denied_is_named(wav, monkeypatch):
    import soundfile

    from audiospec.errors import AudioError
    from audiospec.io import load_clip

    def refuse(*args, **kwargs):
        raise soundfile.LibsndfileError(2, "Error opening: ")

    monkeypatch.setattr(soundfile, "info", refuse)  # root reads every file: simulate the refusal
    monkeypatch.setattr(soundfile, "SoundFile", refuse)  # (load_clip opens the file once, no info())
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(AudioError, match="permission denied"):
        load_clip(wav)


def test_roundtrip_stats_from_a_cache_or_a_bad_file(wav, tmp_path, tiny_data):
    out = str(tmp_path / "out.wav")
    result = CliRunner().invoke(audiospec_main, ["roundtrip", wav, out, "--stats", tiny_data["train"]])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(audiospec_main, ["roundtrip", wav, out + "2", "--stats", wav])
    one_error_line(result, "--stats", "not a DatasetStats JSON file")


@pytest.mark.parametrize(
    ("main", "args", "needle"),
    [
        (audiospec_main, ["roundtrip"], "Missing argument 'IN'"),
        (audiospec_main, ["roundtrip", "a.wav", "b.wav", "--n-iter", "-1"], "--n-iter"),
        (gaae_main, ["fit", ".", "--out", "x", "--batch-size", "0"], "--batch-size"),
        (gaae_main, ["bogus"], "No such command 'bogus'"),
    ],
)
def test_usage_errors_are_one_line(main, args, needle):
    line = one_error_line(CliRunner().invoke(main, args), needle)
    assert "--help" in line


def test_device_defaults_to_auto_and_threads_everywhere():
    for name in ("fit", "sample", "evaluate", "demo", "features", "predict", "export"):
        params = {p.name: p for p in gaae_main.commands[name].params}
        assert "threads" in params, name
        if "device" in params:
            assert params["device"].default == "auto", name


def test_default_threads_honours_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= default_threads() <= (os.cpu_count() or 1)


def test_busy_cpus_reads_the_machine_now_not_the_load_average(monkeypatch, tmp_path):
    from gaae_cli import _common

    stat = tmp_path / "stat"
    stat.write_text("cpu 100 0 100 800 0 0 0\n")
    # between the two readings 100 of 200 jiffies were busy: half of the 4 CPUs
    monkeypatch.setattr(_common.time, "sleep", lambda s: stat.write_text("cpu 150 0 150 900 0 0 0\n"))
    monkeypatch.setattr(_common.os, "cpu_count", lambda: 4)
    assert _common.busy_cpus(path=str(stat)) == pytest.approx(2.0)
    assert _common.busy_cpus(path=str(tmp_path / "missing")) is None
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_common, "busy_cpus", lambda *a, **k: 0.0)  # idle now, whatever the load average
    assert default_threads() == len(os.sched_getaffinity(0))


def test_fit_refuses_a_batch_larger_than_the_cache(tiny_data, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        gaae_main, ["fit", tiny_data["train"], "--out", str(out), "--batch-size", "1000"]
    )
    one_error_line(result, "batch_size=1000 is larger than the", "--batch-size")
    assert not out.exists()


def test_an_eval_cache_with_other_statistics_is_reported(tiny_data, tmp_path, capsys):
    from audiospec.cache import build_cache
    from audiospec.readers import list_nsynth
    from gaae_cli.gaae_cli import _check_data

    own = str(tmp_path / "own.zarr")
    nsynth = os.path.join(os.path.dirname(tiny_data["train"]), "nsynth")
    build_cache(list_nsynth(nsynth, split="test", sources=("all",)), own, workers=1, progress=False)

    _check_data(tiny_data["train"], tiny_data["test"], 2)  # built with --stats-from train: silent
    assert capsys.readouterr().err == ""
    _check_data(tiny_data["train"], own, 2)  # the same audio, but its own statistics
    err = capsys.readouterr().err
    assert err.startswith("Warning: --eval-cache") and f"--stats-from {tiny_data['train']}" in err


def test_invert_refuses_to_overwrite_without_the_flag(tiny_data, tmp_path):
    out = tmp_path / "wavs"
    args = ["invert", tiny_data["train"], str(out), "--n", "1", "--n-iter", "0"]
    assert CliRunner().invoke(audiospec_main, args).exit_code == 0
    (wav,) = out.iterdir()
    before = wav.stat().st_mtime_ns
    one_error_line(CliRunner().invoke(audiospec_main, args), "already exists", "--overwrite")
    assert wav.stat().st_mtime_ns == before
    assert CliRunner().invoke(audiospec_main, [*args, "--overwrite"]).exit_code == 0


def test_skip_lines_name_each_path_once(tmp_path):
    from gaae_cli._common import skip_line

    full = str(tmp_path / "x" / "c.mp3")
    reason = f"cannot read audio file {full!r}: it is not audio"
    assert (
        skip_line("x/c.mp3", reason, root=str(tmp_path)) == "x/c.mp3: cannot read audio file: it is not audio"
    )
    assert skip_line(full, reason) == f"{full}: cannot read audio file: it is not audio"


def test_gaae_help_is_fast_and_fit_help_shows_defaults():
    import subprocess
    import sys

    code = "import sys, gaae_cli.gaae_cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # no eager torch import: `gaae --help` stays well under 1 s
    text = CliRunner().invoke(gaae_main, ["fit", "--help"]).output
    for default in ("default: 2000", "default: 16", "default: 0", "default: auto", "--threads"):
        assert default in " ".join(text.split()), default


def test_stats_from_a_file_that_is_not_a_cache(tiny_data, tmp_path):
    text = tmp_path / "stats.txt"
    text.write_text("not a cache")
    nsynth = os.path.join(os.path.dirname(tiny_data["train"]), "nsynth")
    out = tmp_path / "test.zarr"
    args = ["build-cache", "nsynth", nsynth, str(out), "--split", "test", "--sources", "all"]
    args += ["--stats-from", str(text)]
    line = one_error_line(CliRunner().invoke(audiospec_main, args), "--stats-from", "training split's cache")
    assert "remove" not in line
    assert not out.exists() and text.read_text() == "not a cache"
