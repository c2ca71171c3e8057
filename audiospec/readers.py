"""Dataset readers: turn a dataset folder into a list of items to put in a spectrogram cache.

Each reader is a plain function ``list_<name>(root, *, ...) -> DatasetListing``. It only *lists*
(paths, labels, splits, crop policy, attributes); audio is read later, in parallel, by the cache
builder, which also skips (and records) unreadable files. Readers raise
:class:`~audiospec.errors.DatasetError` with one clear line for a malformed dataset (missing
metadata file, unknown family name, empty selection).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiospec.errors import DatasetError, ParameterError
from audiospec.io import CROP_POLICIES

__all__ = [
    "Item",
    "DatasetListing",
    "NSYNTH_FAMILIES",
    "NSYNTH_SOURCES",
    "NSYNTH_SPLITS",
    "SC09_DIGITS",
    "LIBRISPEECH_GENDERS",
    "AUDIO_EXTENSIONS",
    "list_nsynth",
    "list_sc09",
    "list_librispeech",
    "list_folder",
    "READERS",
]


@dataclass(frozen=True)
class Item:
    """One clip to cache.

    Attributes
    ----------
    path : str
        Path of the audio file relative to the dataset root (POSIX separators).
    label : int
        Index into :attr:`DatasetListing.label_names`, or -1 when unknown.
    split : str
        ``"train"``, ``"valid"`` or ``"test"`` (or a subset name such as ``"train-clean-100"``).
    crop : str
        Crop policy for this item: ``"start"``, ``"random"`` or ``"center"``.
    crop_index : int
        Which of several crops of the same file this is (``random`` crops, 0-based); the builder
        derives each crop's seed from (build seed, path, crop_index), so crops are reproducible.
    attributes : dict[str, str]
        Extra categorical facts about the item (``speaker``, ``gender``, ``pitch``, ...), stored
        as integer codes in the cache for probes of the learned representation.
    """

    path: str
    label: int
    split: str
    crop: str = "start"
    crop_index: int = 0
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetListing:
    """The result of a reader.

    Attributes
    ----------
    reader : str
        Reader name (``nsynth``, ``sc09``, ``librispeech``, ``folder``).
    root : str
        Absolute dataset root; every :attr:`Item.path` is relative to it.
    items : list[Item]
        In a deterministic order (sorted by path, then crop_index).
    label_names : list[str]
        Names of the label indices; empty when the dataset is unlabelled.
    options : dict[str, Any]
        The reader options used (JSON-ready), recorded in the cache for provenance.
    """

    reader: str
    root: str
    items: list[Item]
    label_names: list[str]
    options: dict[str, Any] = field(default_factory=dict)


#: NSynth instrument families, in the order of their integer codes 0-10.
NSYNTH_FAMILIES: tuple[str, ...] = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)

#: NSynth instrument sources, in the order of their integer codes 0-2.
NSYNTH_SOURCES: tuple[str, ...] = ("acoustic", "electronic", "synthetic")

#: NSynth splits (folders ``nsynth-<split>``).
NSYNTH_SPLITS: tuple[str, ...] = ("train", "valid", "test")

#: The ten Speech Commands words of SC09; a clip's label is its word's index here.
SC09_DIGITS: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)

#: LibriSpeech label names: the SEX column of SPEAKERS.TXT.
LIBRISPEECH_GENDERS: tuple[str, ...] = ("F", "M")

#: Default extensions of :func:`list_folder` (compared case-insensitively).
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

_SC09_SPLITS: tuple[str, ...] = ("train", "valid", "test")
_SC09_LISTS: dict[str, str] = {"valid": "validation_list.txt", "test": "testing_list.txt"}
_FOLDER_LABEL_MODES: tuple[str, ...] = ("subfolders", "none")


# --------------------------------------------------------------------------------------------------
# shared helpers


def _root_dir(root: str | os.PathLike[str], *, name: str = "root") -> Path:
    """Return ``root`` as an absolute, resolved directory path, or raise."""
    if not isinstance(root, (str, os.PathLike)):
        raise ParameterError(
            f"{name}={root!r} must be a path (str or os.PathLike), got {type(root).__name__}"
        )
    path = Path(os.fspath(root)).expanduser().resolve()
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise DatasetError(f"dataset {name} {str(path)!r} {what}")
    return path


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices`` (a ParameterError otherwise)."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name}={value!r} must be one of {list(choices)}")
    return value


def _str_tuple(name: str, value: Any) -> tuple[str, ...]:
    """A non-empty tuple of distinct strings from a string or a sequence of strings."""
    values = (value,) if isinstance(value, str) else value
    if not isinstance(values, Iterable) or isinstance(values, (bytes, dict)):
        raise ParameterError(f"{name}={value!r} must be a string or a sequence of strings")
    values = tuple(values)
    if not values:
        raise ParameterError(f"{name}={value!r} must name at least one value")
    for v in values:
        if not isinstance(v, str):
            raise ParameterError(f"{name}={value!r} must contain only strings (got {v!r})")
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ParameterError(f"{name}={list(values)!r} names {duplicates} more than once")
    return values


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with POSIX separators."""
    return path.relative_to(root).as_posix()


