"""Pretrained encoders on the Hub (issue 6), against the loopback Hub of hub_server.py: no network.

The real huggingface_hub client talks HTTP to 127.0.0.1; only its endpoint, cache and offline
constants are pointed at the test server and temporary folders.
"""

import dataclasses
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import constants
from safetensors.torch import save_file

from audiospec.cache import open_cache
from audiospec.preprocessor import Preprocessor
from gaae_models import Encoder, GuidedEncoder, StyleEncoder
from gaae_models.config import model_config
from gaae_models.errors import CheckpointError, ConfigError, HubError
from gaae_models.hub import (
    PretrainedDecoder,
    decoder_from_run,
    encoder_from_run,
    export_run,
    load_encoder,
    push_run,
)
from gaae_models.pretrained import classifier_from_run
from gaae_models.train_config import TrainConfig
from tests.gaae_models.helpers import fit_one_thread
from tests.gaae_models.hub_server import HubServer, point_client_at

TINY = {"ch": 1, "z_dim": 16, "s_dim": 12, "attention": False}
SECRET = "hf_TestSecretToken0123456789"


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    """A GAAE run of the "small" preset (tiny widths) trained for 2 steps."""
    out = str(tmp_path_factory.mktemp("hub") / "run")
    train = TrainConfig(
        steps=2, batch_size=2, labelled_batch_size=2, labelled_fraction=0.5, seed=3, n_sample_wavs=0
    )
    return fit_one_thread(
        tiny_data["train"], out, model_config=model_config("small", **TINY), train=train, device="cpu"
    )


