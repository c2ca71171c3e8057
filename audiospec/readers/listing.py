"""What every dataset reader returns, and the checks and file helpers the readers share.

* :class:`Item` and :class:`DatasetListing`: a reader's result, which the cache builder reads.
* :func:`root_dir`, :func:`choice`, :func:`str_tuple`: argument checks with one clear message each.
* :func:`relative_path`, :func:`clean_list_entry`, :func:`read_json`, :func:`make_listing`: paths,
  list files, JSON metadata and the deterministic order of a listing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiospec.errors import DatasetError, ParameterError

__all__ = [
    "Item",
    "DatasetListing",
    "root_dir",
    "choice",
    "str_tuple",
    "relative_path",
    "clean_list_entry",
    "make_listing",
    "read_json",
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


def root_dir(root: str | os.PathLike[str], *, name: str = "root") -> Path:
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


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices`` (a ParameterError otherwise)."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name}={value!r} must be one of {list(choices)}")
    return value


def str_tuple(name: str, value: Any) -> tuple[str, ...]:
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


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with POSIX separators."""
    return path.relative_to(root).as_posix()


def clean_list_entry(entry: str) -> str:
    """Normalise a relative path read from a list or CSV file: POSIX separators, no leading ``./``."""
    entry = entry.strip().replace("\\", "/")
    while entry.startswith("./"):
        entry = entry[2:]
    return entry


def make_listing(
    reader: str, root: Path, items: list[Item], label_names: Sequence[str], options: dict[str, Any]
) -> DatasetListing:
    """The :class:`DatasetListing` of a reader, its items sorted by (path, crop_index)."""
    items = sorted(items, key=lambda item: (item.path, item.crop_index))
    return DatasetListing(
        reader=reader, root=str(root), items=items, label_names=list(label_names), options=options
    )


def read_json(path: Path) -> Any:
    """The JSON document in ``path``; DatasetError if it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{str(path)!r} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {str(path)!r}: {exc}") from None
