"""The LibriSpeech reader: the utterances of one subset, labelled by speaker gender."""

from __future__ import annotations

import os
from pathlib import Path

from audiospec.errors import DatasetError, ParameterError
from audiospec.readers.listing import DatasetListing, Item, make_listing, relative_path, root_dir

__all__ = ["LIBRISPEECH_GENDERS", "list_librispeech"]

#: LibriSpeech label names: the SEX column of SPEAKERS.TXT.
LIBRISPEECH_GENDERS: tuple[str, ...] = ("F", "M")


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
    base = root_dir(root)
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
                rel = relative_path(path, base)
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
    return make_listing("librispeech", base, items, LIBRISPEECH_GENDERS, options)
