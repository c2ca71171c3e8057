"""Loading, resampling and cropping audio.

Any format soundfile (libsndfile) reads is accepted: WAV, FLAC, OGG/Vorbis, MP3 (libsndfile >= 1.1),
AIFF, ... Multi-channel audio is averaged to mono and every sample rate is resampled to the target
rate with a polyphase FIR resampler (:func:`scipy.signal.resample_poly`). Plain 16-bit PCM mono WAV
files at the target rate, the usual case, are read without libsndfile (:mod:`audiospec._wav`: the
same samples, ~20 µs a clip instead of ~70).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import soundfile as sf

from audiospec._validation import valid_audio, valid_config, valid_rng
from audiospec._wav import pcm16_mono_header
from audiospec.atomic import atomic_path
from audiospec.config import SpectrogramConfig
from audiospec.errors import AudioError, ParameterError

__all__ = [
    "CROP_POLICIES",
    "SILENCE_THRESHOLD",
    "load_audio",
    "resample",
    "crop",
    "load_clip",
    "range_problem",
    "write_wav",
    "CLIPPED_FRACTION",
]

CropPolicy = Literal["start", "random", "center"]

# libsndfile's log line for a data chunk longer than the file: "data : 128000 (should be 256)"
#: Suffixes decoded by mpg123 inside libsndfile, which prints "Note: Illegal Audio-MPEG-Header ..."
#: lines straight to file descriptor 2 while it probes a file that is not MPEG audio.
_NOISY_SUFFIXES = (".mp3", ".mp2", ".mp1", ".mpga", ".mpeg")
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _decoder_quiet(path: str) -> Iterator[None]:
    """Silence file descriptor 2 while libsndfile probes an MPEG file (its decoder's noise).

    The failure is reported by the AudioError that follows, with a reason; only the few
    milliseconds of the probe are silenced, and only for MPEG suffixes.
    """
    if not path.lower().endswith(_NOISY_SUFFIXES):
        yield
        return
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


_SHOULD_BE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)

#: RIFF WAV containers, where libsndfile (1) decodes 16-bit PCM to float as ``sample * (1 / 32768)``
#: (a conversion and a power-of-two scale, both exact): reading the integers and scaling them with
#: numpy gives the same bits at half the cost (libsndfile converts through a small internal buffer);
#: (2) counts the frames of uncompressed data (:data:`_PLAIN_PCM`) from the data bytes in the file.
_WAV_FORMATS = ("WAV", "WAVEX")
#: Uncompressed subtypes, whose frame count libsndfile derives from the data bytes in the file.
_PLAIN_PCM = ("PCM_U8", "PCM_S8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")

#: Crop policies: ``start`` keeps the first n_samples (NSynth); ``random`` takes a seeded random
#: offset (LibriSpeech); ``center`` keeps the middle (Speech Commands). All zero-pad short audio:
#: ``start`` and ``random`` at the end, ``center`` on both sides.
CROP_POLICIES: tuple[str, ...] = ("start", "random", "center")

#: Peak absolute amplitude below which a clip counts as silent: 1e-4 (-80 dBFS, about 3 steps of
#: 16-bit PCM); quieter clips carry quantisation noise rather than sound.
SILENCE_THRESHOLD: float = 1e-4

#: A clip counts as clipped when at least this fraction of its samples (and at least 4) sit at
#: full scale (``|y| >= 0.999``): 1 % is far more than the few peak samples of a loud, clean note.
CLIPPED_FRACTION: float = 0.01


def range_problem(clip: np.ndarray) -> str | None:
    """Why a decoded clip is out of the range of normal audio, or None when it is fine.

    The rules, in order: float samples beyond full scale (``max |y| > 1``, possible only in float
    files); clipped audio (at least :data:`CLIPPED_FRACTION` of the samples, and at least 4, at
    ``|y| >= 0.999``); DC only (the clip minus its mean is below :data:`SILENCE_THRESHOLD`).

    Parameters
    ----------
    clip : np.ndarray, shape (n,)
        Mono float samples (nominally in [-1, 1]).

    Returns
    -------
    str or None
        A short reason such as ``"out of range: peak 50.1 > 1 (float samples beyond full scale)"``.
    """
    y = np.asarray(clip)
    # max |y| as max(max y, -min y): no |y| temporary, the same value (NaN propagates alike)
    top, bottom = (float(y.max()), float(y.min())) if y.size else (0.0, 0.0)
    peak = max(top, -bottom)
    if peak > 1.0 + 1e-6:
        return f"out of range: peak {peak:.4g} > 1 (float samples beyond full scale)"
    at_full_scale = 0 if peak < 0.999 else int(np.count_nonzero(np.abs(y) >= 0.999))
    if at_full_scale >= max(4, CLIPPED_FRACTION * y.size):
        return (
            f"out of range: clipped ({at_full_scale} of {y.size} samples at full scale, "
            f"rule >= {CLIPPED_FRACTION:.0%})"
        )
    # a clip whose samples span more than 4 thresholds deviates from any mean by more than one
    # (max |y - m| >= (max y - min y) / 2, less a float32 rounding): only narrower clips are tested
    if y.size and not top - bottom > 4 * SILENCE_THRESHOLD:
        if float(np.max(np.abs(y - y.mean()))) < SILENCE_THRESHOLD:
            return f"out of range: DC only (constant {float(y.mean()):.4g}, no signal around it)"
    return None


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with a polyphase FIR filter.

    Parameters
    ----------
    y : np.ndarray, shape (..., n)
        Floating-point samples.
    orig_sr, target_sr : int > 0
        Sample rates in Hz.

    Returns
    -------
    np.ndarray, shape (..., ceil(n * target_sr / orig_sr)), same dtype as ``y``.
    """
    for name, value in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ParameterError(f"{name}={value!r} must be a positive integer sample rate in Hz")
    y = valid_audio(y)
    if orig_sr == target_sr:
        return y
    from scipy.signal import resample_poly  # imported on first use: it costs ~0.5 s to import

    g = math.gcd(int(orig_sr), int(target_sr))
    out = resample_poly(y, int(target_sr) // g, int(orig_sr) // g, axis=-1)
    return out.astype(y.dtype, copy=False)


def load_audio(
    path: str | os.PathLike, *, sample_rate: int | None = 16000, **librosa_kwargs: Any
) -> np.ndarray:
    """Read an audio file as mono float32, resampled to ``sample_rate``.

    Parameters
    ----------
    path : path-like
        Any file soundfile can read.
    sample_rate : int or None
        Target rate in Hz; ``None`` keeps the file's rate.

    Returns
    -------
    np.ndarray, shape (n,), float32, in [-1, 1] for PCM files.

    Raises
    ------
    AudioError
        The file is missing, unreadable, empty or contains non-finite samples.
    """
    if librosa_kwargs:
        if "sr" in librosa_kwargs:
            raise ParameterError(
                f"load_audio() takes sample_rate=, not librosa's sr=: "
                f"load_audio(path, sample_rate={librosa_kwargs['sr']!r}) (None keeps the file's rate)"
            )
        if "mono" in librosa_kwargs:
            raise ParameterError("load_audio() has no mono=: audio is always averaged to mono")
        if "offset" in librosa_kwargs or "duration" in librosa_kwargs:
            raise ParameterError(
                "load_audio() has no offset=/duration=: use audiospec.load_clip(path, config=..., "
                "policy=...) or slice the returned waveform"
            )
        raise TypeError(f"load_audio() got an unexpected keyword argument {next(iter(librosa_kwargs))!r}")
    path = os.fspath(path)
    y, file_sr = _read_segment(path, 0, None)
    if y.shape[0] == 0:
        raise AudioError(f"audio file {path!r} is empty (0 samples)")
    if sample_rate is not None and file_sr != sample_rate:
        y = resample(y, int(file_sr), int(sample_rate))
    return y


def crop(
    y: np.ndarray,
    *,
    n_samples: int,
    policy: CropPolicy = "start",
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, int]:
    """Cut or zero-pad a waveform to exactly ``n_samples``.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono samples.
    n_samples : int > 0
        Output length in samples.
    policy : {"start", "random", "center"}
        See :data:`CROP_POLICIES`.
    rng : Generator or int, optional
        Randomness for ``policy="random"``.

    Returns
    -------
    clip : np.ndarray, shape (n_samples,)
        A new array (the input is never modified).
    offset : int
        Index in ``y`` of the clip's first sample; negative when ``center`` padded the front.
    """
    y = valid_audio(y)
    if y.ndim != 1:
        raise ParameterError(f"y must be one mono waveform of shape (n,) (got shape {y.shape})")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples <= 0:
        raise ParameterError(f"n_samples={n_samples!r} must be a positive integer")
    if policy not in CROP_POLICIES:
        raise ParameterError(f"policy={policy!r} is not a crop policy; choose one of {list(CROP_POLICIES)}")
    n = y.shape[0]
    offset = _crop_offset(n, n_samples, policy, rng)
    out = np.zeros(n_samples, dtype=y.dtype)
    src_lo, src_hi = max(offset, 0), min(offset + n_samples, n)
    out[src_lo - offset : src_hi - offset] = y[src_lo:src_hi]
    return out, offset


def _crop_offset(n: int, n_samples: int, policy: CropPolicy, rng: np.random.Generator | int | None) -> int:
    """Index in a waveform of ``n`` samples of the first sample of its ``policy`` crop of ``n_samples``."""
    if policy == "start":
        return 0
    if policy == "random":
        return int(valid_rng(rng).integers(0, max(n - n_samples, 0) + 1))
    return (n - n_samples) // 2


def _unreadable_reason(path: str, exc: BaseException) -> str:
    """What went wrong when libsndfile could not open ``path`` (it says "System error." for most)."""
    if not os.path.lexists(path):
        return "it does not exist"
    if os.path.islink(path) and not os.path.exists(path):
        return f"it is a dangling symbolic link (to {os.readlink(path)!r}, which does not exist)"
    if os.path.isdir(path):
        return "it is a folder, not a file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    if not os.path.isfile(path):
        return "it is not a regular file (a pipe or a device?)"
    message = str(exc)
    if "System error" in message or "does not exist or is not a regular file" in message:
        return "it is not audio in a format libsndfile can decode (WAV, FLAC, OGG, MP3, AIFF, ...)"
    return message


def _read_segment(path: str, start: int, stop: int | None) -> tuple[np.ndarray, int]:
    """Frames [start, stop) of a file (``stop=None``: to its end) as mono float32, and its rate."""
    with _open_audio(path) as f:
        return _read_open(f, path, start, stop), int(f.samplerate)


def _open_audio(path: str) -> sf.SoundFile:
    """``sf.SoundFile(path)``, or an AudioError that says why it cannot be opened."""
    try:
        with _decoder_quiet(path):
            return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"cannot read audio file {path!r}: {_unreadable_reason(path, exc)}") from None


def _read_open(f: sf.SoundFile, path: str, start: int, stop: int | None) -> np.ndarray:
    """Frames [start, stop) of the open file ``f`` (``stop=None``: to its end) as mono float32."""
    try:
        f.seek(start)
        data = f.read(-1 if stop is None else stop - start, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"cannot read audio file {path!r}: {_unreadable_reason(path, exc)}") from None
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(y)):
        raise AudioError(f"audio file {path!r} contains non-finite samples (NaN or inf)")
    return np.ascontiguousarray(y)


