"""Features from raw audio (gaae_models.features): the cache's preprocessing exactly, windows, batching."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from audiospec import DatasetStats, SpectrogramConfig
from audiospec.cache import build_cache, open_cache
from audiospec.readers import DatasetListing, Item
from gaae_models import Encoder, GuidedEncoder, StyleEncoder
from gaae_models.config import model_config
from gaae_models.errors import ConfigError, HubError
from gaae_models.features import (
    extract_features,
    list_audio_files,
    save_features,
    window_starts,
)

TINY = {"ch": 1, "z_dim": 8, "s_dim": 6, "attention": False}
STATS = DatasetStats(mean=-4.5, std=2.4, r=1.9, upper=3.4)
SR = 16000


def make_encoder(seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = model_config("small", **{**TINY, **overrides})
    return Encoder(cfg, audio_config=SpectrogramConfig(), stats=STATS, label_names=["a", "b"]).eval()


def signal(rng, n, sr=SR):
    t = np.arange(n) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (tone + 0.05 * rng.standard_normal(n)).astype(np.float32)


def write(path, y, sr=SR):
    sf.write(str(path), y, sr, subtype="FLOAT")
    return str(path)


@pytest.mark.parametrize(
    ("n", "hop", "expected"),
    [
        (1, 16384, [0]),
        (16384, 16384, [0]),
        (16385, 16384, [0, 16384]),
        (40000, 16384, [0, 16384, 32768]),
        (20480, 2048, [0, 2048, 4096]),
    ],
)
def test_window_starts(n, hop, expected):
    assert window_starts(n, window=16384, hop=hop).tolist() == expected


def test_embedded_windows_equal_the_cache_exactly(tmp_path, rng):
    """Issue 6: a window embedded from audio is the encoder applied to the cache's crop."""
    y = signal(rng, 20480)  # the "center" crop of 16384 then starts at 2048 = one 0.128 s hop
    write(tmp_path / "clip.wav", y)
    listing = DatasetListing(
        reader="folder",
        root=str(tmp_path),
        items=[Item("clip.wav", -1, "train", crop="start"), Item("clip.wav", -1, "train", "center", 1)],
        label_names=[],
    )
    cache_path = str(tmp_path / "clip.zarr")
    build_cache(listing, cache_path, workers=1, progress=False)
    cache = open_cache(cache_path)
    assert cache.offsets.tolist() == [0, 2048]
    torch.manual_seed(0)
    enc = Encoder(model_config("small", **TINY), audio_config=cache.config, stats=cache.stats).eval()
    specs, offsets = enc.spectrograms(str(tmp_path / "clip.wav"), hop=0.128)
    assert offsets.tolist() == [0.0, 0.128, 0.256]
    # bit for bit up to the cache's storage (float16 since cache format 2)
    stored = specs[:2].astype(cache.storage_dtype).astype(np.float32)
    assert np.array_equal(stored[0], cache[0]) and np.array_equal(stored[1], cache[1])
    assert np.abs(specs[:2] - stored).max() <= 2.0**-11  # float16's rounding of values in [-1, 1]
    emb = enc.embed(str(tmp_path / "clip.wav"), hop=0.128, batch_size=1, fused=False, workers=1)
    fused = enc.embed(str(tmp_path / "clip.wav"), hop=0.128)
    assert emb.z.shape == (3, 8) and emb.s.shape == (3, 6)
    for i in (0, 1):
        with torch.no_grad():
            z, s = enc(torch.from_numpy(specs[i])[None, None])
        assert torch.equal(torch.from_numpy(emb.z[i]), z[0]) and torch.equal(torch.from_numpy(emb.s[i]), s[0])
        np.testing.assert_allclose(fused.z[i], z[0].numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fused.s[i], s[0].numpy(), rtol=1e-4, atol=1e-5)


def test_resampling_follows_the_cache(tmp_path, rng):
    """44.1 kHz audio: resampled like load_clip does (equal to float rounding), arrays like paths."""
    y = signal(rng, 44100, sr=44100)
    path = write(tmp_path / "clip44.wav", y, sr=44100)
    listing = DatasetListing("folder", str(tmp_path), [Item("clip44.wav", -1, "train")], [])
    build_cache(listing, str(tmp_path / "c.zarr"), workers=1, progress=False)
    cache = open_cache(str(tmp_path / "c.zarr"))
    enc = make_encoder()
    enc.stats = cache.stats
    specs, _ = enc.spectrograms(path)
    np.testing.assert_allclose(specs[0], cache[0], atol=2e-4 + 2.0**-11)  # + float16 storage
    from_path, from_array = enc.embed(path), enc.embed(sf.read(path, dtype="float32")[0], 44100)
    assert from_path.duration == pytest.approx(1.0) and from_path.n_windows == 1
    assert np.array_equal(from_path.z, from_array.z)