@pytest.fixture
def clip(rng):
    t = np.arange(37000) / 22050
    return (0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def card_metadata(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def test_save_pretrained_round_trip(tiny_data, tmp_path, clip):
    cache = open_cache(tiny_data["train"])
    torch.manual_seed(0)
    enc = Encoder(
        model_config("small", **TINY, n_classes=3),
        audio_config=cache.config,
        stats=cache.stats,
        label_names=cache.label_names,
    ).eval()
    folder = tmp_path / "enc"
    enc.save_pretrained(folder)
    assert sorted(os.listdir(folder)) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert Preprocessor.from_pretrained(folder) == enc.preprocessor
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "Encoder" and config["config"] == enc.config.to_dict()
    assert config["audio_config"] == cache.config.to_dict() and config["label_names"] == cache.label_names
    assert config["stats"]["mean"] == cache.stats.mean and "partial" not in config["stats"]
    meta = card_metadata((folder / "README.md").read_text())
    assert meta["library_name"] == "gaae-audio" and meta["pipeline_tag"] == "feature-extraction"
    assert {"audio", "pytorch_model_hub_mixin"} <= set(meta["tags"])
    loaded = Encoder.from_pretrained(folder)
    assert (
        not loaded.training and loaded.stats == enc.stats and loaded.label_names == tuple(cache.label_names)
    )
    for key, value in enc.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    a, b = enc.embed(clip, 22050), loaded.embed(clip, 22050)
    assert np.array_equal(a.z, b.z) and np.array_equal(a.s, b.s)
    # E_z and E_s load from the same files and give the same vectors
    assert np.array_equal(GuidedEncoder.from_pretrained(folder).embed(clip, 22050).z, a.z)
    assert np.array_equal(StyleEncoder.from_pretrained(folder).embed(clip, 22050).s, a.s)
    enc.guided_encoder().save_pretrained(tmp_path / "ez")
    with pytest.raises(
        HubError, match=r"holds a 'GuidedEncoder'; Encoder.from_pretrained loads \['Encoder'\]"
    ):
        Encoder.from_pretrained(tmp_path / "ez")
    assert isinstance(load_encoder(tmp_path / "ez"), GuidedEncoder)


def test_save_pretrained_needs_the_transform(tmp_path):
    with pytest.raises(HubError, match="has no audio_config and no stats"):
        Encoder(model_config("small", **TINY)).save_pretrained(tmp_path / "bare")
    assert os.listdir(tmp_path) == []  # nothing left behind, not even a temporary folder


def test_push_download_embed_and_offline(tiny_run, hub, monkeypatch, clip):
    result = push_run(tiny_run, "alice/gaae-tiny")
    assert result["files"] == [
        "README.md",
        "classifier/config.json",
        "classifier/model.safetensors",
        "classifier/preprocessor_config.json",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert result["commit"] == hub.repos["alice/gaae-tiny"].branches["main"]
    local = encoder_from_run(tiny_run)
    remote = Encoder.from_pretrained("alice/gaae-tiny")  # into the fresh cache of this test
    assert os.path.isdir(os.path.join(constants.HF_HUB_CACHE, "models--alice--gaae-tiny", "snapshots"))
    a, b = local.embed(clip, 22050, hop=0.5), remote.embed(clip, 22050, hop=0.5)
    assert a.n_windows == 3
    assert np.array_equal(a.z, b.z) and np.array_equal(a.s, b.s) and np.array_equal(a.z_mean, b.z_mean)
    assert remote.label_names == ("guitar", "string", "mallet")
    # offline: everything from the cache, no HTTP request at all
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    seen = len(hub.requests)
    offline = Encoder.from_pretrained("alice/gaae-tiny")
    guided = GuidedEncoder.from_pretrained("alice/gaae-tiny")
    assert len(hub.requests) == seen
    assert np.array_equal(offline.embed(clip, 22050, hop=0.5).s, a.s)
    assert np.array_equal(guided.embed(clip, 22050, hop=0.5).z, a.z)
    with pytest.raises(HubError, match=r"not in the local cache .* offline mode is on"):
        Encoder.from_pretrained("alice/never-downloaded")
    # issue 13: the classifier C is published with the encoder and runs from the Hub
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    from gaae_models.pretrained import AudioClassifier

    classifier = AudioClassifier.from_pretrained("alice/gaae-tiny")
    assert classifier.label_names == ("guitar", "string", "mallet")
    assert classifier.predict(clip, 22050).probabilities.shape == (3,)


def test_decoder_and_revision_branch(tiny_run, hub):
    push_run(tiny_run, "alice/with-decoder", with_decoder=True, revision="v1")
    files = hub.files("alice/with-decoder", "v1")
    assert {"decoder/config.json", "decoder/model.safetensors", "model.safetensors"} <= set(files)
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    assert sorted(hub.files("alice/with-decoder", "main")) == [".gitattributes"]
    with pytest.raises(HubError, match="holds no model.safetensors"):
        Encoder.from_pretrained("alice/with-decoder")  # main has no model
    remote = PretrainedDecoder.from_pretrained("alice/with-decoder", revision="v1", subfolder="decoder")
    local = decoder_from_run(tiny_run)
    s = torch.randn(3, 12, generator=torch.Generator().manual_seed(0))
    y = torch.eye(3)
    with torch.no_grad():
        assert torch.equal(remote(s, y), local(s, y))
    assert remote.conditional and remote.label_names == ("guitar", "string", "mallet")
    assert isinstance(load_encoder("alice/with-decoder", revision="v1"), Encoder)
    with pytest.raises(HubError, match=r"revision 'nope' does not exist"):
        Encoder.from_pretrained("alice/with-decoder", revision="nope")


def test_private_repo_token_never_leaks(tiny_run, tmp_path, monkeypatch):
    with HubServer(required_token=SECRET) as server:
        point_client_at(monkeypatch, tmp_path, server.url)
        result = push_run(tiny_run, "bob/private", private=True, token=SECRET)
        assert server.repos["bob/private"].private and set(server.tokens) == {SECRET}
        for content in server.files("bob/private").values():
            assert SECRET.encode() not in content
        assert SECRET not in json.dumps(result)
        with pytest.raises(HubError, match=r"HTTP 401.*needs a token") as missing:
            Encoder.from_pretrained("bob/private")  # no token: the server answers 401
        assert SECRET not in str(missing.value)
        assert Encoder.from_pretrained("bob/private", token=SECRET).label_names is not None
        wrong = "hf_WrongToken999"
        with pytest.raises(HubError, match=r"HTTP 401.*check the token") as refused:
            push_run(tiny_run, "bob/private", token=wrong)
        assert wrong not in str(refused.value) and SECRET not in str(refused.value)
        monkeypatch.setenv("HF_TOKEN", SECRET)  # the usual place
        push_run(tiny_run, "bob/private", revision="env")
        assert set(server.tokens) == {SECRET, wrong}


def test_config_without_transform_is_a_clear_error(tiny_run, hub, tmp_path):
    folder = export_run(tiny_run, tmp_path / "export")
    original = json.loads((tmp_path / "export" / "config.json").read_text())
    no_transform = {k: v for k, v in original.items() if k != "audio_config"}
    (tmp_path / "export" / "config.json").write_text(json.dumps(no_transform))
    Encoder.from_pretrained(folder)  # preprocessor_config.json gives the transform
    os.remove(tmp_path / "export" / "preprocessor_config.json")  # a folder written before it existed
    with pytest.raises(HubError, match=r"config.json lacks the key 'audio_config' \(the audiospec transform"):
        Encoder.from_pretrained(folder)
    weights = (tmp_path / "export" / "model.safetensors").read_bytes()
    no_stats = json.dumps({k: v for k, v in original.items() if k != "stats"}).encode()
    hub.put_files("carol/no-stats", {"config.json": no_stats, "model.safetensors": weights})
    with pytest.raises(HubError, match=r"'carol/no-stats'.*lacks the key 'stats'"):
        Encoder.from_pretrained("carol/no-stats")


class _Trap:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_weights_are_never_loaded(hub, tmp_path):
    marker = str(tmp_path / "UNPICKLED")
    trap = pickle.dumps(_Trap(marker))
    config = json.dumps(
        {"architecture": "Encoder", "config": model_config("small", **TINY).to_dict()}
    ).encode()
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(trap)
    (folder / "config.json").write_bytes(config)
    with pytest.raises(HubError, match=r"only pickled weights \['pytorch_model.bin'\].*never unpickles"):
        Encoder.from_pretrained(folder)
    hub.put_files("mallory/pickled", {"pytorch_model.bin": trap, "config.json": config})
    with pytest.raises(HubError, match=r"'mallory/pickled' holds no model.safetensors, only pickled weights"):
        Encoder.from_pretrained("mallory/pickled")
    with pytest.raises(HubError, match="safetensors weights only"):
        Encoder._load_as_pickle(None, str(folder / "pytorch_model.bin"), "cpu", True)
    assert not os.path.exists(marker)
    assert ("GET", "/mallory/pickled/resolve/main/pytorch_model.bin") not in hub.requests


def test_bad_names_and_missing_repositories(hub, tmp_path):
    with pytest.raises(HubError, match=r"model='a//b' is neither an existing folder nor a Hub repository id"):
        Encoder.from_pretrained("a//b")
    with pytest.raises(HubError, match=r"'nobody/nothing' was not found on http://127.0.0.1"):
        Encoder.from_pretrained("nobody/nothing")
    bad = tmp_path / "model.safetensors"
    save_file({"x": torch.zeros(1)}, str(bad))
    with pytest.raises(HubError, match="is a file; pass the folder"):
        Encoder.from_pretrained(bad)
    with pytest.raises(ConfigError, match=r"repo_id='no-owner' must be OWNER/NAME"):
        push_run(tmp_path, "no-owner")


def test_push_refuses_other_model_kinds(tiny_run, tmp_path):
    run = tmp_path / "cnn_run"
    shutil.copytree(tiny_run, run)
    record = json.loads((run / "config.json").read_text())
    record["model_kind"] = "cnn"
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"model_kind='cnn'; only 'gaae' runs"):
        export_run(run, tmp_path / "out")
    with pytest.raises(CheckpointError, match=r"model_kind='cnn'; only 'gaae' runs"):
        classifier_from_run(run)
    with pytest.raises(CheckpointError, match="does not exist"):
        encoder_from_run(tmp_path / "missing")


def test_model_card_with_and_without_report(tiny_run, tmp_path):
    plain = export_run(tiny_run, tmp_path / "plain", repo_id="alice/card")
    readme = open(os.path.join(plain, "README.md")).read()
    meta = card_metadata(readme)
    assert meta["library_name"] == "gaae-audio" and meta["pipeline_tag"] == "feature-extraction"
    assert meta["license"] == "mit" and {"audio", "feature-extraction", "gaae"} <= set(meta["tags"])
    assert "no evaluation report" in readme and "labelled fraction 0.500" in readme
    assert 'Encoder.from_pretrained("alice/card")' in readme and "`guitar`, `string`, `mallet`" in readme
    assert "Weights of E and C: their exponential moving average over training (decay 0.99)" in readme
    report = tmp_path / "report"
    report.mkdir()
    entries = [
        {"run_dir": "/elsewhere/run", "name": "other", "model_kind": "gaae", "accuracy": 0.1},
        {
            "run_dir": os.path.abspath(tiny_run),
            "name": "tiny",
            "model_kind": "gaae",
            "labelled_fraction": 0.5,
            "accuracy": 0.734,
            "inception_score": {"mean": 2.3456, "std": 0.1},
            "fid": {"mean": 12.345, "std": 0.5},
        },
    ]
    (report / "results.json").write_text(json.dumps({"runs": entries}))
    rich = export_run(
        tiny_run, tmp_path / "rich", report_dir=report, datasets=["google/nsynth"], license_id="cc-by-4.0"
    )
    readme = open(os.path.join(rich, "README.md")).read()
    assert "| classifier accuracy (test) | 0.734 |" in readme and "| FID | 12.35 ± 0.50 |" in readme
    assert "| Inception score | 2.35 ± 0.10 |" in readme and "no evaluation report" not in readme
    meta = card_metadata(readme)
    assert meta["datasets"] == ["google/nsynth"] and meta["license"] == "cc-by-4.0"
    # machine-readable results (the Hub's model-index), read back by huggingface_hub itself
    from huggingface_hub import ModelCard

    results = {r.metric_type: r for r in ModelCard(readme).data.eval_results}
    assert results["accuracy"].metric_value == pytest.approx(0.734)
    assert results["accuracy"].task_type == "audio-classification" and results["fid"].metric_value == 12.345
    assert results["inception_score"].metric_value == pytest.approx(2.3456)
    (report / "results.json").write_text(json.dumps({"runs": entries[:1]}))
    with pytest.raises(ConfigError, match="has no entry for the run"):
        export_run(tiny_run, tmp_path / "again", report_dir=report)
    with pytest.raises(ConfigError, match="exists and is not empty"):
        export_run(tiny_run, tmp_path / "plain")


def test_mixin_push_to_hub(hub, tiny_data, clip):
    """huggingface_hub's own push_to_hub path writes the same self-describing files."""
    cache = open_cache(tiny_data["train"])
    torch.manual_seed(1)
    enc = Encoder(model_config("small", **TINY), audio_config=cache.config, stats=cache.stats).eval()
    enc.push_to_hub("erin/mixin")
    assert {"config.json", "model.safetensors", "README.md"} <= set(hub.files("erin/mixin"))
    loaded = StyleEncoder.from_pretrained("erin/mixin")
    assert np.array_equal(loaded.embed(clip, 22050).s, enc.embed(clip, 22050).s)


def test_preprocessor_config_is_read_when_present(tiny_data, tmp_path, clip):
    """preprocessor_config.json gives the transform and statistics; folders written before it existed
    (config.json only) load as they did."""
    cache = open_cache(tiny_data["train"])
    enc = Encoder(model_config("small", **TINY), audio_config=cache.config, stats=cache.stats).eval()
    folder = tmp_path / "enc"
    enc.save_pretrained(folder)
    pre = Preprocessor.from_pretrained(folder)
    np.testing.assert_array_equal(pre(clip, 22050), enc.spectrograms(clip, 22050)[0][:, None])
    shifted = Preprocessor(
        config=cache.config, stats=dataclasses.replace(cache.stats, mean=cache.stats.mean + 1)
    )
    shifted.save_pretrained(folder)
    assert Encoder.from_pretrained(folder).stats.mean == cache.stats.mean + 1
    os.remove(folder / "preprocessor_config.json")  # an old folder
    old = Encoder.from_pretrained(folder)
    assert old.stats == enc.stats and old.preprocessor == enc.preprocessor
    (folder / "preprocessor_config.json").write_text('{"preprocessor_type": "other"}')
    with pytest.raises(HubError, match="preprocessor_config.json is not valid: preprocessor_type='other'"):
        Encoder.from_pretrained(folder)