def load_clip(
    path: str | os.PathLike,
    *,
    config: SpectrogramConfig | None = None,
    policy: CropPolicy = "start",
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, int]:
    """Load one clip of ``config.n_samples`` at ``config.sample_rate`` from a file.

    Only the part of the file the crop needs is decoded (plus a margin for the resampling filter),
    so a 1 s clip of a long file costs 1 s of decoding; the result equals cropping the fully
    decoded and resampled file (to float rounding).

    Returns
    -------
    clip : np.ndarray, shape (config.n_samples,), float32
    offset : int
        Crop offset in samples at ``config.sample_rate`` (see :func:`crop`).

    Raises
    ------
    AudioError
        Unreadable, empty or non-finite audio, a clip whose peak amplitude is below
        :data:`SILENCE_THRESHOLD`, or a truncated file (fewer frames than its header declares)
        whose crop reaches past its real end.
    """
    return load_clip_with_notes(path, config=config, policy=policy, rng=rng)[:2]


def _truncation(path: str, f: sf.SoundFile) -> tuple[str | None, int, int]:
    """(note, declared frames, readable frames) of the open file ``f`` when its data end before its
    header says; (None, frames, frames) when they do not.

    libsndfile shortens a truncated WAV/AIFF to what is there and logs ``data : N (should be M)``;
    other formats (FLAC) keep the declared length, so the last declared frame is probed with one
    seek and a one-frame read.
    """
    frames = int(f.frames)
    match = _SHOULD_BE.search(f.extra_info or "")
    if match is not None and int(match.group(2)) < int(match.group(1)) and int(match.group(2)) > 0:
        declared = frames * int(match.group(1)) // int(match.group(2))
        note = f"truncated: the header of {path!r} declares {declared} frames, only {frames} are in the file"
        return note, declared, frames
    if f.format in _WAV_FORMATS and f.subtype in _PLAIN_PCM:
        # libsndfile cuts a WAV's data length to the bytes in the file and counts whole frames of
        # it, so every frame it reports is there: the probe below would read the last one anyway
        return None, frames, frames
    try:
        f.seek(frames - 1)
        if f.read(out=np.empty((1, f.channels), np.float32)).shape[0] == 1:
            return None, frames, frames
    except (sf.LibsndfileError, RuntimeError, OSError):
        pass
    return f"truncated: the header of {path!r} declares {frames} frames, the file ends earlier", frames, 0


