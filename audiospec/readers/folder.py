"""The folder reader: every audio file under a folder, labelled by sub-folder, by a CSV, or not at all."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from audiospec.errors import DatasetError, ParameterError
from audiospec.io import CROP_POLICIES
from audiospec.readers.listing import (
    DatasetListing,
    Item,
    choice,
    clean_list_entry,
    make_listing,
    relative_path,
    root_dir,
    str_tuple,
)

__all__ = ["AUDIO_EXTENSIONS", "list_folder"]

#: Default extensions of :func:`list_folder` (compared case-insensitively).
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

_FOLDER_LABEL_MODES: tuple[str, ...] = ("subfolders", "none")


def _audio_files(base: Path, extensions: tuple[str, ...]) -> list[str]:
    """Relative POSIX paths of the audio files under ``base`` (recursive, hidden names skipped)."""
    found = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(relative_path(Path(folder) / name, base))
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
                rel = clean_list_entry(row.get("path") or "")
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
    crop = choice("crop", crop, CROP_POLICIES)
    ext_tuple = str_tuple("extensions", extensions)
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
    base = root_dir(root)
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
    return make_listing("folder", base, items, label_names, options)
