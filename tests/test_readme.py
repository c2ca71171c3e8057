"""Run every command of the README's tour, and its Python example, so the README cannot drift.

The tour is the set of ```bash blocks that follow a ``<!-- tour -->`` line in README.md; every
non-empty, non-comment line of them is one shell command (a trailing ``  # comment`` is dropped).
The commands run in order, in one temporary working directory that holds small synthetic datasets in
the real on-disk layouts the README's paths name (``data/nsynth``, ``data/speech_commands``,
``data/LibriSpeech/train-clean-100``, ``data/my_sounds``, ``data/note.wav``, ``data/recordings``),
with ``gaae push`` / ``from_pretrained`` pointed at a loopback Hugging Face Hub (``HF_ENDPOINT``).

Step and sample counts are shrunk by the :data:`SHRINK` table below, and only by it: a reader can
see exactly what differs from the README. Commands, sub-commands, paths and every other option are
run as written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiospec.cache import open_cache
from tests.gaae_models.hub_server import HubServer
from tests.layouts import (
    make_acoustic_nsynth,
    make_labelled_folder,
    make_librispeech,
    make_speech_commands,
    tone_clip,
    write_clip,
)

README = Path(__file__).resolve().parents[1] / "README.md"
TOUR_MARKER = "<!-- tour -->"
PYTHON_HEADING = "### Python"
MIN_TOUR_COMMANDS = 25
COMMAND_TIMEOUT_S = 300
REPO_ID = "me/gaae-nsynth-small"  # the Hub repository the tour pushes to and loads from
FAMILIES = ["guitar", "string", "mallet"]
EVALUATED_RUNS = ["gaae5", "cnn5", "cnn100", "biggan_sup", "biggan_unsup", "bigan5"]
ALL_RUNS = [*EVALUATED_RUNS, "sc09_gender", "tuned", "paper_settings"]

#: (regex, replacement, why): applied with ``re.sub`` to every tour command, in this order.
SHRINK: list[tuple[str, str, str]] = [
    (r"--steps 1200\b", "--steps 2", "training steps: 2 steps prove a run trains, checkpoints and logs"),
    (r"--steps 1500\b", "--steps 3", "the resumed run must still go beyond the first run's 2 steps"),
    (r"--steps 300\b", "--steps 2", "CNN training steps"),
    (r"--batch-size 8\b", "--batch-size 4", "smaller minibatches on the tiny caches"),
    (
        r"^(gaae fit (?!.*--batch-size).*)$",
        r"\1 --batch-size 4",
        "fits that use the default batch (16) get the same small batch as the others",
    ),
    (
        r"^(gaae fit .*--model bigan\b.*)$",
        r"\1 --set train.probe_steps=2",
        "the BiGAN's dense probe trains 300 steps after the last step by default",
    ),
    (r"--n 3000\b", "--n 6", "items of the generated cache"),
    (r"--n-iter 32\b", "--n-iter 2", "Griffin-Lim iterations after PGHI"),
    (
        r"^(gaae evaluate .*)$",
        r"\1 --n 12 --seeds 0 --cas-steps 2 --tsne-points 12 --n-iter 0",
        "generated samples, seeds, CAS training steps, t-SNE points and FGLA iterations of the report",
    ),
]

#: (literal text, replacement, why): applied to the README's Python example.
PYTHON_SHRINK: list[tuple[str, str, str]] = []


# --------------------------------------------------------------------------------------------------
# reading README.md


def tour_commands(readme: str) -> list[str]:
    """The shell commands of the ``<!-- tour -->`` bash blocks of ``readme``, in order.

    Parameters
    ----------
    readme : str
        The README's text.

    Returns
    -------
    list of str
        One command per non-empty, non-comment line, without its trailing ``  # comment``.
    """
    lines = readme.splitlines()
    commands = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != TOUR_MARKER:
            i += 1
            continue
        i += 1
        assert i < len(lines) and lines[i].strip() == "```bash", (
            f"README line {i + 1}: {TOUR_MARKER} must be followed by a ```bash fence"
        )
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            line = re.sub(r"\s{2,}#.*$", "", lines[i]).strip()
            if line and not line.startswith("#"):
                commands.append(line)
            i += 1
        assert i < len(lines), "README: a tour block is not closed with ```"
    return commands


def python_example(readme: str) -> str:
    """The first ```python block after the ``### Python`` heading of ``readme``.

    Parameters
    ----------
    readme : str
        The README's text.

    Returns
    -------
    str
        The block's code, without its fences.
    """
    lines = readme.splitlines()
    start = lines.index(PYTHON_HEADING)
    fence = next(i for i in range(start, len(lines)) if lines[i].strip() == "```python")
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].strip() == "```")
    return "\n".join(lines[fence + 1 : end]) + "\n"