def _clean_list_entry(entry: str) -> str:
    """Normalise a relative path read from a list or CSV file: POSIX separators, no leading ``./``."""
    entry = entry.strip().replace("\\", "/")
    while entry.startswith("./"):
        entry = entry[2:]
    return entry


def _listing(
    reader: str, root: Path, items: list[Item], label_names: Sequence[str], options: dict[str, Any]
) -> DatasetListing:
    items = sorted(items, key=lambda item: (item.path, item.crop_index))
    return DatasetListing(
        reader=reader, root=str(root), items=items, label_names=list(label_names), options=options
    )


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{str(path)!r} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# NSynth


def _nsynth_examples_path(root: Path, split: str) -> Path:
    """The ``examples.json`` of ``nsynth-<split>``, given the folder holding it or the split folder."""
    folder = f"nsynth-{split}"
    if (root / folder).is_dir():
        split_dir = root / folder
    elif root.name == folder:
        split_dir = root
    else:
        hint = ""
        if root.name.startswith("nsynth-") and (root / "examples.json").is_file():
            hint = f"; root is the split folder {root.name!r}: pass split={root.name[len('nsynth-') :]!r}"
        raise DatasetError(
            f"NSynth metadata file {str(root / folder / 'examples.json')!r} does not exist{hint}"
        )
    path = split_dir / "examples.json"
    if not path.is_file():
        raise DatasetError(f"NSynth metadata file {str(path)!r} does not exist")
    return path


def _nsynth_note_part(note: str, entry: dict[str, Any], key: str, position: int) -> str:
    """Field ``key`` of a note as a string, else part ``position`` of ``<instrument>-<pitch>-<velocity>``."""
    if key in entry:
        return str(entry[key])
    parts = note.rsplit("-", 2)
    if len(parts) == 3:
        if position == 0:
            return parts[0]
        if parts[position].isdigit():
            return str(int(parts[position]))
    raise DatasetError(f"NSynth note {note!r} has no {key} field and its note_str does not give one")


def _nsynth_field(note: str, entry: dict[str, Any], field_name: str, names: Sequence[str]) -> str:
    """The ``<field>_str`` of a note, falling back to its integer code ``<field>``."""
    value = entry.get(f"{field_name}_str")
    if isinstance(value, str):
        return value
    code = entry.get(field_name)
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(names):
        return names[code]
    raise DatasetError(f"NSynth note {note!r} has no valid {field_name}_str or {field_name} field")


