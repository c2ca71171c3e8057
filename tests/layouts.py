"""Small synthetic datasets in the real on-disk layouts of NSynth, Speech Commands, LibriSpeech and a folder.

Every clip is non-silent (harmonic tones from :mod:`audiospec.synth`), so the cache builders keep all
of them. The builders only write files; they return the paths they created.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from audiospec.readers import NSYNTH_SOURCES, SC09_DIGITS
from audiospec.synth import bowed_tone, make_nsynth_demo, plucked_tone, struck_tone

__all__ = [
    "write_clip",
    "tone_clip",
    "make_acoustic_nsynth",
    "make_speech_commands",
    "make_librispeech",
    "make_labelled_folder",
]

_TONES = (plucked_tone, bowed_tone, struck_tone)


def write_clip(path: str | os.PathLike, y: np.ndarray, sample_rate: int = 16000) -> Path:
    """Write a mono clip as 16-bit PCM; the format follows the extension (``.wav`` or ``.flac``).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its parent folders are created.
    y : np.ndarray
        Mono waveform in [-1, 1].
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_format = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    sf.write(path, np.asarray(y, dtype=np.float32), sample_rate, subtype="PCM_16", format=file_format)
    return path


def tone_clip(
    frequency: float, duration: float, *, sample_rate: int = 16000, kind: int = 0, seed: int = 0
) -> np.ndarray:
    """A non-silent harmonic clip: plucked (kind 0), bowed (1) or struck (2) at ``frequency`` Hz.

    Parameters
    ----------
    frequency : float
        Fundamental frequency in Hz.
    duration : float
        Length in seconds.
    sample_rate : int
        Sample rate in Hz.
    kind : int
        Which tone shape (taken modulo 3).
    seed : int
        Seed of the partial phases (and noise).

    Returns
    -------
    np.ndarray
        float32, shape ``(round(duration * sample_rate),)``, peak 0.5 to 0.8.
    """
    tone = _TONES[kind % len(_TONES)]
    return tone(frequency, duration=duration, sample_rate=sample_rate, rng=np.random.default_rng(seed))


def make_acoustic_nsynth(
    root: str | os.PathLike,
    *,
    per_family: int,
    splits: dict[str, float],
    seed: int = 0,
    duration: float = 1.1,
) -> dict[str, int]:
    """The synthetic NSynth demo, relabelled as *acoustic* notes so the reader's default filter keeps them.

    :func:`audiospec.synth.make_nsynth_demo` marks its notes ``synthetic``; ``list_nsynth`` (and
    ``audiospec build-cache nsynth`` without ``--sources``) keep only ``acoustic`` ones. This sets
    ``instrument_source`` / ``instrument_source_str`` to the acoustic code and name, and renames
    ``instrument_str``, ``note_str`` and the audio files to match (``guitar_acoustic_000-...``, as
    in the real dataset). The layout stays NSynth's: ``nsynth-<split>/examples.json`` + ``audio/``.

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root (created): it holds ``nsynth-<split>/``.
    per_family, splits, seed, duration
        As for :func:`audiospec.synth.make_nsynth_demo`.

    Returns
    -------
    dict[str, int]
        Number of notes per split.
    """
    counts = make_nsynth_demo(str(root), per_family=per_family, splits=splits, seed=seed, duration=duration)
    acoustic = NSYNTH_SOURCES.index("acoustic")
    for split in splits:
        split_dir = Path(root) / f"nsynth-{split}"
        examples = json.loads((split_dir / "examples.json").read_text())
        relabelled = {}
        for note_str, entry in examples.items():
            new_note = note_str.replace("_synthetic_", "_acoustic_")
            os.replace(split_dir / "audio" / f"{note_str}.wav", split_dir / "audio" / f"{new_note}.wav")
            relabelled[new_note] = {
                **entry,
                "note_str": new_note,
                "instrument_str": entry["instrument_str"].replace("_synthetic_", "_acoustic_"),
                "instrument_source": acoustic,
                "instrument_source_str": "acoustic",
            }
        (split_dir / "examples.json").write_text(json.dumps(relabelled, indent=1))
    return counts


