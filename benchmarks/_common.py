"""What the benchmark scripts share: a seeded sample of a corpus, every item of a cache, the CPU's
name and versions, and writing a result as JSON + markdown.

The scripts run as ``python benchmarks/bench_*.py`` (this folder is then first on ``sys.path``), so
they import it as ``from _common import ...``.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["find_wavs", "read_all", "cpu_name", "environment", "write_results", "write_rows"]


def find_wavs(root: Path, n: int, seed: int) -> list[Path]:
    """A seeded sample of ``n`` .wav files under ``root`` (sorted, so the draw is reproducible)."""
    files = sorted(root.rglob("*.wav"))
    if not files:
        sys.exit(f"no .wav files under {root}; render the corpora first (see benchmarks/README.md)")
    if len(files) > n:
        pick = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
        files = [files[i] for i in sorted(pick)]
    return files


def read_all(cache: Any) -> np.ndarray:
    """Every item of an opened cache (``audiospec.open_cache``), (N, F, T), read 256 at a time."""
    return np.concatenate([cache[np.arange(i, min(i + 256, len(cache)))] for i in range(0, len(cache), 256)])


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else the platform's machine name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(*packages: str, **extra: Any) -> dict[str, Any]:
    """``{"cpu", **extra, "python", **packages}``: the CPU, ``extra``, then the Python and package versions
    (a package's ``__version__``, else its distribution's)."""

    def version(name: str) -> str:
        module_version = getattr(importlib.import_module(name), "__version__", None)
        return module_version if isinstance(module_version, str) else metadata.version(name)

    return {
        "cpu": cpu_name(),
        **extra,
        "python": platform.python_version(),
        **{p: version(p) for p in packages},
    }


def write_results(results: dict[str, Any], text: str, out: Path | None) -> None:
    """Print the markdown ``text``; with ``out``, also write ``out.json`` (``results``) and ``out.md``."""
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=1))
        out.with_suffix(".md").write_text(text)


def write_rows(rows: list[dict[str, Any]], env: dict[str, Any], out: str | None) -> None:
    """Print the environment under a printed table; with ``out``, write ``{"rows", "environment"}`` there."""
    print(f"\nenvironment: {json.dumps(env)}")
    if out:
        with open(out, "w") as f:
            json.dump({"rows": rows, "environment": env}, f, indent=2)
