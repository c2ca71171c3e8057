"""What the process runs on: CPU cores, work spread over them, and the versions of its packages.

Shared by audiospec and gaae_models, so that "how many cores", "run these blocks on all of them" and
"which versions wrote this file" have one answer each.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import platform
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

__all__ = ["BLOCK_SIZE", "n_cores", "map_blocks", "single_threaded", "package_versions"]

#: Clips per block: batches are transformed 8 clips at a time (single-threaded FFTs, blocks spread
#: over threads), which keeps the working set (frames and spectra, ~2 MB each) in cache; one huge
#: batched FFT is memory-bound. 8 measured 19 % less CPU time per clip than 16 for stft_logmag on a
#: core shared with other work (0.247 against 0.305 ms; 4: 0.255).
BLOCK_SIZE = 8


def n_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one), at least 1."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


#: True inside :func:`single_threaded` (per thread and task: a context variable).
_SINGLE_THREADED: contextvars.ContextVar[bool] = contextvars.ContextVar("single_threaded", default=False)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Within the block, :func:`map_blocks` calls run in the calling thread only.

    For work that is itself one of several parallel tasks (a cache build's task in one of its
    worker processes): threads of its own would oversubscribe the cores the other tasks use.
    """
    token = _SINGLE_THREADED.set(True)
    try:
        yield
    finally:
        _SINGLE_THREADED.reset(token)


def map_blocks(fn: Callable[[int, int], None], n: int, *, block_size: int = BLOCK_SIZE) -> None:
    """Call ``fn(lo, hi)`` on consecutive blocks of ``range(n)``, on all cores when there are several
    (in the calling thread only inside :func:`single_threaded`)."""
    blocks = [(lo, min(lo + block_size, n)) for lo in range(0, n, block_size)]
    threads = 1 if _SINGLE_THREADED.get() else min(n_cores(), len(blocks))
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
