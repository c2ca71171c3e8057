"""GAAE training step on CPU: eager vs eager with per-step spectral norm vs ``torch.compile``.

Three variants of one GAAE iteration (D step, then E/G/C step: :class:`gaae_models.training.GAAETrainer`
``train_step``, as ``gaae fit`` runs it), each on a fresh trainer built with the same seed, on
synthetic in-memory spectrograms (so that the numbers measure the model and not the disk):

``eager``
    The trainer as it is: one spectral-norm power iteration per training forward.
``per_step``
    :func:`gaae_models.compiling.compile_gaae` with ``enabled=False``: one power iteration per
    step (:func:`~gaae_models.compiling.power_iterate`), then the step with the spectral norms
    frozen; still eager. The reference of the compiled step, and the cost of the change alone.
``compiled``
    :func:`gaae_models.compiling.compile_gaae`: the same, with the networks compiled in place
    (``Whitening`` eager).

Reported per variant: the wall time of the first step (for ``compiled``, it includes compiling
most graphs), the compile overhead (all warm-up time minus ``--warmup`` times the median step),
the median, min and max seconds per step over ``--steps`` timed steps after ``--warmup`` untimed
ones, steps/s and samples/s, the ratios of the median to ``eager`` and to ``per_step``, and the
difference of each variant's losses (``loss/*``) from ``per_step`` at the first step and the
largest over all steps. The runs are the same seeded steps, free-running: ``compiled`` agrees with
``per_step`` to float rounding at the first step (``eager`` differs by its extra power iterations),
and a GAN amplifies any difference from step to step (about 10x per step on the tiny
configuration below), so the maximum measures drift rather than a compilation error. The training
health (gradient shares) steps are kept out of the timed range.

Inductor compiles into a fresh, empty cache directory unless ``--warm-cache`` (then the default
``TORCHINDUCTOR_CACHE_DIR``, where a repeated run finds its kernels and compiles much faster).

Examples
--------
The full CPU measurement (the ``cpu`` preset at batch 8, one thread; several minutes of
compilation)::

    OMP_NUM_THREADS=1 python benchmarks/bench_compile.py --threads 1 --steps 20 --warmup 3 \\
        --out benchmarks/results/compile_cpu.json

A quick check that it runs (a tiny network on 64 x 64 inputs)::

    OMP_NUM_THREADS=1 python benchmarks/bench_compile.py --preset small --set ch=1 --set z_dim=16 \\
        --set s_dim=4 --set 'input_shape=[64, 64]' --steps 3 --warmup 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import torch
import torch._inductor.config as inductor_config
from _common import write_rows

from gaae_models.compiling import compile_gaae, compile_targets
from gaae_models.config import model_config
from gaae_models.data import ArraySource
from gaae_models.train_config import TrainConfig
from gaae_models.training import GAAETrainer, TrainingData

VARIANTS = ("eager", "per_step", "compiled")


def synthetic_data(n: int, n_classes: int, shape: tuple[int, int], *, seed: int = 0) -> TrainingData:
    """``n`` random spectrograms ``tanh(N(0, 1))`` of ``shape``, every one labelled."""
    rng = np.random.default_rng(seed)
    x = np.tanh(rng.standard_normal((n, *shape)).astype(np.float32))
    labels = rng.integers(0, n_classes, n)
    labelled = np.arange(n)
    return TrainingData(
        [ArraySource(x, labels)], np.arange(n), labelled, labels[labelled], [str(k) for k in range(n_classes)]
    )


def make_trainer(
    preset: str, overrides: dict[str, Any], batch: int, labelled_batch: int, n_timed: int
) -> GAAETrainer:
    cfg = model_config(preset, n_classes=3, **overrides)
    horizon = 10 * (n_timed + 1)  # no health step (gradient shares) inside the benchmark
    train = TrainConfig(
        batch_size=batch, labelled_batch_size=labelled_batch, steps=horizon, health_every=horizon, amp="off"
    )
    data = synthetic_data(max(64, 4 * batch), 3, tuple(cfg.input_shape))
    return GAAETrainer(cfg, train, data, device=torch.device("cpu"))


def measure(
    variant: str,
    *,
    preset: str,
    overrides: dict[str, Any],
    batch: int,
    labelled_batch: int,
    steps: int,
    warmup: int,
    backend: str,
    mode: str | None,
) -> dict[str, Any]:
    torch._dynamo.reset()
    trainer = make_trainer(preset, overrides, batch, labelled_batch, warmup + steps)
    if variant != "eager":
        compile_gaae(trainer, enabled=variant == "compiled", backend=backend, mode=mode)
    losses, times = [], []
    for step in range(1, warmup + steps + 1):
        t0 = time.perf_counter()
        metrics = trainer.train_step(step)
        times.append(time.perf_counter() - t0)
        losses.append({k: v for k, v in metrics.items() if k.startswith("loss/")})
    timed = times[warmup:]
    median = statistics.median(timed)
    row = {
        "variant": variant,
        "first_step_s": times[0],
        "compile_overhead_s": max(0.0, sum(times[:warmup]) - warmup * median),
        "median_s_per_step": median,
        "min_s_per_step": min(timed),
        "max_s_per_step": max(timed),
        "steps_per_s": 1.0 / median,
        "samples_per_s": (batch + trainer.train.labelled_batch) / median,
        "losses": losses,
    }
    if variant == "compiled":
        row["compiled_modules"] = list(compile_targets(trainer.model))
    return row


def _parse_set(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu", choices=["cpu", "small", "paper"])
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="ModelConfig override (JSON)"
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--labelled-batch-size", type=int, default=None, help="default: batch size // 4")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (steps and kernels)")
    ap.add_argument(
        "--compile-threads", type=int, default=None, help="inductor compile workers (default --threads)"
    )
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation happens here)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {VARIANTS}")
    ap.add_argument("--backend", default="inductor")
    ap.add_argument("--mode", default=None, help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    ap.add_argument("--warm-cache", action="store_true", help="use inductor's default on-disk cache")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args()
    if a.warmup < 1 or a.steps < 1:
        ap.error("--warmup and --steps must be at least 1")
    cold_dir = None if a.warm_cache else tempfile.mkdtemp(prefix="bench_compile_inductor_")
    if cold_dir is not None:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cold_dir  # read when inductor first needs it
    try:
        run(a, ap)
    finally:
        if cold_dir is not None:
            shutil.rmtree(cold_dir, ignore_errors=True)


def run(a: argparse.Namespace, ap: argparse.ArgumentParser) -> None:
    torch.set_num_threads(a.threads)
    inductor_config.compile_threads = a.compile_threads or a.threads
    overrides = _parse_set(a.set)
    labelled_batch = a.labelled_batch_size or max(1, a.batch_size // 4)
    variants = tuple(v.strip() for v in a.variants.split(","))
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    rows = []
    for variant in variants:
        torch.manual_seed(0)
        row = measure(
            variant,
            preset=a.preset,
            overrides=overrides,
            batch=a.batch_size,
            labelled_batch=labelled_batch,
            steps=a.steps,
            warmup=a.warmup,
            backend=a.backend,
            mode=a.mode,
        )
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "losses"}), flush=True)
    by_name = {r["variant"]: r for r in rows}
    for r in rows:
        for ref in ("eager", "per_step"):
            if ref in by_name:
                r[f"ratio_vs_{ref}"] = r["median_s_per_step"] / by_name[ref]["median_s_per_step"]
        if "per_step" in by_name:
            diffs = [
                max(abs(mine[k] - theirs[k]) for k in theirs)
                for mine, theirs in zip(r["losses"], by_name["per_step"]["losses"], strict=True)
            ]
            r["loss_diff_vs_per_step_first"] = diffs[0]
            r["loss_diff_vs_per_step_max"] = max(diffs)
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "compile_threads": inductor_config.compile_threads,
        "cpu": platform.processor() or platform.machine(),
        "preset": a.preset,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "batch_size": a.batch_size,
        "labelled_batch": labelled_batch,
        "steps": a.steps,
        "warmup": a.warmup,
        "backend": a.backend,
        "mode": a.mode,
        "inductor_cache": "warm (default directory)" if a.warm_cache else "cold (fresh directory)",
    }

    def fmt(value: float | None, spec: str) -> str:
        return "" if value is None else format(value, spec)

    print(
        f"\n{a.preset} preset {overrides or ''}, batch {a.batch_size} + {labelled_batch} labelled, "
        f"{torch.get_num_threads()} thread(s), median of {a.steps} steps after {a.warmup} warm-up\n"
    )
    print(
        "| variant | first step s | compile overhead s | median s/step | min | max | steps/s "
        "| vs eager | vs per_step | loss diff vs per_step, step 1 | max |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['first_step_s']:.2f} | {r['compile_overhead_s']:.2f} "
            f"| {r['median_s_per_step']:.3f} | {r['min_s_per_step']:.3f} | {r['max_s_per_step']:.3f} "
            f"| {r['steps_per_s']:.2f} | {fmt(r.get('ratio_vs_eager'), '.3f')} "
            f"| {fmt(r.get('ratio_vs_per_step'), '.3f')} "
            f"| {fmt(r.get('loss_diff_vs_per_step_first'), '.1e')} "
            f"| {fmt(r.get('loss_diff_vs_per_step_max'), '.1e')} |"
        )
    write_rows(rows, env, a.out)


if __name__ == "__main__":
    main()
