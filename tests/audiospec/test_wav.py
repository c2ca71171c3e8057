"""The direct 16-bit PCM mono WAV path of load_clip (issue 15, item 3): libsndfile's results, exactly."""

import os
import struct

import numpy as np
import pytest
import soundfile as sf

import audiospec.io as io_module
from audiospec import ParameterError, SpectrogramConfig
from audiospec._wav import pcm16_mono_header
from audiospec.io import load_clip_with_notes


def _wav_bytes(samples, *, rate=16000, chunks_before=(), chunks_after=(), fmt=None, data_size=None):
    """A RIFF/WAVE file of 16-bit mono ``samples``, with extra chunks around ``data``."""
    pcm = np.asarray(samples, dtype="<i2").tobytes()
    fmt_body = fmt if fmt is not None else struct.pack("<HHIIHH", 1, 1, rate, 2 * rate, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    for name, payload in chunks_before:
        body += name + struct.pack("<I", len(payload)) + payload
    body += b"data" + struct.pack("<I", len(pcm) if data_size is None else data_size) + pcm
    for name, payload in chunks_after:
        body += name + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tone(n, level=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return np.round(level * 32767 * np.sin(np.arange(n) * 0.07) + rng.integers(-50, 50, n)).astype(np.int16)


def _outcome(path, policy, seed, *, direct):
    """load_clip_with_notes's result or error, and the rng's next draw (the crop consumed the same)."""
    rng = np.random.default_rng(seed) if policy == "random" else None
    original = io_module._load_pcm16
    if not direct:
        io_module._load_pcm16 = lambda *args: None  # the libsndfile path only
    try:
        clip, offset, notes = load_clip_with_notes(path, policy=policy, rng=rng)
        result = ("ok", clip.dtype.str, clip.tobytes(), offset, notes)
    except Exception as exc:  # the error itself is compared
        result = ("error", type(exc).__name__, str(exc))
    finally:
        io_module._load_pcm16 = original
    return result, None if rng is None else int(rng.integers(1 << 40))


def _cases(tmp_path):
    """(name, file, whether its header is a plain one) for plain and unusual files."""
    n = 16384
    info = (b"LIST", b"INFOISFT" + b"x" * 30)
    cb_size = struct.pack("<HHIIHHH", 1, 1, 16000, 32000, 2, 16, 0)
    stereo = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 4, 16)
    cases = {
        "plain": (_wav_bytes(_tone(40000)), True),
        "exactly n": (_wav_bytes(_tone(n)), True),
        "short": (_wav_bytes(_tone(5000)), True),
        "one sample": (_wav_bytes([9000]), True),
        "silent": (_wav_bytes(np.zeros(30000)), True),
        "quiet head loud tail": (_wav_bytes(np.r_[np.zeros(20000), _tone(20000)]), True),
        "full scale": (_wav_bytes(np.r_[np.full(3000, 32767), np.full(3000, -32768), _tone(30000)]), True),
        "list chunk first": (_wav_bytes(_tone(30000), chunks_before=[info]), True),
        "big chunk first": (_wav_bytes(_tone(30000), chunks_before=[(b"junk", b"\0" * 9000)]), True),
        "chunk after data": (_wav_bytes(_tone(30000), chunks_after=[(b"LIST", b"abcd")]), True),
        "fmt with cbSize": (_wav_bytes(_tone(30000), fmt=cb_size), True),
        "8 kHz": (_wav_bytes(_tone(20000), rate=8000), True),  # a plain file, resampled via libsndfile
        "empty": (_wav_bytes([]), False),
        "odd chunk first": (_wav_bytes(_tone(30000), chunks_before=[(b"junk", b"abc")]), False),
        "truncated": (_wav_bytes(_tone(40000))[: 44 + 2 * 30000], False),
        "data size 0": (_wav_bytes(_tone(30000), data_size=0), False),
        "data size unknown": (_wav_bytes(_tone(30000), data_size=0xFFFFFFFF), False),
        "stereo fmt": (_wav_bytes(_tone(30000), fmt=stereo), False),
        "8-bit fmt": (_wav_bytes(_tone(30000), fmt=struct.pack("<HHIIHH", 1, 1, 16000, 16000, 1, 8)), False),
        "not audio": (b"RIFF\x10\x00\x00\x00WAVEjunk" + b"\0" * 12, False),
    }
    files = []
    for name, (data, direct) in cases.items():
        path = tmp_path / (name.replace(" ", "_") + ".wav")
        path.write_bytes(data)
        files.append((name, path, direct))
    y = (0.3 * np.sin(np.arange(30000) * 0.05)).astype(np.float32)
    for name, kwargs in {
        "soundfile PCM_16": {"subtype": "PCM_16"},
        "soundfile WAVEX": {"subtype": "PCM_16", "format": "WAVEX"},
        "soundfile RF64": {"subtype": "PCM_16", "format": "RF64"},
        "soundfile PCM_24": {"subtype": "PCM_24"},
        "soundfile FLOAT": {"subtype": "FLOAT"},
        "soundfile stereo": {"subtype": "PCM_16", "stereo": True},
    }.items():
        path = tmp_path / (name.replace(" ", "_") + ".wav")
        stereo = kwargs.pop("stereo", False)
        sf.write(path, np.stack([y, -y], axis=1) if stereo else y, 16000, **kwargs)
        files.append((name, path, name == "soundfile PCM_16"))
    return files


def test_direct_path_is_libsndfile_exactly(tmp_path):
    # every file, crop policy and seed: the same clip bits, offset, notes or error, and the same
    # draws taken from the rng, with and without the direct path
    files = _cases(tmp_path)
    for name, path, _ in files:
        for policy, seeds in (("start", [None]), ("center", [None]), ("random", range(5))):
            for seed in seeds:
                direct = _outcome(path, policy, seed, direct=True)
                reference = _outcome(path, policy, seed, direct=False)
                assert direct == reference, (name, policy, seed)


def test_direct_path_takes_exactly_the_plain_files(tmp_path):
    for name, path, expected in _cases(tmp_path):
        fd = os.open(path, os.O_RDONLY)
        try:
            header = pcm16_mono_header(fd)
        finally:
            os.close(fd)
        assert (header is not None) == expected, name
        if header is not None:  # what libsndfile reports for the same file
            info = sf.info(path)
            assert (info.frames, info.samplerate, info.channels, info.subtype) == (
                header.frames,
                header.samplerate,
                1,
                "PCM_16",
            ), name
            raw = path.read_bytes()[header.data_offset : header.data_offset + 2 * header.frames]
            assert np.array_equal(np.frombuffer(raw, "<i2"), sf.read(path, dtype="int16")[0]), name


def test_plain_wav_is_read_without_libsndfile(tmp_path, monkeypatch):
    # the direct path is really taken (so the comparison above tests it): libsndfile is not opened
    path = tmp_path / "a.wav"
    path.write_bytes(_wav_bytes(_tone(30000)))

    def refuse(path):
        raise AssertionError(f"libsndfile opened {path}")

    monkeypatch.setattr(io_module, "_open_audio", refuse)
    clip, offset, notes = load_clip_with_notes(path, config=SpectrogramConfig(), policy="center")
    assert offset == (30000 - 16384) // 2 and notes == []
    eight_khz = tmp_path / "b.wav"  # another rate: decoded and resampled by libsndfile's path
    eight_khz.write_bytes(_wav_bytes(_tone(30000), rate=8000))
    with pytest.raises(AssertionError, match="libsndfile opened"):
        load_clip_with_notes(eight_khz)
    np.testing.assert_array_equal(clip, _tone(30000)[offset : offset + 16384] / np.float32(32768))


def test_out_receives_the_clip_whatever_it_held(tmp_path):
    # a cache build decodes each clip into its row of the block: the same clip as a new array,
    # padding zeroed, on the direct path and on libsndfile's (a float WAV), and a bad buffer refused
    cfg = SpectrogramConfig()
    plain_short = tmp_path / "short.wav"
    plain_short.write_bytes(_wav_bytes(_tone(5000)))
    plain_long = tmp_path / "long.wav"
    plain_long.write_bytes(_wav_bytes(_tone(40000)))
    float_short = tmp_path / "float.wav"
    sf.write(float_short, (0.3 * np.sin(np.arange(7000) * 0.05)).astype(np.float32), 16000, subtype="FLOAT")
    for path in (plain_short, plain_long, float_short):
        for policy, seed in (("start", None), ("center", None), ("random", 3)):
            expected, offset, notes = load_clip_with_notes(path, config=cfg, policy=policy, rng=seed)
            out = np.full(cfg.n_samples, np.nan, np.float32)
            clip, got_offset, got_notes = load_clip_with_notes(
                path, config=cfg, policy=policy, rng=seed, out=out
            )
            assert clip is out and (got_offset, got_notes) == (offset, notes)
            assert clip.tobytes() == expected.tobytes(), (path.name, policy)
    for bad in (np.zeros(cfg.n_samples, np.float64), np.zeros(100, np.float32), [0.0] * cfg.n_samples):
        with pytest.raises(ParameterError, match=r"out must be a float32 array of shape \(16384,\) \(got a "):
            load_clip_with_notes(plain_long, config=cfg, out=bad)


def test_folders_and_pipes_are_left_to_libsndfile(tmp_path):
    # not regular files: the direct path declines at once (no read, no wait for a pipe's writer)
    cfg = SpectrogramConfig()
    assert io_module._load_pcm16(str(tmp_path), cfg, "start", None) is None
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.wav"
        os.mkfifo(fifo)
        assert io_module._load_pcm16(str(fifo), cfg, "start", None) is None
