"""gaae export, pretrained models from a run folder, and the classifier C as a pretrained model (issue 13)."""

import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from click.testing import CliRunner

from audiospec.cache import open_cache
from gaae_cli.gaae_cli import main as gaae
from gaae_models import Encoder, GuidedEncoder, StyleEncoder
from gaae_models.config import model_config
from gaae_models.errors import HubError
from gaae_models.hub import PretrainedDecoder, encoder_from_run, export_run, load_encoder
from gaae_models.pretrained import AudioClassifier, PretrainedClassifier
from gaae_models.runs import load_run
from gaae_models.train_config import TrainConfig
from tests.gaae_models.helpers import fit_one_thread

TINY = {"ch": 1, "z_dim": 16, "s_dim": 12, "attention": False}


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A GAAE run (tiny widths) trained for 2 steps on the 3-class synthetic cache."""
    out = str(tmp_path_factory.mktemp("export") / "run")
    train = TrainConfig(
        steps=2, batch_size=2, labelled_batch_size=2, labelled_fraction=0.5, seed=5, n_sample_wavs=0
    )
    fit_one_thread(tiny_data["train"], out, model_config=model_config("small", **TINY), train=train)
    return out


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    old = os.umask(0o022)
    try:
        return export_run(run, tmp_path_factory.mktemp("exp") / "model", with_decoder=True)
    finally:
        os.umask(old)


@pytest.fixture
def clip(rng):
    t = np.arange(30000) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_export_folder_layout_modes_and_card(exported):
    files = sorted(
        os.path.relpath(os.path.join(root, f), exported)
        for root, _, names in os.walk(exported)
        for f in names
    )
    assert files == [
        "README.md",
        "classifier/config.json",
        "classifier/model.safetensors",
        "classifier/preprocessor_config.json",
        "config.json",
        "decoder/config.json",
        "decoder/model.safetensors",
        "decoder/preprocessor_config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    for root, _, names in os.walk(exported):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o755, root
        for name in names:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o644, name
    readme = open(os.path.join(exported, "README.md")).read()
    meta = yaml.safe_load(readme.split("---\n")[1])
    assert meta["library_name"] == "gaae-audio" and meta["license"] == "mit"
    assert "pip install 'gaae-audio[models]'" in readme and "AudioClassifier.from_pretrained" in readme
    assert "gaae predict --model" in readme and "hear.load_model" in readme
    config = json.load(open(os.path.join(exported, "classifier", "config.json")))
    assert config["architecture"] == "Classifier" and config["label_names"] == ["guitar", "string", "mallet"]


def test_export_loads_back_and_equals_the_run(run, exported):
    reference = encoder_from_run(run)
    _same_weights(Encoder.from_pretrained(exported), reference)
    trained = load_run(run)
    _same_weights(
        PretrainedClassifier.from_pretrained(exported, subfolder="classifier"), trained.modules["classifier"]
    )
    _same_weights(
        PretrainedDecoder.from_pretrained(exported, subfolder="decoder"), trained.modules["decoder"]
    )


def test_from_pretrained_takes_a_run_folder(run, exported, clip):
    """Issue 13: no export needed: every from_pretrained (and load_encoder) reads a run folder."""
    encoder = Encoder.from_pretrained(run)
    assert isinstance(encoder, Encoder) and not encoder.training
    _same_weights(encoder, Encoder.from_pretrained(exported))
    assert isinstance(load_encoder(run), Encoder)
    z = GuidedEncoder.from_pretrained(run).embed(clip, 16000).z
    s = StyleEncoder.from_pretrained(run).embed(clip, 16000).s
    both = encoder.embed(clip, 16000)
    np.testing.assert_allclose(z, both.z, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s, both.s, rtol=1e-6, atol=1e-6)
    assert PretrainedDecoder.from_pretrained(run).label_names == ("guitar", "string", "mallet")


def test_audio_classifier_is_c_on_e_z(run, exported, tiny_data, clip):
    model = AudioClassifier.from_pretrained(exported)
    assert model.label_names == ("guitar", "string", "mallet")
    cache = open_cache(tiny_data["test"])
    x = torch.from_numpy(np.asarray(cache[:4], dtype=np.float32)).unsqueeze(1)
    trained = load_run(run)
    with torch.no_grad():
        expected = trained.modules["classifier"](trained.modules["encoder"].encode_z(x))
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)
    prediction = model.predict(clip, 16000, hop=0.5)
    assert prediction.window_probabilities.shape == (3, 3)
    np.testing.assert_allclose(prediction.window_probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(
        prediction.probabilities, prediction.window_probabilities.mean(axis=0), rtol=1e-5
    )
    assert prediction.label == model.label_names[int(np.argmax(prediction.probabilities))]
    assert prediction.offsets.tolist() == [0.0, 0.5, 1.0] and len(prediction.window_labels) == 3
    from_run = AudioClassifier.from_pretrained(run).predict(clip, 16000, hop=0.5)
    np.testing.assert_allclose(from_run.window_probabilities, prediction.window_probabilities, rtol=1e-5)
    batch = model.predict([clip, clip[:9000]], 16000)
    assert [p.window_probabilities.shape[0] for p in batch] == [2, 1]


def test_a_folder_without_the_classifier_says_what_to_do(run, tmp_path):
    folder = export_run(run, tmp_path / "bare", with_classifier=False)
    assert not os.path.exists(os.path.join(folder, "classifier"))
    with pytest.raises(HubError, match=r"has no usable classifier/ .*export the run again"):
        AudioClassifier.from_pretrained(folder)


def test_cli_export_predict_and_features_on_a_run(run, tmp_path, clip):
    runner = CliRunner()
    out = tmp_path / "model"
    result = runner.invoke(gaae, ["export", run, str(out)])
    assert result.exit_code == 0, result.output
    assert "classifier/model.safetensors" in json.loads(result.output)["files"]
    again = runner.invoke(gaae, ["export", run, str(out)])
    assert again.exit_code == 2 and again.output.startswith("Error: ") and "--overwrite" in again.output
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "a.wav", clip, 16000, subtype="FLOAT")
    sf.write(audio / "b.wav", clip[:10000], 22050, subtype="FLOAT")
    csv_path = tmp_path / "pred.csv"
    result = runner.invoke(
        gaae, ["predict", str(audio), "--model", str(out), "--out", str(csv_path), "--per-window", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["files"] == 2 and sum(summary["labels"].values()) == 2
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "file,window,offset_seconds,label,p_guitar,p_string,p_mallet"
    assert len(lines) == 1 + (1 + 2) + (1 + 1)  # a.wav: pooled + 2 windows; b.wav: pooled + 1
    json_path = tmp_path / "pred.json"
    result = runner.invoke(gaae, ["predict", str(audio), "--model", run, "--out", str(json_path), "--quiet"])
    assert result.exit_code == 0, result.output
    document = json.loads(json_path.read_text())
    assert [os.path.basename(f["file"]) for f in document["files"]] == ["a.wav", "b.wav"]
    assert abs(sum(document["files"][0]["probabilities"].values()) - 1) < 1e-5
    features = runner.invoke(
        gaae, ["features", str(audio), "--model", run, "--out", str(tmp_path / "f.npz"), "--quiet"]
    )
    assert features.exit_code == 0, features.output
    assert np.load(tmp_path / "f.npz")["z"].shape == (3, 16)
    bad = runner.invoke(gaae, ["predict", str(audio), "--model", run, "--out", str(tmp_path / "p.txt")])
    assert (
        bad.exit_code == 2
        and bad.output.strip()
        == f"Error: --out {str(tmp_path / 'p.txt')!r} must end in .csv or .json (the output format)"
    )
