"""Batch embedding: encode_batch (speechbrain's shape), lists and (B, T) batches in embed."""

import numpy as np
import pytest
import soundfile as sf
import torch

from audiospec import DatasetStats, SpectrogramConfig
from gaae_models import Encoder, StyleEncoder
from gaae_models.config import model_config
from gaae_models.errors import ConfigError

TINY = {"ch": 1, "z_dim": 8, "s_dim": 6, "attention": False}
STATS = DatasetStats(mean=-4.5, std=2.4, r=1.9, upper=3.4)
SR = 16000


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    cfg = model_config("small", **TINY)
    return Encoder(cfg, audio_config=SpectrogramConfig(), stats=STATS, label_names=["a", "b"]).eval()


def noise(rng, *shape):
    return (0.2 * rng.standard_normal(shape)).astype(np.float32)


def test_encode_batch_equals_embed_row_by_row(encoder, rng):
    """Row b, cut to wav_lens[b] * T, pools to embed(row).z_mean ++ s_mean; torch in, torch out."""
    wavs = noise(rng, 3, 40000)
    lens = [1.0, 0.5, 0.2]
    out = encoder.encode_batch(torch.from_numpy(wavs), torch.tensor(lens))
    assert isinstance(out, torch.Tensor) and out.shape == (3, 14) and out.dtype == torch.float32
    assert out.device == next(encoder.parameters()).device
    for b, rel in enumerate(lens):
        e = encoder.embed(wavs[b, : round(rel * 40000)], SR)
        np.testing.assert_allclose(out[b].numpy(), np.concatenate([e.z_mean, e.s_mean]), rtol=1e-5, atol=1e-6)
    as_numpy = encoder.encode_batch(wavs, np.array(lens), which="s")
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (3, 6)
    np.testing.assert_allclose(as_numpy, out[:, 8:].numpy(), rtol=1e-5, atol=1e-6)


def test_encode_batch_resamples_and_hops(encoder, rng):
    wavs = noise(rng, 2, 30000)
    out = encoder.encode_batch(wavs, sample_rate=22050, hop=0.5)
    for b in range(2):
        e = encoder.embed(wavs[b], 22050, hop=0.5)
        assert e.n_windows == 2
        np.testing.assert_allclose(out[b], np.concatenate([e.z_mean, e.s_mean]), rtol=1e-5, atol=1e-6)


def test_single_head_encode_batch(encoder, rng, tmp_path):
    encoder.save_pretrained(tmp_path / "enc")
    style = StyleEncoder.from_pretrained(tmp_path / "enc")
    wavs = noise(rng, 2, 17000)
    np.testing.assert_allclose(
        style.encode_batch(wavs), encoder.encode_batch(wavs, which="s"), rtol=1e-5, atol=1e-6
    )


def test_embed_takes_a_batch_or_a_list(encoder, rng, tmp_path):
    """Issue 13: a (B, T) batch is B clips, not channels; lists may mix lengths, files and tensors."""
    y = noise(rng, 64000)
    batch = encoder.embed(torch.stack([torch.from_numpy(y), torch.from_numpy(y[::-1].copy())]), SR)
    assert isinstance(batch, list) and len(batch) == 2
    one = encoder.embed(y, SR)
    np.testing.assert_allclose(batch[0].z, one.z, rtol=1e-5, atol=1e-6)
    assert batch[0].n_windows == 4 and not np.allclose(batch[0].z, batch[1].z)
    path = tmp_path / "clip.wav"
    sf.write(path, y[:20000], SR, subtype="FLOAT")
    mixed = encoder.embed([y, str(path)], SR)
    assert [e.n_windows for e in mixed] == [4, 2]
    np.testing.assert_allclose(mixed[1].s, encoder.embed(str(path)).s, rtol=1e-5, atol=1e-6)


def test_bad_batches_name_the_argument(encoder, rng):
    with pytest.raises(ConfigError, match=r"looks like \(samples, channels\); average the channels"):
        encoder.embed(noise(rng, 64000, 2), SR)
    with pytest.raises(ConfigError, match=r"wavs has shape \(5,\); expected \(batch, samples\)"):
        encoder.encode_batch(noise(rng, 5))
    with pytest.raises(ConfigError, match=r"wav_lens=\[0.5, 1.5\] must hold 2 relative lengths in \(0, 1\]"):
        encoder.encode_batch(noise(rng, 2, 100), [0.5, 1.5])
    with pytest.raises(ConfigError, match=r"wavs is a list of waveforms of different lengths"):
        encoder.encode_batch([noise(rng, 10), noise(rng, 12)])
    with pytest.raises(ConfigError, match=r"sample_rate=0 must be a positive integer"):
        encoder.encode_batch(noise(rng, 1, 100), sample_rate=0)


def test_the_inference_plan_is_reused_until_a_weight_changes(rng):
    """Repeated calls reuse the fused plan (no rebuild per call); an in-place weight change (an
    optimiser step, load_state_dict) is seen at the next call, which then equals a fresh model."""
    from gaae_models.models.fused import build_inference_plan

    torch.manual_seed(1)
    enc = Encoder(model_config("small", **TINY), audio_config=SpectrogramConfig(), stats=STATS).eval()
    cpu = torch.device("cpu")
    plan = build_inference_plan(enc, ("z", "s"), cpu, True)
    assert build_inference_plan(enc, ("z", "s"), cpu, True) is plan
    assert build_inference_plan(enc, ("z",), cpu, True) is not plan  # another head set
    wavs = noise(rng, 2, 16384)
    before = enc.encode_batch(wavs)
    np.testing.assert_array_equal(enc.encode_batch(wavs), before)
    with torch.no_grad():
        enc.head_z.bias.add_(1.0)  # (a spectrally normalised weight would ignore a scaling)
    after = enc.encode_batch(wavs)
    assert not np.allclose(after[:, :8], before[:, :8])
    fresh = Encoder(enc.config, audio_config=SpectrogramConfig(), stats=STATS).eval()
    fresh.load_state_dict(enc.state_dict())
    np.testing.assert_allclose(fresh.encode_batch(wavs), after, rtol=1e-5, atol=1e-6)
