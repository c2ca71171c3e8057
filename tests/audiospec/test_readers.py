"""Dataset readers on tiny fixture trees in the layouts of NSynth, SC09, LibriSpeech and a plain folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiospec.errors import DatasetError, ParameterError
from audiospec.readers import (
    READERS,
    SC09_DIGITS,
    DatasetListing,
    Item,
    list_folder,
    list_librispeech,
    list_nsynth,
    list_sc09,
)

SR = 16000


def write_audio(path: Path, *, n: int = 160) -> None:
    """Write a short, real (non-silent) mono file; the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y = 0.1 * np.sin(2 * np.pi * 440.0 * np.arange(n) / SR)
    sf.write(path, y.astype(np.float32), SR, format="FLAC" if path.suffix == ".flac" else "WAV")


# --------------------------------------------------------------------------------------------------
# NSynth

NSYNTH_NOTES = [
    # (instrument_str, family, family code, source, source code, pitch, velocity)
    ("guitar_acoustic_001", "guitar", 3, "acoustic", 0, 60, 100),
    ("guitar_electronic_002", "guitar", 3, "electronic", 1, 62, 50),
    ("string_acoustic_003", "string", 8, "acoustic", 0, 48, 75),
    ("mallet_acoustic_004", "mallet", 5, "acoustic", 0, 72, 127),
    ("mallet_synthetic_005", "mallet", 5, "synthetic", 2, 74, 25),
    ("bass_synthetic_006", "bass", 0, "synthetic", 2, 33, 50),
]


def make_nsynth(root: Path, split: str = "train", notes=NSYNTH_NOTES) -> Path:
    split_dir = root / f"nsynth-{split}"
    examples = {}
    for instrument, family, fam_code, source, src_code, pitch, velocity in notes:
        note = f"{instrument}-{pitch:03d}-{velocity:03d}"
        write_audio(split_dir / "audio" / f"{note}.wav")
        examples[note] = {
            "note_str": note,
            "pitch": pitch,
            "velocity": velocity,
            "sample_rate": SR,
            "instrument_str": instrument,
            "instrument_family": fam_code,
            "instrument_family_str": family,
            "instrument_source": src_code,
            "instrument_source_str": source,
            "qualities": [0] * 10,
        }
    (split_dir / "examples.json").write_text(json.dumps(examples))
    return split_dir


def test_nsynth_default_filter_labels_and_attributes(tmp_path):
    make_nsynth(tmp_path)
    listing = list_nsynth(tmp_path)
    assert isinstance(listing, DatasetListing)
    assert listing.reader == "nsynth"
    assert listing.root == str(tmp_path.resolve())
    assert listing.label_names == ["guitar", "string", "mallet"]
    assert [(i.path, i.label) for i in listing.items] == [
        ("nsynth-train/audio/guitar_acoustic_001-060-100.wav", 0),
        ("nsynth-train/audio/mallet_acoustic_004-072-127.wav", 2),
        ("nsynth-train/audio/string_acoustic_003-048-075.wav", 1),
    ]
    first = listing.items[0]
    assert first.split == "train" and first.crop == "start" and first.crop_index == 0
    assert first.attributes == {
        "pitch": "60",
        "velocity": "100",
        "instrument_str": "guitar_acoustic_001",
        "source": "acoustic",
    }
    assert listing.options == {
        "split": "train",
        "families": ["guitar", "string", "mallet"],
        "sources": ["acoustic"],
    }
    assert json.loads(json.dumps(listing.options)) == listing.options
    for item in listing.items:
        assert (Path(listing.root) / item.path).is_file()


@pytest.mark.parametrize("sources", ["all", ("all",), ["all"]])
def test_nsynth_all_sources(tmp_path, sources):
    make_nsynth(tmp_path)
    listing = list_nsynth(tmp_path, families=("mallet", "guitar"), sources=sources)
    assert listing.label_names == ["mallet", "guitar"]
    assert [(Path(i.path).stem.split("-")[0], i.label, i.attributes["source"]) for i in listing.items] == [
        ("guitar_acoustic_001", 1, "acoustic"),
        ("guitar_electronic_002", 1, "electronic"),
        ("mallet_acoustic_004", 0, "acoustic"),
        ("mallet_synthetic_005", 0, "synthetic"),
    ]
    assert listing.options["sources"] == "all"


