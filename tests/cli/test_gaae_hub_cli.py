"""``gaae push`` and ``gaae features`` (issue 6), against the loopback Hub: no network."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from audiospec import DatasetStats, SpectrogramConfig
from audiospec.cache import build_cache
from audiospec.readers import list_nsynth
from audiospec.synth import make_nsynth_demo
from gaae_cli.gaae_hub_cli import features, push
from gaae_models import Encoder
from gaae_models.config import model_config
from gaae_models.train_config import TrainConfig
from tests.gaae_models.helpers import fit_one_thread
from tests.gaae_models.hub_server import HubServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = {"ch": 1, "z_dim": 8, "s_dim": 6, "attention": False}
SECRET = "hf_CliSecretToken_abcdef123456"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A GAAE run ("small" preset, tiny widths, 2 steps) on a 12-note synthetic NSynth cache."""
    root = tmp_path_factory.mktemp("cli_hub")
    make_nsynth_demo(str(root / "nsynth"), per_family=4, splits={"train": 1.0}, seed=0, duration=1.1)
    cache = str(root / "train.zarr")
    listing = list_nsynth(str(root / "nsynth"), split="train", sources=("all",))
    build_cache(listing, cache, workers=1, progress=False)
    train = TrainConfig(steps=2, batch_size=2, labelled_batch_size=2, seed=0, n_sample_wavs=0)
    return fit_one_thread(
        cache, root / "run", model_config=model_config("small", **TINY), train=train, device="cpu"
    )


@pytest.fixture
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    enc = Encoder(
        model_config("small", **TINY),
        audio_config=SpectrogramConfig(),
        stats=DatasetStats(mean=-4.5, std=2.4, r=1.9, upper=3.4),
        label_names=["a", "b"],
    )
    folder = tmp_path_factory.mktemp("model") / "enc"
    enc.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def audio_tree(tmp_path, rng):
    root = tmp_path / "audio"
    (root / "deep" / "er").mkdir(parents=True)
    for name, n, sr in (("a.wav", 20000, 16000), ("deep/er/b.flac", 50000, 22050), ("c.ogg", 8000, 16000)):
        sf.write(str(root / name), (0.2 * rng.standard_normal(n)).astype(np.float32), sr)
    (root / "bad.wav").write_bytes(b"not a wav at all")
    (root / "readme.txt").write_text("skip me")
    return root


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(PYTHONPATH=ROOT, HF_HUB_DISABLE_TELEMETRY="1", **extra)
    return env


def test_push_cli(tiny_run, hub):
    result = CliRunner().invoke(
        push, [tiny_run, "--repo-id", "carol/tiny", "--with-decoder", "--private", "--token", SECRET]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["repo_id"] == "carol/tiny" and "decoder/model.safetensors" in info["files"]
    assert SECRET not in result.output and set(hub.tokens) == {SECRET}
    assert hub.repos["carol/tiny"].private
    readme = hub.files("carol/tiny")["README.md"].decode()
    assert "library_name: gaae-audio" in readme and "no evaluation report" in readme


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repo-id", "no-owner"], "repo_id='no-owner' must be OWNER/NAME"),
        (["--repo-id", "a/b", "--checkpoint", "step-9"], "checkpoint='step-9' is neither a folder"),
    ],
)
def test_push_cli_errors(tiny_run, hub, args, message):
    result = CliRunner().invoke(push, [tiny_run, *args])
    assert result.exit_code == 2 and message in result.stderr


def test_features_cli(model_dir, audio_tree, tmp_path):
    out = tmp_path / "feats.npz"
    extra = str(audio_tree / "a.wav")  # given twice (folder and file): read once
    args = [
        "--model",
        model_dir,
        str(audio_tree),
        extra,
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--hop",
        "0.5",
    ]
    result = CliRunner().invoke(features, args)
    assert result.exit_code == 0, result.output
    assert f"skipped {audio_tree / 'bad.wav'}: cannot read audio file" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"] == 3 and summary["skipped"] == 1
    with np.load(out, allow_pickle=False) as npz:
        files = npz["files"].tolist()
        assert sorted(os.path.basename(f) for f in files) == ["a.wav", "b.flac", "c.ogg"]
        n = {os.path.basename(f): k for f, k in zip(files, npz["n_windows"].tolist(), strict=True)}
        # 1.024 s windows every 0.5 s: 1.25 s -> 2 windows; 50000 samples at 22.05 kHz = 36282 at 16 kHz -> 4
        assert n == {"a.wav": 2, "b.flac": 4, "c.ogg": 1}
        assert npz["z"].shape == (7, 8) and npz["s"].shape == (7, 6) and npz["z_mean"].shape == (3, 8)
        assert npz["file_index"].tolist() == np.repeat(np.arange(3), npz["n_windows"]).tolist()
        first = npz["file_index"] == files.index(extra)
        np.testing.assert_allclose(npz["offset_seconds"][first], [0.0, 0.5])
        assert npz["skipped_files"].tolist() == [str(audio_tree / "bad.wav")]
        assert str(npz["model"]) == model_dir and npz["label_names"].tolist() == ["a", "b"]
    again = CliRunner().invoke(features, args)
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.stderr
    only_s = CliRunner().invoke(features, [*args, "--overwrite", "--which", "s", "--quiet"])
    assert only_s.exit_code == 0, only_s.output
    with np.load(out) as npz:
        assert "z" not in npz and npz["s"].shape == (7, 6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--which", "q"], "Invalid value for '--which': 'q' must be a comma-separated list of z and s"),
        (["--hop", "0"], "Invalid value for '--hop': 0.0 is not in the range x>0"),
        (["--batch-size", "0"], "Invalid value for '--batch-size': 0 is not in the range x>=1"),
        (["--model", "nobody/x//y"], "model='nobody/x//y' is neither an existing folder"),
    ],
)
def test_features_cli_errors(model_dir, audio_tree, tmp_path, args, message):
    base = ["--model", model_dir, str(audio_tree), "--out", str(tmp_path / "f.npz")]
    result = CliRunner().invoke(features, [*base, *args])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.slow
def test_push_then_features_offline_in_subprocesses(tiny_run, tmp_path, audio_tree):
    """The installed entry point with HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE, as a user runs it."""
    cache = str(tmp_path / "hf_cache")
    with HubServer(required_token=SECRET) as server:
        env = _env(
            HF_ENDPOINT=server.url, HF_TOKEN=SECRET, HF_HUB_CACHE=cache, HF_HOME=str(tmp_path / "home")
        )
        pushed = subprocess.run(
            [sys.executable, "-m", "gaae_cli.gaae_cli", "push", tiny_run, "--repo-id", "dave/tiny"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert pushed.returncode == 0, pushed.stderr
        assert SECRET not in pushed.stdout + pushed.stderr
        command = [
            sys.executable,
            "-m",
            "gaae_cli.gaae_cli",
            "features",
            "--model",
            "dave/tiny",
            str(audio_tree),
        ]
        online = subprocess.run(
            [*command, "--out", str(tmp_path / "online.npz")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert online.returncode == 0, online.stderr
    # the server is gone: only the cache can answer
    offline = subprocess.run(
        [*command, "--out", str(tmp_path / "offline.npz"), "--quiet"],
        capture_output=True,
        text=True,
        env={**env, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert offline.returncode == 0, offline.stderr
    with np.load(tmp_path / "online.npz") as a, np.load(tmp_path / "offline.npz") as b:
        assert np.array_equal(a["z"], b["z"]) and np.array_equal(a["s_mean"], b["s_mean"])
        assert a["z"].shape == (6, 8)  # hop 1.024 s: 2 + 3 + 1 windows
