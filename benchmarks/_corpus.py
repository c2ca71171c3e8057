"""The corpora of ``bench_cache.py``: N for a corpus, and the corpus under more names (``--copies``).

See ``bench_cache.py``'s docstring for why N is rounded to pairs of 64-file build tasks.

Longer intervals: ``--copies K``
--------------------------------
With K > 1 the corpus is first replicated into the scratch folder: the same layout, holding every
file K times under K names (``c00_<note>.wav``, ``c01_<note>.wav``, ...: hard links where the
filesystem allows, else copies) with the same ``examples.json`` entries, so N and 3N are K times
larger. Every file is still opened, decoded, transformed and written for real (a hard link is
another name for the same bytes, not a cached result), so the target means the same: a slope
between N and 3N files. What changes is the length of the timed interval: with the 939-file
benchmark corpus, t(3N) - t(N) of a 1-worker build is ~0.3 s at K = 1 (N = 256 after the
rounding), short enough for the variance of the fixed costs (the 2-worker pool's start alone takes
~0.7 s) to swamp it; at K = 4 (N = 1,152, 3N = 3,456) it is ~1 s. In
listing order the copies follow one another (all of ``c00_``, then ``c01_``, ...), so at K = 4 N
holds every original file (213 of them twice) and 3N - N a mix of them all.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = ["TASK_PAIR", "default_n_small", "replicate_corpus"]

TASK_PAIR = 2 * 64  # two build tasks of build_cache's default shard_size: N is a multiple


def default_n_small(n_files: int) -> int:
    """N for a corpus of ``n_files``: a third of it, rounded down to a multiple of :data:`TASK_PAIR`
    when it holds one (see the module docstring)."""
    third = n_files // 3
    return third // TASK_PAIR * TASK_PAIR if third >= TASK_PAIR else third


def replicate_corpus(source: Path, target: Path, copies: int) -> Path:
    """An NSynth-layout corpus (train split) at ``target`` that holds every file of ``source``'s
    train split under ``copies`` names, ``c00_<note>.wav`` ... (hard links, else copies), with the
    same ``examples.json`` entries; returns ``target``."""
    split = source if source.name == "nsynth-train" else source / "nsynth-train"
    examples = json.loads((split / "examples.json").read_text())
    audio = target / "nsynth-train" / "audio"
    audio.mkdir(parents=True)
    replicated = {}
    for j in range(copies):
        for note, entry in examples.items():
            name = f"c{j:02d}_{note}"
            original = split / "audio" / f"{note}.wav"
            if original.exists():  # a listed but missing file stays missing (skipped by the build)
                try:
                    os.link(original, audio / f"{name}.wav")
                except OSError:
                    shutil.copyfile(original, audio / f"{name}.wav")
            replicated[name] = {**entry, "note_str": name}
    (target / "nsynth-train" / "examples.json").write_text(json.dumps(replicated))
    return target