def test_nsynth_source_subset(tmp_path):
    make_nsynth(tmp_path)
    listing = list_nsynth(
        tmp_path, families=["guitar", "mallet", "bass"], sources=["electronic", "synthetic"]
    )
    assert [i.path.split("/")[-1] for i in listing.items] == [
        "bass_synthetic_006-033-050.wav",
        "guitar_electronic_002-062-050.wav",
        "mallet_synthetic_005-074-025.wav",
    ]
    assert [i.label for i in listing.items] == [2, 0, 1]


def test_nsynth_root_may_be_the_split_folder(tmp_path):
    split_dir = make_nsynth(tmp_path, split="valid")
    from_holder = list_nsynth(tmp_path, split="valid")
    from_split = list_nsynth(split_dir, split="valid")
    assert from_holder == from_split
    assert from_split.root == str(tmp_path.resolve())
    assert all(i.path.startswith("nsynth-valid/audio/") and i.split == "valid" for i in from_split.items)


def test_nsynth_integer_codes_and_note_str_fallback(tmp_path):
    split_dir = tmp_path / "nsynth-test"
    split_dir.mkdir()
    examples = {"string_acoustic_009-050-075": {"instrument_family": 8, "instrument_source": 0}}
    (split_dir / "examples.json").write_text(json.dumps(examples))
    (item,) = list_nsynth(tmp_path, split="test").items
    assert item.label == 1
    assert item.attributes == {
        "pitch": "50",
        "velocity": "75",
        "instrument_str": "string_acoustic_009",
        "source": "acoustic",
    }


def test_nsynth_missing_examples_json(tmp_path):
    with pytest.raises(DatasetError, match=r"nsynth-train[/\\]examples\.json' does not exist"):
        list_nsynth(tmp_path)
    make_nsynth(tmp_path, split="valid")
    with pytest.raises(DatasetError, match=r"pass split='valid'"):
        list_nsynth(tmp_path / "nsynth-valid", split="train")
    (tmp_path / "nsynth-test").mkdir()
    with pytest.raises(DatasetError, match=r"nsynth-test[/\\]examples\.json' does not exist"):
        list_nsynth(tmp_path / "nsynth-test", split="test")


def test_nsynth_unknown_family_lists_valid_ones(tmp_path):
    make_nsynth(tmp_path)
    with pytest.raises(
        DatasetError, match=r"unknown NSynth families \['guitr'\]; valid families: bass, brass"
    ):
        list_nsynth(tmp_path, families=("guitr", "string"))


def test_nsynth_unknown_source(tmp_path):
    make_nsynth(tmp_path)
    with pytest.raises(DatasetError, match=r"unknown NSynth sources \['analog'\]; valid sources: acoustic"):
        list_nsynth(tmp_path, sources=("analog",))


def test_nsynth_empty_selection_says_what_was_filtered(tmp_path):
    rendered = [("string_gm_040", "string", 8, "synthetic", 2, 60, 100)]
    make_nsynth(tmp_path, notes=rendered)
    with pytest.raises(
        DatasetError,
        match=r"no notes of families \['guitar', 'string', 'mallet'\] and sources \['acoustic'\] in .*"
        r"pass sources='all' \(--sources all on the command line\)",
    ):
        list_nsynth(tmp_path)
    with pytest.raises(DatasetError, match=r"no notes of families \['vocal'\] and sources 'all'"):
        list_nsynth(tmp_path, families="vocal", sources="all")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"split": "validation"}, r"split='validation' must be one of \['train', 'valid', 'test'\]"),
        ({"families": ()}, r"families=\(\) must name at least one value"),
        ({"families": ("guitar", "guitar")}, r"names \['guitar'\] more than once"),
        ({"sources": [1]}, r"sources=\[1\] must contain only strings"),
    ],
)
def test_nsynth_bad_arguments(tmp_path, kwargs, pattern):
    make_nsynth(tmp_path)
    with pytest.raises(ParameterError, match=pattern):
        list_nsynth(tmp_path, **kwargs)


