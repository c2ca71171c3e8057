"""Loader benchmark: random-minibatch items/s from a cache on disk through ``audiospec.loader``.

For each ``--workers`` value, ``cache_loader(cache, batch_size=B, num_workers=W)`` is iterated for
``--batches`` batches after ``--warmup`` untimed ones (worker start-up excluded); the rate is items
per second of wall time, median of ``--repeat`` runs, next to the target of the issue: the `paper`
preset at 10 it/s with batch 128 + 32 consumes 1,600 items/s. A row for ``SpectrogramCache.batch``
on the calling thread (no torch) is the reference.

Usage (pin to the cores you mean to measure; idle cores for the headline numbers)::

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/bench_loader.py CACHE --workers 0 1
    OMP_NUM_THREADS=1 python benchmarks/bench_loader.py CACHE --workers 0 1 2 4 --out results/loader.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

TARGET_ITEMS_PER_S = 1600.0


def rate_loader(cache: str, batch_size: int, workers: int, batches: int, warmup: int, seed: int) -> float:
    """Items/s of ``cache_loader`` over ``batches`` batches after ``warmup`` untimed ones."""
    from audiospec.loader import cache_loader

    loader = cache_loader(cache, batch_size=batch_size, num_workers=workers, seed=seed, pin_memory=False)
    it = iter(loader)
    n = 0
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        n += len(batch["y"])
    return n / (time.perf_counter() - t0)


def rate_plain(cache: str, batch_size: int, batches: int, seed: int) -> float:
    """Items/s of ``SpectrogramCache.batch`` on sorted random indices (no torch, one thread)."""
    from audiospec.cache import open_cache

    c = open_cache(cache)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(batches):
        c.batch(np.sort(rng.choice(len(c), batch_size, replace=False)))
    return batches * batch_size / (time.perf_counter() - t0)


def rate_gaae_steps(cache: str, workers: int, batches: int, warmup: int, seed: int) -> float:
    """Items/s of what ``gaae fit`` reads: the GAAE's step batches (``gaae_models.batches``) at the
    paper's batch, 128 unlabelled + 32 guidance items (5 % labelled), through ``step_batches``."""
    from gaae_models.batches import batch_maker, prepare_data, step_batches
    from gaae_models.train_config import TrainConfig

    train = TrainConfig(batch_size=128, labelled_batch_size=32, labelled_fraction=0.05, seed=seed)
    make = batch_maker("gaae", prepare_data(cache, train), train, 128, 0)
    it = step_batches(make, range(1, warmup + batches + 1), workers=workers)
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    n = sum(len(b["x"]) + len(b["x_l"]) for b in it)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure, print (and write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--gaae-steps", action="store_true", help="also time gaae fit's step batches (needs labels)"
    )
    args = parser.parse_args(argv)
    rows = {"SpectrogramCache.batch (no torch)": [rate_plain(args.cache, args.batch_size, args.batches, r)
                                                  for r in range(args.repeat)]}  # fmt: skip
    for w in args.workers:
        rows[f"cache_loader num_workers={w}"] = [
            rate_loader(args.cache, args.batch_size, w, args.batches, args.warmup, r)
            for r in range(args.repeat)
        ]
    if args.gaae_steps:
        for w in args.workers:
            rows[f"gaae fit step batches (128 + 32) loader_workers={w}"] = [
                rate_gaae_steps(args.cache, w, args.batches, args.warmup, r) for r in range(args.repeat)
            ]
    result = {k: {"median": statistics.median(v), "runs": v} for k, v in rows.items()}
    print(f"| reader (batch {args.batch_size}) | items/s (median of {args.repeat}) | vs 1,600 items/s |")
    print("|---|---:|---:|")
    for k, v in result.items():
        print(f"| {k} | {v['median']:,.0f} | {v['median'] / TARGET_ITEMS_PER_S:.2f}x |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