def load_clip_with_notes(
    path: str | os.PathLike,
    *,
    config: SpectrogramConfig | None = None,
    policy: CropPolicy = "start",
    rng: np.random.Generator | int | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, int, list[str]]:
    """:func:`load_clip` plus notes on problems that did not stop it (a truncated file whose
    crop lies in its readable part).

    ``out``, a float32 array of shape ``(config.n_samples,)``, receives the clip (and is returned as
    it); plain 16-bit WAV files are decoded straight into it. Its content is undefined after an
    error.
    """
    config = valid_config(config)
    if policy not in CROP_POLICIES:
        raise ParameterError(f"policy={policy!r} is not a crop policy; choose one of {list(CROP_POLICIES)}")
    if out is not None and not (
        isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (config.n_samples,)
    ):
        got = f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ParameterError(f"out must be a float32 array of shape ({config.n_samples},) (got a {got})")
    path = os.fspath(path)
    direct = _load_pcm16(path, config, policy, rng, out)
    if direct is not None:
        return direct
    with _open_audio(path) as f:  # one open for the header, the truncation probe and the crop's frames
        if f.frames <= 0:
            raise AudioError(f"audio file {path!r} is empty (0 samples)")
        clip, offset, notes = _load_open(f, path, config, policy, rng)
    if out is None:
        return clip, offset, notes
    out[...] = clip
    return out, offset, notes