def test_nsynth_malformed_examples_json(tmp_path):
    split_dir = tmp_path / "nsynth-train"
    split_dir.mkdir()
    (split_dir / "examples.json").write_text("[]")
    with pytest.raises(DatasetError, match="must hold one JSON object keyed by note_str"):
        list_nsynth(tmp_path)
    (split_dir / "examples.json").write_text("{")
    with pytest.raises(DatasetError, match="is not valid JSON"):
        list_nsynth(tmp_path)


# --------------------------------------------------------------------------------------------------
# Speech Commands / SC09


def make_speech_commands(root: Path) -> Path:
    """Speakers aaa (test), bbb (valid), ccc and ddd (train); plus non-digit folders."""
    for word in ("zero", "one", "nine"):
        for speaker in ("aaa", "bbb", "ccc"):
            write_audio(root / word / f"{speaker}_nohash_0.wav")
    write_audio(root / "one" / "ddd_nohash_1.wav")
    write_audio(root / "yes" / "ccc_nohash_0.wav")
    write_audio(root / "_background_noise_" / "white_noise.wav")
    (root / "one" / "README.txt").write_text("not audio")
    (root / "testing_list.txt").write_text(
        "zero/aaa_nohash_0.wav\none/aaa_nohash_0.wav\nnine/aaa_nohash_0.wav\nyes/aaa_nohash_0.wav\n"
    )
    # a missing file and a non-digit word, both ignored; CRLF line endings and a blank line
    (root / "validation_list.txt").write_text(
        "zero/bbb_nohash_0.wav\r\none/bbb_nohash_0.wav\r\nnine/bbb_nohash_0.wav\r\n"
        "two/bbb_nohash_0.wav\r\nyes/ccc_nohash_0.wav\r\n\r\n"
    )
    speakers = [
        {"id": "aaa", "voice": "en-us+m1", "gender": "M", "pitch": 50},
        {"id": "bbb", "voice": "en-gb+f2", "gender": "F", "pitch": 60},
        {"id": "ccc", "voice": "en-us+f1", "gender": "F", "pitch": 40},
    ]
    (root / "speakers.json").write_text(json.dumps(speakers))
    return root


def test_sc09_train_excludes_lists_and_non_digit_folders(tmp_path):
    make_speech_commands(tmp_path)
    listing = list_sc09(tmp_path)
    assert listing.reader == "sc09"
    assert listing.label_names == list(SC09_DIGITS)
    assert listing.root == str(tmp_path.resolve())
    assert [(i.path, i.label) for i in listing.items] == [
        ("nine/ccc_nohash_0.wav", 9),
        ("one/ccc_nohash_0.wav", 1),
        ("one/ddd_nohash_1.wav", 1),
        ("zero/ccc_nohash_0.wav", 0),
    ]
    assert all(i.split == "train" and i.crop == "center" for i in listing.items)
    assert listing.items[0].attributes == {"speaker": "ccc", "gender": "F"}
    assert listing.items[2].attributes == {"speaker": "ddd"}  # not in speakers.json
    assert listing.options == {"split": "train"}


@pytest.mark.parametrize(("split", "speaker", "gender"), [("valid", "bbb", "F"), ("test", "aaa", "M")])
def test_sc09_valid_and_test_from_lists(tmp_path, split, speaker, gender):
    make_speech_commands(tmp_path)
    listing = list_sc09(tmp_path, split=split)
    assert [(i.path, i.label) for i in listing.items] == [
        (f"nine/{speaker}_nohash_0.wav", 9),
        (f"one/{speaker}_nohash_0.wav", 1),
        (f"zero/{speaker}_nohash_0.wav", 0),
    ]
    assert all(
        i.split == split and i.attributes == {"speaker": speaker, "gender": gender} for i in listing.items
    )