def shrink(command: str) -> str:
    """``command`` with every :data:`SHRINK` rule applied.

    Parameters
    ----------
    command : str
        A tour command as the README writes it.

    Returns
    -------
    str
        The command this test runs.
    """
    for pattern, replacement, _why in SHRINK:
        command = re.sub(pattern, replacement, command)
    return command


def shrink_python(code: str) -> str:
    """``code`` with every :data:`PYTHON_SHRINK` replacement applied (each must match)."""
    for text, replacement, _why in PYTHON_SHRINK:
        assert text in code, f"PYTHON_SHRINK entry {text!r} no longer matches the README's example"
        code = code.replace(text, replacement)
    return code


# --------------------------------------------------------------------------------------------------
# the working directory


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """A working directory with the tour's datasets, and a loopback Hub; yields (workdir, env, hub).

    ``env`` is this process's environment without any ``HF_*`` variable, plus the venv's scripts
    first on PATH and the Hub settings: ``HF_ENDPOINT`` (the loopback server), ``HF_HOME`` in the
    working directory, a dummy ``HF_TOKEN`` and ``HF_HUB_DISABLE_TELEMETRY=1``; also
    ``OMP_NUM_THREADS=1`` (see the comment below) and ``MPLBACKEND=Agg``.
    """
    workdir = tmp_path_factory.mktemp("readme_tour")
    data = workdir / "data"
    # 22 notes per family: the Python example draws random_batch(64) from train.zarr (66 notes)
    make_acoustic_nsynth(data / "nsynth", per_family=22, splits={"train": 1.0, "test": 0.5}, seed=0)
    make_speech_commands(data / "speech_commands")
    make_librispeech(data)
    make_labelled_folder(data / "my_sounds")
    write_clip(data / "note.wav", tone_clip(196.0, 1.5, kind=0, seed=1))
    write_clip(data / "recordings" / "long.wav", tone_clip(330.0, 2.5, sample_rate=22050, kind=1), 22050)
    write_clip(data / "recordings" / "short.wav", tone_clip(523.0, 0.7, kind=2, seed=2))

    with HubServer() as hub:
        env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
        env.update(
            PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
            HF_ENDPOINT=hub.url,
            HF_HOME=str(workdir / "hf_home"),
            HF_TOKEN="hf_ReadmeTourDummyToken0123456789",
            HF_HUB_DISABLE_TELEMETRY="1",
            MPLBACKEND="Agg",
            # one OpenMP thread per process: on 2 shared cores torch's default 2 threads spin-wait
            # and make a small GAAE step ~20x slower (measured: 21 s vs 0.9 s at batch 4)
            OMP_NUM_THREADS="1",
        )
        yield workdir, env, hub