def list_nsynth(
    root: str | os.PathLike[str],
    *,
    split: str = "train",
    families: Sequence[str] = ("guitar", "string", "mallet"),
    sources: str | Sequence[str] = ("acoustic",),
) -> DatasetListing:
    """List the notes of an NSynth split, filtered by instrument family and source.

    Parameters
    ----------
    root : str or os.PathLike
        Either the folder that holds ``nsynth-<split>/`` or the split folder ``.../nsynth-<split>``
        itself. In both cases the listing's root is the folder *holding* the split folder, so every
        :attr:`Item.path` reads ``nsynth-<split>/audio/<note_str>.wav``.
    split : {"train", "valid", "test"}
        Which split to read.
    families : sequence of str
        NSynth instrument families to keep (among :data:`NSYNTH_FAMILIES`), in label order: a
        note's label is the index of its family here, so ``label_names == list(families)``.
    sources : "all" or sequence of str
        Instrument sources to keep (among :data:`NSYNTH_SOURCES`); ``"all"`` (or ``("all",)``)
        keeps every source. The default keeps acoustic notes only; corpora rendered by
        ``render_corpora.py`` are all ``synthetic``, so read them with ``sources="all"``.

    Returns
    -------
    DatasetListing
        Reader ``"nsynth"``; items with crop ``"start"`` and attributes ``pitch``, ``velocity``,
        ``instrument_str`` and ``source`` (strings). Audio files are not opened or checked.

    Raises
    ------
    ParameterError
        If ``split`` is not a split name, or ``families`` / ``sources`` is empty or repeats a name.
    DatasetError
        If ``examples.json`` is missing or malformed, a family or source is not an NSynth name, or
        no note matches the filter.
    """
    split = _choice("split", split, NSYNTH_SPLITS)
    families = _str_tuple("families", families)
    unknown = [f for f in families if f not in NSYNTH_FAMILIES]
    if unknown:
        raise DatasetError(
            f"families={list(families)!r} names unknown NSynth families {unknown}; "
            f"valid families: {', '.join(NSYNTH_FAMILIES)}"
        )
    source_tuple = _str_tuple("sources", sources)
    all_sources = source_tuple == ("all",)
    if not all_sources:
        unknown = [s for s in source_tuple if s not in NSYNTH_SOURCES]
        if unknown:
            raise DatasetError(
                f"sources={list(source_tuple)!r} names unknown NSynth sources {unknown}; "
                f"valid sources: {', '.join(NSYNTH_SOURCES)} (or 'all')"
            )
    meta_path = _nsynth_examples_path(_root_dir(root), split)
    split_dir = meta_path.parent
    base = split_dir.parent
    examples = _read_json(meta_path)
    if not isinstance(examples, dict):
        raise DatasetError(
            f"{str(meta_path)!r} must hold one JSON object keyed by note_str "
            f"(got a {type(examples).__name__})"
        )

    items: list[Item] = []
    seen_families: set[str] = set()
    seen_sources: set[str] = set()
    for note, entry in examples.items():
        if not isinstance(entry, dict):
            raise DatasetError(f"NSynth note {note!r} in {str(meta_path)!r} is not a JSON object")
        family = _nsynth_field(note, entry, "instrument_family", NSYNTH_FAMILIES)
        source = _nsynth_field(note, entry, "instrument_source", NSYNTH_SOURCES)
        seen_families.add(family)
        seen_sources.add(source)
        if family not in families or not (all_sources or source in source_tuple):
            continue
        attributes = {
            "pitch": _nsynth_note_part(note, entry, "pitch", 1),
            "velocity": _nsynth_note_part(note, entry, "velocity", 2),
            "instrument_str": _nsynth_note_part(note, entry, "instrument_str", 0),
            "source": source,
        }
        items.append(
            Item(
                path=f"{split_dir.name}/audio/{note}.wav",
                label=families.index(family),
                split=split,
                crop="start",
                attributes=attributes,
            )
        )
    if not items:
        shown_sources = "'all'" if all_sources else list(source_tuple)
        message = (
            f"no notes of families {list(families)} and sources {shown_sources} in {str(meta_path)!r} "
            f"({len(examples)} notes of families {sorted(seen_families)} and sources {sorted(seen_sources)})"
        )
        if not all_sources and seen_families & set(families):
            message += "; pass sources='all' (--sources all on the command line) to keep every source"
        raise DatasetError(message)
    options = {
        "split": split,
        "families": list(families),
        "sources": "all" if all_sources else list(source_tuple),
    }
    return _listing("nsynth", base, items, families, options)


# --------------------------------------------------------------------------------------------------
# Speech Commands / SC09