def _load_open(
    f: sf.SoundFile,
    path: str,
    config: SpectrogramConfig,
    policy: CropPolicy,
    rng: np.random.Generator | int | None,
) -> tuple[np.ndarray, int, list[str]]:
    """:func:`load_clip_with_notes` from the open file ``f`` (its header and its frames)."""
    truncated, declared, readable = _truncation(path, f)
    notes = [] if truncated is None else [truncated]
    file_sr, target_sr, n = int(f.samplerate), config.sample_rate, config.n_samples
    g = math.gcd(file_sr, target_sr)
    up, down = target_sr // g, file_sr // g
    n_target = -(-declared * up // down)  # length of the whole file after resampling
    offset = _crop_offset(n_target, n, policy, rng)  # on the resampled length, as crop() decides it
    lo_t, hi_t = max(offset, 0), min(offset + n, n_target)  # needed samples at the target rate
    if truncated is None and up == down and f.channels == 1:
        return _read_crop(f, path, n, offset, lo_t, hi_t, policy), offset, notes

    def read(lo: int, hi: int) -> np.ndarray:
        if truncated is None:
            return _read_open(f, path, lo, hi)
        if readable == 0 or hi <= readable:  # readable == 0: unknown (FLAC); try the crop's frames
            try:  # on a fresh handle: the probe may have left ``f`` in an error state
                segment = _read_segment(path, lo, hi)[0]
            except AudioError as exc:
                raise AudioError(f"{truncated}; reading frames {lo}..{hi}: {exc}") from None
            if segment.shape[0] == hi - lo:
                return segment
        raise AudioError(f"{truncated}; the {policy!r} crop needs frames {lo}..{hi} at {file_sr} Hz")

    if up == down:
        segment, seg_start_t = read(lo_t, hi_t), lo_t
    else:
        # resample_poly's filter reaches 10 * max(up, down) samples of the upsampled signal each way;
        # start on a multiple of `down` so that the segment's output grid is the full file's grid
        margin = -(-10 * max(up, down) // up) + 2
        src_lo = max((lo_t * down // up - margin) // down * down, 0)
        src_hi = min(-(-hi_t * down // up) + margin, declared)
        from scipy.signal import resample_poly

        raw = read(src_lo, src_hi)
        full_end = src_hi == declared
        segment = resample_poly(raw, up, down).astype(np.float32, copy=False)
        seg_start_t = src_lo * up // down
        if not full_end:  # drop the tail that the filter saw only half of
            segment = segment[: hi_t - seg_start_t]
    clip = np.zeros(n, dtype=np.float32)
    piece = segment[lo_t - seg_start_t : hi_t - seg_start_t]
    clip[lo_t - offset : lo_t - offset + piece.shape[0]] = piece
    if _peak(clip) < SILENCE_THRESHOLD:
        raise _silent(path, policy, offset)
    return clip, offset, notes


def _load_pcm16(
    path: str,
    config: SpectrogramConfig,
    policy: CropPolicy,
    rng: np.random.Generator | int | None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, int, list[str]] | None:
    """:func:`_load_open`'s result for a plain 16-bit PCM mono WAV file at the config's rate, read
    without libsndfile (:mod:`audiospec._wav`); None for any other file (decided before the crop
    draws from ``rng``, and before ``out`` is written). The same crop offset, samples
    (``int16 * (1 / 32768)``, as libsndfile's and :func:`_read_crop`'s), silence rule and error as
    the libsndfile path. ``out``: a float32 (n_samples,) array to decode into (returned as the
    clip), instead of a new one."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a pipe: no wait for a writer
    except OSError:
        return None  # the libsndfile path says why
    try:
        header = pcm16_mono_header(fd)
        if header is None or header.samplerate != config.sample_rate:
            return None
        n = config.n_samples
        offset = _crop_offset(header.frames, n, policy, rng)
        lo, hi = max(offset, 0), min(offset + n, header.frames)
        clip = np.zeros(n, dtype=np.float32) if out is None else out
        peak, start, end = 0.0, 0, 0  # clip[start:end] holds samples, the rest is zero
        if hi > lo:
            try:
                raw = os.pread(fd, 2 * (hi - lo), header.data_offset + 2 * lo)
            except OSError as exc:
                raise AudioError(f"cannot read audio file {path!r}: {exc}") from None
            pcm = np.frombuffer(raw, dtype="<i2", count=len(raw) // 2)  # shorter if the file shrank
            start, end = lo - offset, lo - offset + pcm.shape[0]
            piece = np.multiply(pcm, np.float32(1 / 32768), out=clip[start:end])
            peak = _peak(piece) if piece.shape[0] else 0.0
        if out is not None:  # the padding, zeroed
            out[:start] = 0.0
            out[end:] = 0.0
        if peak < SILENCE_THRESHOLD:
            raise _silent(path, policy, offset)
        return clip, offset, []
    finally:
        os.close(fd)


def _peak(y: np.ndarray) -> float:
    """``max |y|`` of a non-empty array, as ``max(max y, -min y)`` (no ``|y|`` temporary; NaN if any)."""
    return max(float(y.max()), -float(y.min()))


def _silent(path: str, policy: str, offset: int) -> AudioError:
    """The error for a crop whose peak is below :data:`SILENCE_THRESHOLD`."""
    return AudioError(
        f"the {policy!r} crop of {path!r} at offset {offset} is silent (peak below {SILENCE_THRESHOLD:g})"
    )


def _read_crop(f: sf.SoundFile, path: str, n: int, offset: int, lo: int, hi: int, policy: str) -> np.ndarray:
    """The crop of a mono file read at its own rate: frames ``lo .. hi`` decoded straight into their
    place in a zeroed clip of ``n`` samples (the common case of :func:`_load_open`: no resampling,
    no channels to average, no truncation). The same samples, errors and silence rule as the
    general path, with one read call and no intermediate copies (16-bit PCM WAV: the integers,
    scaled in place; see :data:`_WAV_FORMATS`).
    """
    clip = np.zeros(n, dtype=np.float32)
    if hi > lo:
        place = clip[lo - offset : hi - offset]
        try:
            f.seek(lo)
            if f.subtype == "PCM_16" and f.format in _WAV_FORMATS:
                pcm = f.read(out=np.empty(hi - lo, np.int16))  # shorter if the file ends early
                piece = np.multiply(pcm, np.float32(1 / 32768), out=place[: pcm.shape[0]])
            else:
                piece = f.read(out=place)  # a shorter view if the file ends early
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioError(f"cannot read audio file {path!r}: {_unreadable_reason(path, exc)}") from None
        peak = _peak(piece) if piece.shape[0] else 0.0
        if not math.isfinite(peak):  # a NaN or inf sample makes the peak NaN or inf
            raise AudioError(f"audio file {path!r} contains non-finite samples (NaN or inf)")
    else:
        peak = 0.0
    if peak < SILENCE_THRESHOLD:
        raise _silent(path, policy, offset)
    return clip


def write_wav(path: str | os.PathLike, y: np.ndarray, *, sample_rate: int = 16000) -> None:
    """Write a mono waveform as 16-bit PCM WAV, peak-limited to [-1, 1].

    The file is written to a temporary name beside ``path`` and renamed, so an interrupted write
    never leaves a truncated WAV behind.
    """
    y = valid_audio(y)
    if y.ndim != 1:
        raise ParameterError(f"y must be one mono waveform of shape (n,) (got shape {y.shape})")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ParameterError(f"path={path!r} cannot be written: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ParameterError(f"path={path!r} cannot be written: permission denied on {folder!r}")
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(y, -1.0, 1.0), int(sample_rate), subtype="PCM_16", format="WAV")
