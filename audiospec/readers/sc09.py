"""The SC09 reader: the digit words of Speech Commands, one split."""

from __future__ import annotations

import os
from pathlib import Path

from audiospec.errors import DatasetError
from audiospec.readers.listing import (
    DatasetListing,
    Item,
    choice,
    clean_list_entry,
    make_listing,
    read_json,
    relative_path,
    root_dir,
)

__all__ = ["SC09_DIGITS", "list_sc09"]

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


_SC09_SPLITS: tuple[str, ...] = ("train", "valid", "test")
_SC09_LISTS: dict[str, str] = {"valid": "validation_list.txt", "test": "testing_list.txt"}


def _read_split_list(path: Path) -> set[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return {entry for entry in (clean_list_entry(line) for line in f) if entry}
    except OSError as exc:
        raise DatasetError(f"cannot read split list {str(path)!r}: {exc}") from None


def _read_speaker_genders(path: Path) -> dict[str, str]:
    """Speaker id -> gender from a ``render_corpora.py`` ``speakers.json`` (a list of objects)."""
    speakers = read_json(path)
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
    split = choice("split", split, _SC09_SPLITS)
    base = root_dir(root)
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
            relative_path(path, base)
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
    return make_listing("sc09", base, items, SC09_DIGITS, {"split": split})