def test_short_and_long_clips_are_zero_padded(rng):
    enc = make_encoder()
    short = signal(rng, 16000)
    padded = np.concatenate([short, np.zeros(384, np.float32)])
    a, b = enc.embed(short, SR), enc.embed(padded, SR)
    assert a.n_windows == 1 and a.duration == 1.0 and np.array_equal(a.z, b.z)
    long = signal(rng, 40000)
    e = enc.embed(long, SR)
    assert e.offsets.tolist() == [0.0, 1.024, 2.048] and e.z.shape == (3, 8)
    tail = enc.embed(np.concatenate([long[32768:], np.zeros(16384 - 7232, np.float32)]), SR)
    np.testing.assert_allclose(e.z[2], tail.z[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e.z_mean, e.z.mean(axis=0), rtol=1e-6, atol=1e-7)
    assert e.s_mean.shape == (6,) and e.z_mean.dtype == np.float32


def test_batches_give_the_same_vectors(rng):
    enc = make_encoder()
    y = signal(rng, 16384 * 5)
    one, many = enc.embed(y, SR, batch_size=1), enc.embed(y, SR, batch_size=64)
    np.testing.assert_allclose(one.z, many.z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one.s, many.s, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one.z[0], one.z[1])  # the windows differ


def test_fused_form_equals_the_module_with_attention(rng):
    enc = make_encoder(attention=True, encoder_sn=True)
    enc.trunk.attention.gamma.data.fill_(0.7)  # make the non-local block matter
    y = signal(rng, 30000)
    exact, fused = enc.embed(y, SR, fused=False), enc.embed(y, SR)
    np.testing.assert_allclose(fused.z, exact.z, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fused.s, exact.s, rtol=1e-4, atol=1e-5)


def test_bfloat16_is_close(rng):
    enc = make_encoder()
    y = signal(rng, 16384)
    full, half = enc.embed(y, SR), enc.embed(y, SR, precision="bfloat16")
    assert half.z.dtype == np.float32
    scale = np.abs(full.z).max()
    assert np.abs(half.z - full.z).max() < 0.05 * scale


def test_embedding_leaves_the_model_untouched(rng):
    enc = make_encoder()
    x = torch.randn(2, 1, 256, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = enc(x)
    enc.train()
    enc.embed(signal(rng, 16384), SR)
    enc.embed(signal(rng, 16384), SR, fused=False)
    assert enc.training
    with torch.no_grad():
        after = enc.eval()(x)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_which_and_single_head_encoders(rng):
    enc = make_encoder()
    y = signal(rng, 20000)
    both = enc.embed(y, SR)
    only_s = enc.embed(y, SR, which="s")
    assert only_s.z is None and np.array_equal(only_s.s, both.s)
    guided, style = enc.guided_encoder(), enc.style_encoder()
    assert isinstance(guided, GuidedEncoder) and isinstance(style, StyleEncoder)
    g = guided.embed(y, SR)
    assert g.s is None and np.array_equal(g.z, both.z)
    assert np.array_equal(style.embed(y, SR).s, both.s)
    with pytest.raises(ConfigError, match=r"which=\['s'\].*\['z'\]"):
        guided.embed(y, SR, which=["s"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hop": 0}, r"hop=0 must be a positive number of seconds"),
        ({"hop": -0.5}, r"hop=-0.5"),
        ({"hop": float("nan")}, r"hop=nan"),
        ({"hop": 1e-6}, r"shorter than one sample"),
        ({"batch_size": 0}, r"batch_size=0 must be a positive integer"),
        (
            {"precision": "fp16"},
            r"precision='fp16' is not supported; choose one of \['float32', 'bfloat16'\]",
        ),
        ({"which": ["q"]}, r"which=\['q'\]"),
        ({"device": "tpu:x"}, r"device='tpu:x' is not a torch device"),
    ],
)
def test_bad_options_name_the_argument(kwargs, match, rng):
    with pytest.raises(ConfigError, match=match):
        make_encoder().embed(signal(rng, 1000), SR, **kwargs)


def test_bad_audio_names_the_argument(tmp_path):
    enc = make_encoder()
    with pytest.raises(ConfigError, match=r"audio has shape \(3, 2, 100\); expected one mono waveform"):
        enc.embed(np.zeros((3, 2, 100), np.float32), SR)  # (2, 100) is a batch of 2 clips since issue 13
    with pytest.raises(ConfigError, match=r"audio has dtype int16"):
        enc.embed(np.zeros(100, np.int16), SR)
    with pytest.raises(ConfigError, match=r"sample_rate=None"):
        enc.embed(np.zeros(100, np.float32))
    with pytest.raises(ConfigError, match=r"sample_rate=0 must be a positive integer"):
        enc.embed(np.zeros(100, np.float32), 0)
    path = write(tmp_path / "x.wav", np.zeros(100, np.float32))
    with pytest.raises(ConfigError, match=r"sample_rate=8000 must be None when audio is a path"):
        enc.embed(path, 8000)
    bare = Encoder(model_config("small", **TINY))
    with pytest.raises(HubError, match="no audio_config"):
        bare.embed(np.zeros(100, np.float32), SR)


def test_extract_features_index_skips_and_npz(tmp_path, rng):
    enc = make_encoder()
    root = tmp_path / "audio"
    (root / "sub").mkdir(parents=True)
    lengths = {"b.wav": 16000, "sub/a.flac": 40000, "c.WAV": 20000}
    clips = {}
    for name, n in lengths.items():
        clips[name] = signal(rng, n)
        sf.write(str(root / name), clips[name], SR, subtype="PCM_24" if name.endswith("flac") else "FLOAT")
    (root / "notes.txt").write_text("not audio")
    (root / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    extra = write(tmp_path / "extra.wav", signal(rng, 17000))
    skipped = []
    result = extract_features(enc, [root, extra], batch_size=2, on_skip=lambda p, r: skipped.append((p, r)))
    expected_files = [str(root / n) for n in ("c.WAV", "sub/a.flac")] + [str(root / "b.wav"), extra]
    assert sorted(result.files) == sorted(expected_files)
    assert [p for p, _ in skipped] == [str(root / "broken.wav")] and result.skipped[0][0].endswith(
        "broken.wav"
    )
    assert "cannot read" in result.skipped[0][1]
    counts = {f: n for f, n in zip(result.files, result.n_windows.tolist(), strict=True)}
    assert counts[str(root / "sub/a.flac")] == 3 and counts[str(root / "b.wav")] == 1 and counts[extra] == 2
    assert result.latents["z"].shape == (int(result.n_windows.sum()), 8)
    assert np.array_equal(result.file_index, np.repeat(np.arange(4), result.n_windows))
    for k, path in enumerate(result.files):
        rows = result.file_index == k
        single = enc.embed(path)
        np.testing.assert_allclose(result.latents["z"][rows], single.z, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.offset_seconds[rows], single.offsets)
        np.testing.assert_allclose(result.pooled["s"][k], result.latents["s"][rows].mean(axis=0), rtol=1e-5)
    out = save_features(tmp_path / "feats.npz", result, metadata={"model": "local"})
    with np.load(out, allow_pickle=False) as npz:
        assert {
            "z",
            "s",
            "z_mean",
            "s_mean",
            "file_index",
            "offset_seconds",
            "files",
            "skipped_files",
        } <= set(npz)
        assert npz["files"].tolist() == list(result.files) and str(npz["model"]) == "local"
        assert npz["z_mean"].shape == (4, 8) and float(npz["hop_seconds"]) == pytest.approx(1.024)
    assert sorted(os.listdir(tmp_path)) == ["audio", "extra.wav", "feats.npz"]  # no temporary left


def test_list_audio_files(tmp_path):
    (tmp_path / "x" / ".hidden").mkdir(parents=True)
    for name in ("x/b.wav", "x/a.mp3", "x/.hidden/c.wav", "x/d.txt", "e.bin"):
        (tmp_path / name).write_bytes(b"")
    files = list_audio_files([tmp_path / "x", tmp_path / "e.bin", tmp_path / "x" / "b.wav"])
    assert files == [str(tmp_path / "x" / "a.mp3"), str(tmp_path / "x" / "b.wav"), str(tmp_path / "e.bin")]
    with pytest.raises(ConfigError, match="does not exist"):
        list_audio_files([tmp_path / "nope"])
