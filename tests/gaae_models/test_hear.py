"""The HEAR 2021 API (gaae_models.hear): the official validator's checks, timestamps, any clip length."""

import base64
import hashlib
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from audiospec import DatasetStats, SpectrogramConfig
from gaae_models import Encoder, GuidedEncoder, hear
from gaae_models.config import model_config
from gaae_models.errors import ConfigError

TINY = {"ch": 1, "z_dim": 8, "s_dim": 6, "attention": False}
STATS = DatasetStats(mean=-4.5, std=2.4, r=1.9, upper=3.4)
VENDOR = Path(__file__).parent / "vendor" / "hearvalidator"
# sha256 of hearvalidator/validate.py in the RECORD of hearvalidator-2021.0.2-py3-none-any.whl (PyPI)
VALIDATE_SHA256 = "pUcUQVq-a7PK4pLGW8Pquh43UFUhWr-3870R9DT8k3Q"


def make_encoder(seed=0, cls=Encoder):
    torch.manual_seed(seed)
    cfg = model_config("small", **TINY)
    return cls(cfg, audio_config=SpectrogramConfig(), stats=STATS, label_names=["a", "b"]).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hear") / "encoder"
    make_encoder().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def model(saved):
    return hear.load_model(saved)


def _validator(monkeypatch):
    """The official hearvalidator module, run with a stand-in for its TensorFlow import."""
    source = (VENDOR / "validate.py").read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(source).digest()).rstrip(b"=").decode()
    assert digest == VALIDATE_SHA256, "the vendored validator is not the published one"
    tf = types.ModuleType("tensorflow")
    tf.Module = type("Module", (), {})
    monkeypatch.setitem(sys.modules, "tensorflow", tf)
    spec = importlib.util.spec_from_file_location("hearvalidator_validate", VENDOR / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_official_validator_passes(saved, monkeypatch, capsys):
    validate = _validator(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the validator warns when timestamps are more than 50 ms apart
        validate.ValidateModel("gaae_models.hear", saved, device="cpu")()
    out = capsys.readouterr().out
    assert "Checking get_scene_embeddings" in out and "Interval between timestamps is 50.0ms" in out


def test_the_validator_rejects_what_it_should(saved, monkeypatch):
    """The stand-in does not make the validator lenient: a wrong embedding size fails it."""
    validate = _validator(monkeypatch)
    original = hear.load_model

    def liar(path):
        m = original(path)
        m.timestamp_embedding_size += 1
        return m

    monkeypatch.setattr(hear, "load_model", liar)
    with pytest.raises(validate.ModelError, match="Output embedding size is 14"):
        validate.ValidateModel("gaae_models.hear", saved, device="cpu")()


def test_model_attributes(model):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 16000 and model.hop_samples == 800
    assert model.timestamp_embedding_size == model.scene_embedding_size == 8 + 6


@pytest.mark.parametrize("n", [0, 1, 799, 800, 8000, 20000, 40001])
def test_timestamps_cover_any_length(model, n, rng):
    audio = torch.from_numpy(rng.uniform(-1, 1, (2, n)).astype(np.float32))
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    k = 1 + n // 800
    assert emb.shape == (2, k, 14) and emb.dtype == torch.float32 and torch.all(torch.isfinite(emb))
    assert ts.shape == (2, k) and ts.dtype == torch.float32
    assert torch.equal(ts[0], torch.arange(k, dtype=torch.float32) * 50)
    assert torch.equal(ts[0], ts[1])
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.shape == (2, 14) and scene.dtype == torch.float32


def test_a_timestamp_embeds_the_window_centred_on_it(saved, rng):
    """Timestamp t is the encoder on the 1.024 s around t (zeros outside the clip), z then s."""
    enc = Encoder.from_pretrained(saved)
    model = hear.HearModel(enc, hop_ms=250, fused=False)
    y = (0.3 * rng.standard_normal(30000)).astype(np.float32)
    emb, ts = hear.get_timestamp_embeddings(torch.from_numpy(y)[None], model)
    assert model.hop_samples == 4000 and ts[0, 3].item() == 750.0
    for k in (0, 3, 7):
        centre = k * 4000
        window = np.zeros(16384, np.float32)
        lo = centre - 8192
        src = y[max(lo, 0) : min(lo + 16384, y.size)]
        window[max(-lo, 0) : max(-lo, 0) + src.size] = src
        direct = enc.embed(window, 16000, fused=False)
        expected = np.concatenate([direct.z[0], direct.s[0]])
        np.testing.assert_allclose(emb[0, k].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_scene_is_the_mean_of_the_timestamps(saved, rng):
    model = hear.load_model(saved, hop_ms=100, scene_hop_ms=100)
    audio = torch.from_numpy((0.2 * rng.standard_normal((3, 12000))).astype(np.float32))
    emb, _ = hear.get_timestamp_embeddings(audio, model)
    scene = hear.get_scene_embeddings(audio, model)
    torch.testing.assert_close(scene, emb.mean(dim=1), rtol=1e-5, atol=1e-6)
    # rows are independent: the same clip gives the same embedding whatever its neighbours
    alone = hear.get_scene_embeddings(audio[1:2], model)
    torch.testing.assert_close(alone[0], scene[1], rtol=1e-5, atol=1e-6)


def test_which_and_single_head_encoders(saved, rng):
    audio = torch.from_numpy((0.2 * rng.standard_normal((1, 9000))).astype(np.float32))
    both, _ = hear.get_timestamp_embeddings(audio, hear.load_model(saved))
    z_only = hear.load_model(saved, which="z")
    assert z_only.timestamp_embedding_size == 8
    emb, _ = hear.get_timestamp_embeddings(audio, z_only)
    torch.testing.assert_close(emb, both[..., :8], rtol=1e-5, atol=1e-6)
    guided = hear.HearModel(GuidedEncoder.from_pretrained(saved))
    assert guided.scene_embedding_size == 8


def test_moves_with_the_model_and_keeps_the_audio_device(saved, rng):
    model = hear.load_model(saved)
    model.to("cpu")
    audio = torch.from_numpy((0.2 * rng.standard_normal((1, 4000))).astype(np.float32))
    emb, ts = model(audio)
    assert emb.device == audio.device == ts.device


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hop_ms": 0}, r"hop_ms=0 must be a positive number of milliseconds"),
        ({"scene_hop_ms": float("nan")}, r"scene_hop_ms=nan must be a positive"),
        ({"hop_ms": 0.01}, r"hop_ms=0.01 ms is shorter than one sample at 16000 Hz"),
        ({"which": "w"}, r"which=\['w'\] must name at least one of the latents"),
    ],
)
def test_bad_options_name_the_argument(saved, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        hear.load_model(saved, **kwargs)


def test_bad_inputs_name_the_argument(model):
    with pytest.raises(ConfigError, match=r"no default model; pass a Hub id"):
        hear.load_model()
    with pytest.raises(ConfigError, match=r"audio has shape \(4000,\); expected \(batch, samples\)"):
        hear.get_scene_embeddings(torch.zeros(4000), model)
    with pytest.raises(ConfigError, match=r"audio has dtype int16"):
        hear.get_scene_embeddings(torch.zeros((1, 4000), dtype=torch.int16), model)
    with pytest.raises(ConfigError, match=r"model=Encoder must be the HearModel"):
        hear.get_scene_embeddings(torch.zeros((1, 4000)), make_encoder())