def make_speech_commands(
    root: str | os.PathLike,
    *,
    train_speakers: tuple[str, ...] = ("0a1b2c3d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60"),
    valid_speakers: tuple[str, ...] = ("4e5f6071",),
    test_speakers: tuple[str, ...] = ("5f607182",),
) -> dict[str, int]:
    """A Speech Commands folder for the SC09 reader: ``<digit>/<speaker>_nohash_0.wav`` and the lists.

    Each clip is 1 s at 16 kHz, a harmonic tone whose pitch depends on the speaker and the digit and
    whose shape depends on the digit. ``validation_list.txt`` / ``testing_list.txt`` name the clips
    of the validation / test speakers, and ``speakers.json`` gives every speaker a gender
    (alternating F and M). A non-digit word folder (``yes``) and ``_background_noise_`` are added,
    as in the real dataset (the reader ignores them).

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root (created).
    train_speakers, valid_speakers, test_speakers : tuple of str
        Speaker ids (hex, as in the real dataset) of each split.

    Returns
    -------
    dict[str, int]
        Number of digit clips per split.
    """
    root = Path(root)
    speakers = [*train_speakers, *valid_speakers, *test_speakers]
    lists: dict[str, list[str]] = {"valid": [], "test": []}
    for number, speaker in enumerate(speakers):
        base = 110.0 + 25.0 * number
        for digit, word in enumerate(SC09_DIGITS):
            rel = f"{word}/{speaker}_nohash_0.wav"
            clip = tone_clip(base * (1 + 0.12 * digit), 1.0, kind=digit, seed=100 * number + digit)
            write_clip(root / rel, clip)
            if speaker in valid_speakers:
                lists["valid"].append(rel)
            elif speaker in test_speakers:
                lists["test"].append(rel)
    write_clip(root / "yes" / f"{speakers[0]}_nohash_0.wav", tone_clip(300.0, 1.0))
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000)
    write_clip(root / "_background_noise_" / "white_noise.wav", noise)
    (root / "validation_list.txt").write_text("".join(f"{rel}\n" for rel in lists["valid"]))
    (root / "testing_list.txt").write_text("".join(f"{rel}\n" for rel in lists["test"]))
    genders = [{"id": s, "gender": "FM"[i % 2]} for i, s in enumerate(speakers)]
    (root / "speakers.json").write_text(json.dumps(genders, indent=1))
    n_digits = len(SC09_DIGITS)
    return {
        "train": n_digits * len(train_speakers),
        "valid": n_digits * len(valid_speakers),
        "test": n_digits * len(test_speakers),
    }


_SPEAKERS_TXT_HEADER = """\
; Some readers have the same name, so we add the speaker id after the name
; with the following format: <name> (<id>)
;ID  |SEX| SUBSET           |MINUTES| NAME
"""


def make_librispeech(
    parent: str | os.PathLike,
    *,
    speakers: tuple[tuple[str, str], ...] = (("19", "F"), ("26", "M"), ("103", "F"), ("118", "M")),
    utterances: int = 2,
    duration: float = 3.0,
) -> Path:
    """A LibriSpeech subset ``parent/LibriSpeech/train-clean-100`` with ``SPEAKERS.TXT`` beside it.

    Files are ``<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac`` (16 kHz, ``duration`` s of a
    harmonic tone, lower for M speakers) plus the chapter's ``.trans.txt``. ``SPEAKERS.TXT`` has the
    real header and ``ID | SEX | SUBSET | MINUTES | NAME`` rows, one of them for a speaker of another
    subset (as in the real file).

    Parameters
    ----------
    parent : str or os.PathLike
        Folder that receives ``LibriSpeech/``.
    speakers : tuple of (id, sex)
        Speakers of the subset and their ``F`` / ``M`` sex.
    utterances : int
        Utterances per speaker (one chapter each).
    duration : float
        Seconds per utterance.

    Returns
    -------
    Path
        The subset folder ``parent/LibriSpeech/train-clean-100``.
    """
    subset = Path(parent) / "LibriSpeech" / "train-clean-100"
    rows = []
    for number, (speaker, sex) in enumerate(speakers):
        chapter = str(1000 + 37 * number)
        chapter_dir = subset / speaker / chapter
        base = 200.0 if sex == "F" else 110.0
        lines = []
        for utt in range(utterances):
            clip = tone_clip(base * (1 + 0.1 * utt + 0.03 * number), duration, kind=1, seed=number * 10 + utt)
            write_clip(chapter_dir / f"{speaker}-{chapter}-{utt:04d}.flac", clip)
            lines.append(f"{speaker}-{chapter}-{utt:04d} HELLO WORLD NUMBER {utt}\n")
        (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
        rows.append(f"{speaker:<5}| {sex} | train-clean-100  | 25.{number:02d} | Reader Number {number}")
    rows.append("14   | F | train-clean-360  | 25.03 | Kristin LeMoine")
    (subset.parent / "SPEAKERS.TXT").write_text(_SPEAKERS_TXT_HEADER + "\n".join(rows) + "\n")
    return subset


def make_labelled_folder(
    root: str | os.PathLike, *, labels: tuple[str, ...] = ("bell", "whistle"), per_label: int = 3
) -> dict[str, int]:
    """A folder of WAVs with one sub-folder per label: ``root/<label>/<label>_<i>.wav`` (1.2 s, 16 kHz).

    Parameters
    ----------
    root : str or os.PathLike
        Folder (created).
    labels : tuple of str
        Label (sub-folder) names; each gets its own tone shape.
    per_label : int
        Files per label.

    Returns
    -------
    dict[str, int]
        Files per label.
    """
    for label_index, label in enumerate(labels):
        for i in range(per_label):
            clip = tone_clip(300.0 + 90.0 * i + 400.0 * label_index, 1.2, kind=2 * label_index, seed=i)
            write_clip(Path(root) / label / f"{label}_{i}.wav", clip)
    return dict.fromkeys(labels, per_label)
