"""What the process runs on: CPU cores, work spread over them, and the versions of its packages.

Shared by audiospec and gaae_models, so that "how many cores", "run these blocks on all of them" and
"which versions wrote this file" have one answer each.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

__all__ = ["BLOCK_SIZE", "n_cores", "map_blocks", "package_versions"]

#: Clips per block: batches are transformed 8 clips at a time (single-threaded FFTs, blocks spread
#: over threads), which keeps the working set (frames and spectra, ~2 MB each) in cache; one huge
#: batched FFT is memory-bound. 8 measured 19 % less CPU time per clip than 16 for stft_logmag on a
#: core shared with other work (0.247 against 0.305 ms; 4: 0.255).
BLOCK_SIZE = 8


def n_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one), at least 1."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def map_blocks(fn: Callable[[int, int], None], n: int, *, block_size: int = BLOCK_SIZE) -> None:
    """Call ``fn(lo, hi)`` on consecutive blocks of ``range(n)``, on all cores when there are several."""
    blocks = [(lo, min(lo + block_size, n)) for lo in range(0, n, block_size)]
    threads = min(n_cores(), len(blocks))
    if threads <= 1:
        for lo, hi in blocks:
            fn(lo, hi)
        return
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(fn, lo, hi) for lo, hi in blocks]:
            future.result()


def package_versions(*distributions: str) -> dict[str, str]:
    """``{"python": ..., dist: version}`` for each installed distribution named (missing ones are left out).

    Examples
    --------
    >>> sorted(package_versions("numpy"))
    ['numpy', 'python']
    """
    out = {"python": platform.python_version()}
    for dist in distributions:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out