def test_sc09_splits_are_disjoint_and_cover_the_digit_clips(tmp_path):
    make_speech_commands(tmp_path)
    splits = {s: {i.path for i in list_sc09(tmp_path, split=s).items} for s in ("train", "valid", "test")}
    assert not (splits["train"] & splits["valid"] or splits["train"] & splits["test"])
    assert not splits["valid"] & splits["test"]
    assert sum(len(s) for s in splits.values()) == 10


def test_sc09_without_speakers_json_or_lists(tmp_path):
    make_speech_commands(tmp_path)
    for name in ("speakers.json", "testing_list.txt", "validation_list.txt"):
        (tmp_path / name).unlink()
    listing = list_sc09(tmp_path)
    assert len(listing.items) == 10
    assert all(set(i.attributes) == {"speaker"} for i in listing.items)
    with pytest.raises(
        DatasetError, match=r"split list '.*validation_list\.txt' for split='valid' does not exist"
    ):
        list_sc09(tmp_path, split="valid")
    with pytest.raises(DatasetError, match=r"testing_list\.txt' for split='test' does not exist"):
        list_sc09(tmp_path, split="test")


def test_sc09_errors(tmp_path):
    write_audio(tmp_path / "yes" / "aaa_nohash_0.wav")
    with pytest.raises(DatasetError, match=r"no SC09 digit folder \(zero, one, .*nine\) in"):
        list_sc09(tmp_path)
    with pytest.raises(ParameterError, match=r"split='dev' must be one of"):
        list_sc09(tmp_path, split="dev")
    with pytest.raises(DatasetError, match="does not exist"):
        list_sc09(tmp_path / "missing")
    (tmp_path / "zero").mkdir()
    (tmp_path / "testing_list.txt").write_text("yes/aaa_nohash_0.wav\n")
    with pytest.raises(DatasetError, match=r"no SC09 clips of split 'test'"):
        list_sc09(tmp_path, split="test")
    write_audio(tmp_path / "zero" / "aaa_nohash_0.wav")
    (tmp_path / "speakers.json").write_text(json.dumps({"aaa": "M"}))
    with pytest.raises(DatasetError, match="must hold a JSON list of objects with 'id' and 'gender'"):
        list_sc09(tmp_path)


# --------------------------------------------------------------------------------------------------
# LibriSpeech

SPEAKERS_TXT = """\
; LibriSpeech speakers
; Some names contain '|' characters.
;ID  |SEX| SUBSET           |MINUTES| NAME
14   | F | train-clean-360  | 25.03 | Kristin LeMoine

60   | M | train-clean-100  | 20.18 | |CBW|Simon
103  | F | train-clean-100  | 25.02 | Karen Savage
"""