def _read_split_list(path: Path) -> set[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return {entry for entry in (_clean_list_entry(line) for line in f) if entry}
    except OSError as exc:
        raise DatasetError(f"cannot read split list {str(path)!r}: {exc}") from None


def _read_speaker_genders(path: Path) -> dict[str, str]:
    """Speaker id -> gender from a ``render_corpora.py`` ``speakers.json`` (a list of objects)."""
    speakers = _read_json(path)
    if not isinstance(speakers, list):
        raise DatasetError(
            f"{str(path)!r} must hold a JSON list of objects with 'id' and 'gender' "
            f"(got a {type(speakers).__name__})"
        )
    genders: dict[str, str] = {}
    for i, speaker in enumerate(speakers):
        if not isinstance(speaker, dict) or "id" not in speaker or "gender" not in speaker:
            raise DatasetError(f"entry {i} of {str(path)!r} must be an object with 'id' and 'gender'")
        genders[str(speaker["id"])] = str(speaker["gender"])
    return genders


def list_sc09(root: str | os.PathLike[str], *, split: str = "train") -> DatasetListing:
    """List the SC09 clips (the digit words of Speech Commands) of one split.

    Parameters
    ----------
    root : str or os.PathLike
        A Speech Commands root: word folders ``<word>/<speaker>_nohash_<n>.wav`` plus the split
        lists ``validation_list.txt`` and ``testing_list.txt``. Only the folders ``zero`` ...
        ``nine`` are read; every other word and ``_background_noise_/`` are ignored.
    split : {"train", "valid", "test"}
        ``"valid"`` and ``"test"`` are the entries of ``validation_list.txt`` /
        ``testing_list.txt`` that lie in a digit folder and exist; ``"train"`` is every
        ``<digit>/*.wav`` in neither list (if the lists are absent, every digit clip).

    Returns
    -------
    DatasetListing
        Reader ``"sc09"``; label = digit index, ``label_names = ["zero", ..., "nine"]``; crop
        ``"center"``; attributes ``speaker`` (the file name before ``_nohash_``) and, when a root
        ``speakers.json`` (list of ``{"id", "gender", ...}``) lists the speaker, ``gender``.

    Raises
    ------
    ParameterError
        If ``split`` is not a split name.
    DatasetError
        If root holds no digit folder, the split list of ``"valid"`` / ``"test"`` is missing,
        ``speakers.json`` is malformed, or the split is empty.
    """
    split = _choice("split", split, _SC09_SPLITS)
    base = _root_dir(root)
    digit_dirs = [(label, base / word) for label, word in enumerate(SC09_DIGITS) if (base / word).is_dir()]
    if not digit_dirs:
        raise DatasetError(
            f"no SC09 digit folder ({', '.join(SC09_DIGITS)}) in {str(base)!r}; "
            "root must be a Speech Commands folder"
        )
    labels = {word.name: label for label, word in digit_dirs}

    if split == "train":
        excluded: set[str] = set()
        for name in _SC09_LISTS.values():
            if (base / name).is_file():
                excluded |= _read_split_list(base / name)
        paths = [
            _relative(path, base)
            for _, folder in digit_dirs
            for path in folder.iterdir()
            if path.suffix.lower() == ".wav" and path.is_file()
        ]
        paths = [p for p in paths if p not in excluded]
    else:
        list_path = base / _SC09_LISTS[split]
        if not list_path.is_file():
            raise DatasetError(f"split list {str(list_path)!r} for split={split!r} does not exist")
        paths = [
            entry
            for entry in _read_split_list(list_path)
            if entry.split("/", 1)[0] in labels and (base / entry).is_file()
        ]
    if not paths:
        raise DatasetError(f"no SC09 clips of split {split!r} in {str(base)!r}")

    genders = _read_speaker_genders(base / "speakers.json") if (base / "speakers.json").is_file() else {}
    items = []
    for path in paths:
        word, file_name = path.split("/", 1)
        stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        speaker = stem.split("_nohash_", 1)[0]  # no _nohash_ in the name: the whole stem
        attributes = {"speaker": speaker}
        if speaker in genders:
            attributes["gender"] = genders[speaker]
        items.append(Item(path=path, label=labels[word], split=split, crop="center", attributes=attributes))
    return _listing("sc09", base, items, SC09_DIGITS, {"split": split})


# --------------------------------------------------------------------------------------------------
# LibriSpeech


def _read_librispeech_speakers(path: Path) -> dict[str, str]:
    """Speaker id -> sex (``F`` / ``M``) from a LibriSpeech ``SPEAKERS.TXT``."""
    genders: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        # ID | SEX | SUBSET | MINUTES | NAME, where NAME may itself contain '|'
        fields = [part.strip() for part in line.split("|", 4)]
        if len(fields) < 2 or not fields[0]:
            raise DatasetError(
                f"line {number} of {str(path)!r} is not 'ID | SEX | SUBSET | MINUTES | NAME': {line!r}"
            )
        sex = fields[1].upper()
        if sex not in LIBRISPEECH_GENDERS:
            raise DatasetError(
                f"line {number} of {str(path)!r} gives speaker {fields[0]} the SEX {fields[1]!r}; "
                f"expected one of {list(LIBRISPEECH_GENDERS)}"
            )
        genders[fields[0]] = sex
    return genders


def list_librispeech(
    root: str | os.PathLike[str],
    *,
    crops_per_file: int = 1,
    speakers_file: str | os.PathLike[str] | None = None,
) -> DatasetListing:
    """List the utterances of one LibriSpeech subset, labelled by speaker gender.

    Parameters
    ----------
    root : str or os.PathLike
        A subset folder such as ``.../LibriSpeech/train-clean-100``, holding
        ``<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``. Its name becomes every item's split.
    crops_per_file : int >= 1
        How many random crops to take of each file (items with crop_index 0 .. n-1); utterances
        last 10-35 s, so several 1 s crops per file are cheap extra data.
    speakers_file : str or os.PathLike, optional
        The ``SPEAKERS.TXT`` to read; by default ``root/SPEAKERS.TXT``, else the one in root's
        parent (where the LibriSpeech archives put it).

    Returns
    -------
    DatasetListing
        Reader ``"librispeech"``; label = index of the speaker's sex in ``label_names = ["F", "M"]``,
        -1 for speakers missing from SPEAKERS.TXT; crop ``"random"``; attributes ``speaker``,
        ``chapter`` and (when known) ``gender``. ``options["speakers_file"]`` is the absolute path
        of the SPEAKERS.TXT read.

    Raises
    ------
    ParameterError
        If ``crops_per_file`` is not a positive integer.
    DatasetError
        If no SPEAKERS.TXT is found, a line of it is malformed, or root holds no
        ``<speaker>/<chapter>/*.flac``.
    """
    if isinstance(crops_per_file, bool) or not isinstance(crops_per_file, int) or crops_per_file < 1:
        raise ParameterError(f"crops_per_file={crops_per_file!r} must be a positive integer")
    base = _root_dir(root)
    if speakers_file is not None:
        if not isinstance(speakers_file, (str, os.PathLike)):
            raise ParameterError(
                f"speakers_file={speakers_file!r} must be a path (str or os.PathLike) or None"
            )
        speakers_path = Path(os.fspath(speakers_file)).expanduser().resolve()
        if not speakers_path.is_file():
            raise DatasetError(f"speakers_file {str(speakers_path)!r} does not exist")
    else:
        candidates = [base / "SPEAKERS.TXT", base.parent / "SPEAKERS.TXT"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise DatasetError(
                f"no SPEAKERS.TXT at {str(candidates[0])!r} or {str(candidates[1])!r}; "
                "pass speakers_file=... to name it"
            )
        speakers_path = found[0]
    genders = _read_librispeech_speakers(speakers_path)

    items = []
    for speaker_dir in base.iterdir():
        if not speaker_dir.is_dir():
            continue
        for chapter_dir in speaker_dir.iterdir():
            if not chapter_dir.is_dir():
                continue
            for path in chapter_dir.iterdir():
                if path.suffix.lower() != ".flac" or not path.is_file():
                    continue
                gender = genders.get(speaker_dir.name)
                attributes = {"speaker": speaker_dir.name, "chapter": chapter_dir.name}
                if gender is not None:
                    attributes["gender"] = gender
                label = LIBRISPEECH_GENDERS.index(gender) if gender is not None else -1
                rel = _relative(path, base)
                items.extend(
                    Item(
                        path=rel,
                        label=label,
                        split=base.name,
                        crop="random",
                        crop_index=i,
                        attributes=attributes,
                    )
                    for i in range(crops_per_file)
                )
    if not items:
        raise DatasetError(
            f"no <speaker>/<chapter>/*.flac files in {str(base)!r}; "
            "root must be a LibriSpeech subset folder such as LibriSpeech/train-clean-100"
        )
    options = {"crops_per_file": crops_per_file, "speakers_file": str(speakers_path)}
    return _listing("librispeech", base, items, LIBRISPEECH_GENDERS, options)


# --------------------------------------------------------------------------------------------------
# any folder of audio files


def _audio_files(base: Path, extensions: tuple[str, ...]) -> list[str]:
    """Relative POSIX paths of the audio files under ``base`` (recursive, hidden names skipped)."""
    found = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(_relative(Path(folder) / name, base))
    return found


def _read_label_csv(path: Path) -> dict[str, str]:
    """Relative path -> label name from a CSV with header ``path,label``."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            if "path" not in columns or "label" not in columns:
                raise DatasetError(f"label CSV {str(path)!r} must have a header 'path,label' (got {columns})")
            reader.fieldnames = columns
            labels: dict[str, str] = {}
            for row in reader:
                rel = _clean_list_entry(row.get("path") or "")
                label = (row.get("label") or "").strip()
                if not rel or not label:
                    raise DatasetError(
                        f"line {reader.line_num} of {str(path)!r} needs both a path and a label"
                    )
                if labels.get(rel, label) != label:
                    raise DatasetError(
                        f"{str(path)!r} gives {rel!r} two labels: {labels[rel]!r} and {label!r}"
                    )
                labels[rel] = label
    except OSError as exc:
        raise DatasetError(f"cannot read label CSV {str(path)!r}: {exc}") from None
    return labels


def list_folder(
    root: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] = "subfolders",
    crop: str = "start",
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> DatasetListing:
    """List every audio file under a folder, labelled by sub-folder, by a CSV, or not at all.

    Parameters
    ----------
    root : str or os.PathLike
        Any directory tree; it is searched recursively. Files and folders whose names start with
        ``.`` are skipped.
    labels : "subfolders", "none" or path
        ``"subfolders"``: a file's label is its first-level sub-folder (``label_names`` are those
        sub-folder names, sorted); files directly in root get -1. ``"none"``: every label is -1 and
        ``label_names`` is empty. Otherwise the path (relative to the working directory) of a CSV
        file with header ``path,label``, whose paths are relative to root: ``label_names`` are its
        sorted distinct labels and audio files it does not list get -1.
    crop : {"start", "random", "center"}
        Crop policy of every item.
    extensions : sequence of str
        File extensions to list, each starting with ``.``; compared case-insensitively.

    Returns
    -------
    DatasetListing
        Reader ``"folder"``; every item has split ``"train"`` and no attributes.

    Raises
    ------
    ParameterError
        If ``crop`` or ``extensions`` is invalid, or ``labels`` is neither a mode nor a file.
    DatasetError
        If root holds no audio file, or the CSV is malformed or names files that are not audio
        files under root.
    """
    crop = _choice("crop", crop, CROP_POLICIES)
    ext_tuple = _str_tuple("extensions", extensions)
    bad = [e for e in ext_tuple if not e.startswith(".") or len(e) < 2]
    if bad:
        raise ParameterError(f"extensions={list(ext_tuple)!r} must each start with '.' (got {bad})")
    ext_tuple = tuple(dict.fromkeys(e.lower() for e in ext_tuple))
    csv_path: Path | None = None
    if isinstance(labels, str) and labels in _FOLDER_LABEL_MODES:
        mode = labels
    elif isinstance(labels, (str, os.PathLike)):
        csv_path = Path(os.fspath(labels)).expanduser().resolve()
        if not csv_path.is_file():
            raise ParameterError(
                f"labels={os.fspath(labels)!r} must be 'subfolders', 'none' or the path of a CSV file "
                f"with header 'path,label' (no file at {str(csv_path)!r})"
            )
        mode = "csv"
    else:
        raise ParameterError(f"labels={labels!r} must be 'subfolders', 'none' or the path of a CSV file")
    base = _root_dir(root)
    paths = _audio_files(base, ext_tuple)
    if not paths:
        raise DatasetError(f"no audio files with extensions {list(ext_tuple)} under {str(base)!r}")

    if mode == "subfolders":
        label_names = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
        index = {name: i for i, name in enumerate(label_names)}
        file_labels = {p: index[p.split("/", 1)[0]] if "/" in p else -1 for p in paths}
    elif csv_path is None:  # labels="none"
        label_names = []
        file_labels = dict.fromkeys(paths, -1)
    else:
        csv_labels = _read_label_csv(csv_path)
        listed = set(paths)
        strays = sorted(p for p in csv_labels if p not in listed)
        if strays:
            shown = ", ".join(repr(p) for p in strays[:5]) + (", ..." if len(strays) > 5 else "")
            raise DatasetError(
                f"{len(strays)} rows of {str(csv_path)!r} name files that are missing under {str(base)!r} "
                f"or lack an extension in {list(ext_tuple)}: {shown}"
            )
        label_names = sorted(set(csv_labels.values()))
        index = {name: i for i, name in enumerate(label_names)}
        file_labels = {p: index[csv_labels[p]] if p in csv_labels else -1 for p in paths}

    items = [Item(path=p, label=file_labels[p], split="train", crop=crop) for p in paths]
    options = {
        "labels": mode if csv_path is None else str(csv_path),
        "crop": crop,
        "extensions": list(ext_tuple),
    }
    return _listing("folder", base, items, label_names, options)


#: Every reader by name, as recorded in :attr:`DatasetListing.reader`.
READERS: dict[str, Callable[..., DatasetListing]] = {
    "nsynth": list_nsynth,
    "sc09": list_sc09,
    "librispeech": list_librispeech,
    "folder": list_folder,
}
