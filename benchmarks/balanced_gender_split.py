"""Make a rendered speech-digit corpus's test split gender-balanced, for the speaker-gender probe.

``render_corpora.py speech`` picks each speaker's espeak-ng voice at random, and most voices are
male: the corpus of the learning proof has 98 male and 22 female speakers, and its test split (every
fifth speaker) holds one female speaker, 10 clips of 240. A balanced accuracy on 10 clips moves by 5
points per clip. This script takes a *second* rendering (other speakers, other seed), keeps every
female speaker and as many male ones (the first in the file), and writes them as the whole
``testing_list.txt`` (``validation_list.txt`` empty), so that

    audiospec build-cache sc09 ROOT test.zarr --split test --stats-from train.zarr

builds a test cache of held-out speakers, half of them female.

Usage::

    python /work/shared/tools/render_corpora.py speech speech_g --speakers 300 --seed 7
    python benchmarks/balanced_gender_split.py speech_g
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def balanced_test_list(root: Path) -> tuple[list[str], int]:
    """The clips of every female speaker and of as many male speakers; and that count of each."""
    speakers = json.loads((root / "speakers.json").read_text())
    female = [s["id"] for s in speakers if s["gender"] == "F"]
    male = [s["id"] for s in speakers if s["gender"] == "M"][: len(female)]
    if not female or len(male) < len(female):
        raise SystemExit(f"{root}: {len(female)} female and {len(male)} male speakers; render more speakers")
    clips = [f"{d}/{sid}_nohash_0.wav" for sid in female + male for d in DIGITS]
    return [c for c in clips if (root / c).is_file()], len(female)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a render_corpora.py speech folder")
    args = parser.parse_args()
    clips, n = balanced_test_list(args.root)
    (args.root / "testing_list.txt").write_text("\n".join(clips) + "\n")
    (args.root / "validation_list.txt").write_text("")
    print(f"{args.root}/testing_list.txt: {len(clips)} clips of {n} female and {n} male speakers")


if __name__ == "__main__":
    main()
