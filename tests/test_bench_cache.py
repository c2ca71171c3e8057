"""benchmarks/bench_cache.py's replicated corpus (``--copies``): the same files under more names."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audiospec.readers import list_nsynth

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench_cache():
    sys.path.insert(0, str(BENCHMARKS))  # for its `from _common import ...`
    try:
        spec = importlib.util.spec_from_file_location("bench_cache", BENCHMARKS / "bench_cache.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_replicated_corpus_lists_every_file_copies_times(tmp_path):
    bench = _bench_cache()
    split = tmp_path / "src" / "nsynth-train"
    (split / "audio").mkdir(parents=True)
    notes = ["guitar_x_001-060-100", "mallet_y_002-061-050", "string_z_003-062-025"]
    examples = {}
    for i, note in enumerate(notes):
        family, source = note.split("_")[0], ["acoustic", "electronic", "synthetic"][i]
        examples[note] = {
            "note_str": note, "pitch": 60 + i, "velocity": 100, "instrument_str": note.rsplit("-", 2)[0],
            "instrument_family_str": family, "instrument_source_str": source,
        }  # fmt: skip
        if i < 2:  # the third note is listed but missing: it must stay missing
            sf.write(split / "audio" / f"{note}.wav", np.full(1600, 0.1 * (i + 1)), 16000, subtype="PCM_16")
    (split / "examples.json").write_text(json.dumps(examples))
    families, everything = ("guitar", "mallet", "string"), ("all",)
    original = list_nsynth(tmp_path / "src", families=families, sources=everything)
    target = bench.replicate_corpus(tmp_path / "src", tmp_path / "copy", 3)
    replicated = list_nsynth(target, families=families, sources=everything)
    assert len(replicated.items) == 3 * len(original.items) == 9
    # in listing order the copies follow one another, each one a whole copy of the corpus
    for j in range(3):
        block = replicated.items[3 * j : 3 * j + 3]
        for copy, item in zip(block, original.items, strict=True):
            assert copy.path == item.path.replace("audio/", f"audio/c{j:02d}_")
            assert (copy.label, copy.split, copy.crop, copy.attributes) == (
                item.label, item.split, item.crop, item.attributes,
            )  # fmt: skip
            source, name = Path(original.root, item.path), Path(replicated.root, copy.path)
            assert source.exists() == name.exists()
            if source.exists():  # another name for the same bytes (a hard link on one filesystem)
                assert name.read_bytes() == source.read_bytes()
                assert os.stat(name).st_ino == os.stat(source).st_ino
    assert "x 3 (each file under 3 names" in bench.markdown(
        {"corpus": "c", "copies": 3, "n_files": 9, "n_small": 3, "n_large": 9, "repeat": 1,
         "environment": {k: "" for k in ("cpu", "python", "numpy", "scipy", "soundfile", "zarr", "numba",
                                         "librosa", "audiospec")},
         "cores": 2, "load_average": {"before": [0, 0, 0], "after": [0, 0, 0]}}
    )  # fmt: skip


def test_n_is_a_third_of_the_corpus_in_pairs_of_tasks():
    # 2 workers get as many 64-file tasks each at N and at 3N (the tails cancel in the slope)
    bench = _bench_cache()
    assert [bench.default_n_small(n) for n in (939, 3756, 300, 1000)] == [256, 1152, 100, 256]
    for n in (939, 3756, 10_000):
        small = bench.default_n_small(n)
        assert 3 * small <= n and small % 128 == 0 and (3 * small // 64) % 2 == 0