def make_librispeech(parent: Path) -> Path:
    subset = parent / "LibriSpeech" / "train-clean-100"
    for speaker, chapter, utts in (("60", "121082", 2), ("103", "1240", 1), ("999", "5", 1)):
        for utt in range(utts):
            write_audio(subset / speaker / chapter / f"{speaker}-{chapter}-{utt:04d}.flac")
        (subset / speaker / chapter / f"{speaker}-{chapter}.trans.txt").write_text("0000 HELLO\n")
    (subset.parent / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    return subset


def test_librispeech_labels_from_speakers_txt_in_parent(tmp_path):
    subset = make_librispeech(tmp_path)
    listing = list_librispeech(subset)
    assert listing.reader == "librispeech"
    assert listing.label_names == ["F", "M"]
    assert listing.root == str(subset.resolve())
    assert [(i.path, i.label) for i in listing.items] == [
        ("103/1240/103-1240-0000.flac", 0),
        ("60/121082/60-121082-0000.flac", 1),
        ("60/121082/60-121082-0001.flac", 1),
        ("999/5/999-5-0000.flac", -1),
    ]
    assert all(i.split == "train-clean-100" and i.crop == "random" for i in listing.items)
    assert listing.items[1].attributes == {"speaker": "60", "chapter": "121082", "gender": "M"}
    assert listing.items[3].attributes == {"speaker": "999", "chapter": "5"}
    assert listing.options == {
        "crops_per_file": 1,
        "speakers_file": str((subset.parent / "SPEAKERS.TXT").resolve()),
    }


def test_librispeech_crops_per_file(tmp_path):
    listing = list_librispeech(make_librispeech(tmp_path), crops_per_file=3)
    assert len(listing.items) == 12
    assert [(i.path, i.crop_index) for i in listing.items[:4]] == [
        ("103/1240/103-1240-0000.flac", 0),
        ("103/1240/103-1240-0000.flac", 1),
        ("103/1240/103-1240-0000.flac", 2),
        ("60/121082/60-121082-0000.flac", 0),
    ]


def test_librispeech_speakers_file_lookup_order(tmp_path):
    subset = make_librispeech(tmp_path)
    (subset / "SPEAKERS.TXT").write_text("60 | F | train-clean-100 | 1.0 | Someone\n")
    listing = list_librispeech(subset)
    assert listing.options["speakers_file"] == str((subset / "SPEAKERS.TXT").resolve())
    assert {i.attributes["speaker"]: i.label for i in listing.items} == {"60": 0, "103": -1, "999": -1}
    explicit = tmp_path / "elsewhere.txt"
    explicit.write_text("999|M|train-clean-100|3.0|Someone | else\n")
    listing = list_librispeech(subset, speakers_file=explicit)
    assert {i.attributes["speaker"]: i.label for i in listing.items} == {"60": -1, "103": -1, "999": 1}


def test_librispeech_errors(tmp_path):
    subset = make_librispeech(tmp_path)
    with pytest.raises(ParameterError, match=r"crops_per_file=0 must be a positive integer"):
        list_librispeech(subset, crops_per_file=0)
    with pytest.raises(ParameterError, match=r"crops_per_file=True must be a positive integer"):
        list_librispeech(subset, crops_per_file=True)
    with pytest.raises(DatasetError, match=r"speakers_file '.*nope\.txt' does not exist"):
        list_librispeech(subset, speakers_file=tmp_path / "nope.txt")
    with pytest.raises(DatasetError, match=r"no <speaker>/<chapter>/\*\.flac files in .*subset folder"):
        list_librispeech(subset.parent)  # the LibriSpeech folder, not a subset
    bad = tmp_path / "bad.txt"
    bad.write_text("; comment\n60 | X | train-clean-100 | 1.0 | Someone\n")
    with pytest.raises(DatasetError, match=r"line 2 of .* gives speaker 60 the SEX 'X'; expected one of"):
        list_librispeech(subset, speakers_file=bad)
    (subset.parent / "SPEAKERS.TXT").unlink()
    with pytest.raises(DatasetError, match=r"no SPEAKERS\.TXT at .* pass speakers_file="):
        list_librispeech(subset)


# --------------------------------------------------------------------------------------------------
# any folder


def make_folder(root: Path) -> Path:
    write_audio(root / "dogs" / "a.wav")
    write_audio(root / "dogs" / "deep" / "b.FLAC")
    write_audio(root / "cats" / "c.flac")
    write_audio(root / "loose.wav")
    (root / "notes.txt").write_text("not audio")
    write_audio(root / ".hidden" / "d.wav")
    return root


def test_folder_subfolder_labels(tmp_path):
    make_folder(tmp_path)
    listing = list_folder(tmp_path)
    assert listing.reader == "folder"
    assert listing.label_names == ["cats", "dogs"]
    assert [(i.path, i.label) for i in listing.items] == [
        ("cats/c.flac", 0),
        ("dogs/a.wav", 1),
        ("dogs/deep/b.FLAC", 1),
        ("loose.wav", -1),
    ]
    assert all(i.split == "train" and i.crop == "start" and i.attributes == {} for i in listing.items)
    assert listing.options == {
        "labels": "subfolders",
        "crop": "start",
        "extensions": [".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"],
    }


def test_folder_unlabelled_and_extensions(tmp_path):
    make_folder(tmp_path)
    listing = list_folder(tmp_path, labels="none", crop="random", extensions=(".WAV",))
    assert listing.label_names == []
    assert [(i.path, i.label, i.crop) for i in listing.items] == [
        ("dogs/a.wav", -1, "random"),
        ("loose.wav", -1, "random"),
    ]
    assert listing.options["extensions"] == [".wav"]


def test_folder_csv_labels(tmp_path):
    root = make_folder(tmp_path / "data")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\ndogs/a.wav,loud\ncats/c.flac,quiet\n./loose.wav,loud\n")
    listing = list_folder(root, labels=labels, crop="center")
    assert listing.label_names == ["loud", "quiet"]
    assert [(i.path, i.label) for i in listing.items] == [
        ("cats/c.flac", 1),
        ("dogs/a.wav", 0),
        ("dogs/deep/b.FLAC", -1),
        ("loose.wav", 0),
    ]
    assert listing.options["labels"] == str(labels.resolve())


def test_folder_csv_errors(tmp_path):
    root = make_folder(tmp_path / "data")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\ndogs/a.wav,loud\ndogs/missing.wav,loud\nnotes.txt,quiet\n")
    with pytest.raises(DatasetError, match=r"2 rows of .* name files that are missing .*'dogs/missing\.wav'"):
        list_folder(root, labels=labels)
    labels.write_text("file,class\ndogs/a.wav,loud\n")
    with pytest.raises(DatasetError, match=r"must have a header 'path,label'"):
        list_folder(root, labels=labels)
    labels.write_text("path,label\ndogs/a.wav,loud\ndogs/a.wav,quiet\n")
    with pytest.raises(DatasetError, match=r"gives 'dogs/a\.wav' two labels"):
        list_folder(root, labels=labels)
    with pytest.raises(ParameterError, match=r"labels='subfolder' must be 'subfolders', 'none' or the path"):
        list_folder(root, labels="subfolder")


def test_folder_argument_and_empty_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(DatasetError, match=r"no audio files with extensions \['\.wav', .*\] under"):
        list_folder(tmp_path)
    with pytest.raises(ParameterError, match=r"crop='middle' must be one of \['start', 'random', 'center'\]"):
        list_folder(tmp_path, crop="middle")
    with pytest.raises(ParameterError, match=r"must each start with '\.' \(got \['wav'\]\)"):
        list_folder(tmp_path, extensions=["wav"])
    with pytest.raises(DatasetError, match=r"dataset root '.*missing' does not exist"):
        list_folder(tmp_path / "missing")
    with pytest.raises(ParameterError, match=r"root=42 must be a path"):
        list_folder(42)


# --------------------------------------------------------------------------------------------------
# every reader


def test_registry():
    assert READERS == {
        "nsynth": list_nsynth,
        "sc09": list_sc09,
        "librispeech": list_librispeech,
        "folder": list_folder,
    }


def build_all(root: Path) -> dict[str, DatasetListing]:
    make_nsynth(root / "nsynth")
    make_speech_commands(root / "sc")
    subset = make_librispeech(root / "ls")
    make_folder(root / "folder")
    return {
        "nsynth": READERS["nsynth"](root / "nsynth", sources="all"),
        "sc09": READERS["sc09"](root / "sc"),
        "librispeech": READERS["librispeech"](subset, crops_per_file=2),
        "folder": READERS["folder"](root / "folder"),
    }


def test_listings_are_deterministic_sorted_and_rerunnable(tmp_path):
    first = build_all(tmp_path)
    assert first == build_all(tmp_path)  # same trees (rewritten) give equal listings
    for name, listing in first.items():
        assert listing.reader == name
        assert Path(listing.root).is_absolute()
        keys = [(i.path, i.crop_index) for i in listing.items]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert all(isinstance(i, Item) and "\\" not in i.path for i in listing.items)
        assert all((Path(listing.root) / i.path).is_file() for i in listing.items)
        assert all(-1 <= i.label < len(listing.label_names) for i in listing.items)
        assert json.loads(json.dumps(listing.options)) == listing.options
        assert READERS[name](listing.root, **listing.options) == listing