def run_checked(
    command: str | list[str], workdir: Path, env: dict[str, str], *, what: str = "README command"
) -> subprocess.CompletedProcess:
    """Run ``command`` in ``workdir`` (a string through the shell); fail with its output tail if it fails."""
    result = subprocess.run(
        command,
        shell=isinstance(command, str),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    shown = f"  {command}\n" if isinstance(command, str) else ""
    assert result.returncode == 0, (
        f"{what} failed (exit {result.returncode}):\n{shown}"
        f"--- stdout (tail) ---\n{result.stdout[-3000:]}\n--- stderr (tail) ---\n{result.stderr[-3000:]}"
    )
    return result


# --------------------------------------------------------------------------------------------------
# tests


def _skeleton(command: str) -> list[str]:
    """The words of ``command`` that are not plain integers (program, sub-command, options, paths)."""
    return [word for word in command.split() if not word.isdigit()]


def test_shrink_table_is_current_and_keeps_commands():
    """Every SHRINK rule still applies; shrinking only changes numbers and appends options."""
    commands = tour_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= MIN_TOUR_COMMANDS, f"only {len(commands)} tour commands found in README.md"
    for pattern, _replacement, why in SHRINK:
        assert any(re.search(pattern, c) for c in commands), f"SHRINK rule {pattern!r} ({why}) is stale"
    for command in commands:
        skeleton = _skeleton(command)
        assert _skeleton(shrink(command))[: len(skeleton)] == skeleton, (command, shrink(command))


@pytest.mark.slow
def test_readme_tour(tour):
    """Run the README's tour commands in order, check what they wrote, then its Python example."""
    workdir, env, hub = tour
    readme = README.read_text(encoding="utf-8")
    commands = tour_commands(readme)
    assert len(commands) >= MIN_TOUR_COMMANDS, f"only {len(commands)} tour commands found in README.md"

    for command in commands:
        run_checked(shrink(command), workdir, env)

    # caches and their label names
    expected_labels = {
        "train.zarr": FAMILIES,
        "test.zarr": FAMILIES,
        "sc09_test.zarr": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
        "ls_gender.zarr": ["F", "M"],
        "mine.zarr": ["bell", "whistle"],
    }
    for name, labels in expected_labels.items():
        cache = open_cache(workdir / name)
        assert cache.label_names == labels, name
        assert len(cache) > 0 and np.all(cache.labels >= 0), name
    assert len(open_cache(workdir / "train.zarr")) == 66
    assert len(open_cache(workdir / "sc09_test.zarr")) == 10
    assert len(open_cache(workdir / "ls_gender.zarr")) == 4 * 2 * 4  # speakers x utterances x crops

    # data tour outputs
    for name in ("grid.png", "rebuilt.wav", "note.png"):
        assert (workdir / name).stat().st_size > 0, name
    assert len(list((workdir / "wavs").glob("*.wav"))) == 2
    assert (workdir / "demo_data" / "nsynth-train" / "examples.json").is_file()

    # runs, samples, the generated cache and the report
    for run in ALL_RUNS:
        assert (workdir / "runs" / run / "checkpoints" / "latest").exists(), run
    assert (workdir / "runs" / "gaae5" / "checkpoints" / "step-0000003").exists()  # resumed beyond step 2
    assert len(list((workdir / "samples").glob("*.wav"))) == 2 * 8  # 2 labels x --n 8
    for png in ("samples/samples.png", "interpolation/interpolation.png", "transfer/from-audio.png"):
        assert (workdir / png).stat().st_size > 0, png
    generated = open_cache(workdir / "generated.zarr")
    assert len(generated) == 6 and generated.label_names == FAMILIES
    assert (workdir / "report" / "report.md").stat().st_size > 0
    results = json.loads((workdir / "report" / "results.json").read_text())
    assert [run["name"] for run in results["runs"]] == EVALUATED_RUNS

    # features: one row per window, with file index and offset, for the 3 files
    with np.load(workdir / "features.npz", allow_pickle=False) as features:
        n_windows = len(features["file_index"])
        assert features["z"].shape[0] == features["s"].shape[0] == n_windows > 3
        assert len(features["offset_seconds"]) == n_windows
        assert sorted(set(features["file_index"].tolist())) == [0, 1, 2]
        assert len(features["files"]) == len(features["z_mean"]) == len(features["s_mean"]) == 3
        assert int(features["n_windows"].sum()) == n_windows
        assert np.all(features["offset_seconds"] < features["duration_seconds"][features["file_index"]])

    # the pushed repository on the loopback Hub
    files = hub.files(REPO_ID)
    expected = {"config.json", "model.safetensors", "README.md", "decoder/model.safetensors"}
    assert expected <= set(files), sorted(files)

    # the Python example, after creating the inputs it names that the tour did not write
    write_clip(workdir / "speech.wav", tone_clip(150.0, 1.6, kind=1, seed=3))
    write_clip(workdir / "recording.flac", tone_clip(260.0, 2.3, sample_rate=44100, kind=0, seed=4), 44100)
    code = shrink_python(python_example(readme))
    result = run_checked([sys.executable, "-c", code], workdir, env, what="README Python example")
    assert result.stdout.strip().endswith("dB")
