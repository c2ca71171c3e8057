"""Dataset readers: turn a dataset folder into a list of items to put in a spectrogram cache.

Each reader is a plain function ``list_<name>(root, *, ...) -> DatasetListing``. It only *lists*
(paths, labels, splits, crop policy, attributes); audio is read later, in parallel, by the cache
builder, which also skips (and records) unreadable files. Readers raise
:class:`~audiospec.errors.DatasetError` with one clear line for a malformed dataset (missing
metadata file, unknown family name, empty selection).

One module per dataset (:mod:`~audiospec.readers.nsynth`, :mod:`~audiospec.readers.sc09`,
:mod:`~audiospec.readers.librispeech`, :mod:`~audiospec.readers.folder`), and
:mod:`~audiospec.readers.listing` for what they return and the checks they share.
"""

from __future__ import annotations

from collections.abc import Callable

from audiospec.readers.folder import AUDIO_EXTENSIONS, list_folder
from audiospec.readers.librispeech import LIBRISPEECH_GENDERS, list_librispeech
from audiospec.readers.listing import DatasetListing, Item
from audiospec.readers.nsynth import NSYNTH_FAMILIES, NSYNTH_SOURCES, NSYNTH_SPLITS, list_nsynth
from audiospec.readers.sc09 import SC09_DIGITS, list_sc09

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

#: Every reader by name, as recorded in :attr:`DatasetListing.reader`.
READERS: dict[str, Callable[..., DatasetListing]] = {
    "nsynth": list_nsynth,
    "sc09": list_sc09,
    "librispeech": list_librispeech,
    "folder": list_folder,
}
