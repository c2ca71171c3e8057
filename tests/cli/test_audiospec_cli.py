import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from click.testing import CliRunner

import audiospec
import audiospec.cache
from gaae_cli.audiospec_cli import main
from tests.signals import harmonic


def _wav(path, y, sr=16000):
    sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")
    return str(path)


def test_roundtrip_writes_audio_and_reports_spectral_convergence(tmp_path):
    src = _wav(tmp_path / "in.wav", harmonic())
    out = tmp_path / "out.wav"
    result = CliRunner().invoke(main, ["roundtrip", src, str(out), "--n-iter", "8"])
    assert result.exit_code == 0, result.output
    sc = float(re.search(r"spectral convergence (-?[\d.]+) dB", result.output).group(1))
    y_hat, sr = sf.read(out, dtype="float32")
    assert sr == 16000 and y_hat.shape == (16384,)
    cfg = audiospec.SpectrogramConfig()
    mag = np.exp(audiospec.stft_logmag(harmonic(), config=cfg))
    # the reported number is the real one (up to 16-bit quantisation of the written file)
    assert abs(float(audiospec.spectral_convergence(mag, y_hat, config=cfg)) - sc) < 0.5
    assert sc < -25


def test_roundtrip_whole_file_resampled_with_given_stats(tmp_path):
    t = np.arange(int(2.5 * 44100)) / 44100
    src = _wav(tmp_path / "long.wav", 0.3 * np.sin(2 * np.pi * 660 * t), sr=44100)
    cfg = audiospec.SpectrogramConfig()
    stats = audiospec.dataset_stats(audiospec.partial_stats(audiospec.stft_logmag(harmonic(), config=cfg)))
    (tmp_path / "stats.json").write_text(stats.to_json())
    out = tmp_path / "long_out.wav"
    result = CliRunner().invoke(
        main, ["roundtrip", src, str(out), "--whole", "--stats", str(tmp_path / "stats.json")]
    )
    assert result.exit_code == 0, result.output
    assert sf.info(out).frames == 40064  # 2.5 s at 16 kHz rounded up to a multiple of 128


def test_plot_writes_png(tmp_path):
    src = _wav(tmp_path / "in.wav", harmonic())
    out = tmp_path / "spec.png"
    result = CliRunner().invoke(main, ["plot", src, str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_errors_are_one_line_and_exit_2(tmp_path):
    runner = CliRunner()
    src = _wav(tmp_path / "in.wav", harmonic())
    out = tmp_path / "out.wav"
    out.write_bytes(b"x")
    result = runner.invoke(main, ["roundtrip", src, str(out)])
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    silent = _wav(tmp_path / "silent.wav", np.zeros(16000))
    result = runner.invoke(main, ["roundtrip", silent, str(tmp_path / "o2.wav")])
    assert result.exit_code == 2 and "Error:" in result.output and "silent" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["plot", str(tmp_path / "missing.wav"), str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "cannot read audio file" in result.output
    result = runner.invoke(main, ["roundtrip", src, str(tmp_path / "o3.wav"), "--n-samples", "1000"])
    assert result.exit_code == 2 and "n_samples=1000 must be a multiple of hop_length=128" in result.output


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", str(out), "--per-family", "4", "--n-iter", "4", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    pghi = summary["results"]["pghi"]["median_sc_db"]
    refined = summary["results"]["pghi+fgla4"]["median_sc_db"]
    assert set(pghi) == {"guitar", "string", "mallet"} and max(pghi.values()) < -15
    assert all(refined[k] < pghi[k] for k in pghi)
    assert (out / "train_spectrograms.png").stat().st_size > 10_000
    assert len(list((out / "wavs").glob("*.wav"))) == 6  # 3 test notes x 2 reconstructions
    assert len(audiospec.cache.open_cache(out / "test.zarr")) == 3
    again = CliRunner().invoke(main, ["demo", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output


def test_console_scripts_are_installed():
    bindir = Path(sys.executable).parent
    for prog in ("audiospec", "gaae"):
        result = subprocess.run([str(bindir / prog), "--version"], capture_output=True, text=True)
        assert result.returncode == 0 and "0.1.0" in result.stdout


def test_audiospec_works_without_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, audiospec\n"
        "import gaae_cli.audiospec_cli\n"
        "x = audiospec.stft_logmag(np.random.default_rng(0).standard_normal(16384))\n"
        "y = audiospec.reconstruct(x, rng=0)\n"
        "assert y.shape == (16384,) and 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
