"""The NSynth reader: notes of one split, filtered by instrument family and source."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiospec.errors import DatasetError
from audiospec.readers.listing import (
    DatasetListing,
    Item,
    choice,
    make_listing,
    read_json,
    root_dir,
    str_tuple,
)

__all__ = ["NSYNTH_FAMILIES", "NSYNTH_SOURCES", "NSYNTH_SPLITS", "list_nsynth"]

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
    split = choice("split", split, NSYNTH_SPLITS)
    families = str_tuple("families", families)
    unknown = [f for f in families if f not in NSYNTH_FAMILIES]
    if unknown:
        raise DatasetError(
            f"families={list(families)!r} names unknown NSynth families {unknown}; "
            f"valid families: {', '.join(NSYNTH_FAMILIES)}"
        )
    source_tuple = str_tuple("sources", sources)
    all_sources = source_tuple == ("all",)
    if not all_sources:
        unknown = [s for s in source_tuple if s not in NSYNTH_SOURCES]
        if unknown:
            raise DatasetError(
                f"sources={list(source_tuple)!r} names unknown NSynth sources {unknown}; "
                f"valid sources: {', '.join(NSYNTH_SOURCES)} (or 'all')"
            )
    meta_path = _nsynth_examples_path(root_dir(root), split)
    split_dir = meta_path.parent
    base = split_dir.parent
    examples = read_json(meta_path)
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
    return make_listing("nsynth", base, items, families, options)
