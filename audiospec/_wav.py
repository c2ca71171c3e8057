"""The header of a plain 16-bit PCM mono WAV file, parsed without libsndfile.

Most corpora (NSynth, Speech Commands, rendered ones) are 16-bit mono WAV at the model's rate. For
those, opening the file through soundfile (a ``SoundFile``, its format and log queries, a seek and a
read through cffi) costs ~55 µs of Python per file, while the samples are a plain little-endian
``int16`` run at a known offset: :func:`pcm16_mono_header` finds that run with two ``pread`` calls,
and :func:`audiospec.io.load_clip_with_notes` reads the crop's samples with a third.

Only textbook files are accepted, so that the frame count is the one libsndfile reports and the
samples are the ones it decodes: a ``RIFF``/``WAVE`` container; one ``fmt `` chunk with format tag 1
(PCM), 1 channel, 16 bits and a block align of 2, before the ``data`` chunk; even chunk sizes; a
non-empty ``data`` chunk of an even size that lies wholly in the file (libsndfile counts
``size // 2`` frames). Anything else (``WAVE_FORMAT_EXTENSIBLE``, RF64, RIFX, other sample formats,
several channels, truncated or streamed files, odd or padded chunks, a second ``fmt ``) gives None,
and the caller opens the file with libsndfile as before.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

__all__ = ["WavPcm16", "pcm16_mono_header"]

_HEAD = 4096  # bytes read at once from the start: every chunk header of a usual file is in them
_MAX_CHUNKS = 64  # chunk headers walked before giving up (and leaving the file to libsndfile)
_PCM = 1  # WAVE_FORMAT_PCM


@dataclass(frozen=True)
class WavPcm16:
    """Where the samples of a plain 16-bit PCM mono WAV file lie.

    Attributes
    ----------
    data_offset : int
        Byte offset of the first sample.
    frames : int > 0
        Samples in the file (``data`` chunk bytes // 2), libsndfile's ``frames``.
    samplerate : int
        Sample rate in Hz.
    """

    data_offset: int
    frames: int
    samplerate: int


def pcm16_mono_header(fd: int) -> WavPcm16 | None:
    """The sample run of the open file ``fd`` when it is a plain 16-bit PCM mono WAV, else None.

    Parameters
    ----------
    fd : int
        A file descriptor opened for reading (read with ``os.pread``: its position is not moved).

    Returns
    -------
    WavPcm16 or None
        None for anything but a textbook file (see the module docstring): the caller then decodes
        it with libsndfile, which also gives the errors and notes of unusual files.
    """
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None  # a folder, pipe or device: libsndfile's path says what it is
        size = info.st_size
        head = os.pread(fd, _HEAD, 0)
    except OSError:
        return None
    if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    for _ in range(_MAX_CHUNKS):
        if pos + 8 <= len(head):
            chunk = head[pos : pos + 8]
        else:
            try:
                chunk = os.pread(fd, 8, pos)
            except OSError:
                return None
            if len(chunk) < 8:
                return None  # no data chunk
        name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        body = pos + 8
        if length % 2:
            return None  # odd chunks: libsndfile's padding heuristics decide
        if name == b"fmt ":
            if fmt is not None or length < 16 or body + 16 > len(head):
                return None
            fmt = struct.unpack("<HHIIHH", head[body : body + 16])
        elif name == b"data":
            if fmt is None:
                return None
            tag, channels, samplerate, _, block_align, bits = fmt
            if (tag, channels, block_align, bits) != (_PCM, 1, 2, 16) or samplerate <= 0:
                return None
            if length == 0 or body + length > size:
                return None  # empty, streamed (size unknown) or truncated: libsndfile's notes
            return WavPcm16(data_offset=body, frames=length // 2, samplerate=samplerate)
        pos = body + length
    return None
