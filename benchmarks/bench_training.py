"""Training-step throughput and FLOPs of the GAAE (and the simple CNN) per preset and device.

One GAAE iteration is a D step (D_x, D_latent) and an E/G/C step, exactly as ``gaae fit`` runs it
(:class:`gaae_models.training.GAAETrainer`), on synthetic in-memory spectrograms, so that the numbers
measure the model and not the disk. Reported per configuration: the median seconds per iteration
over ``--steps`` timed iterations after ``--warmup`` ones, iterations/s, samples/s (unlabelled +
labelled items per iteration), FLOPs per iteration (``torch.utils.flop_counter``, counted once, on the
device's eager path), achieved TFLOP/s, and peak GPU memory.

On CUDA the variants ``eager``, ``channels_last``, ``compile`` and ``compile+channels_last`` (bf16
autocast throughout) are compared side by side; the paper reports about 0.8 it/s (60k iterations in
about 21 h on two P100s, batch 128).

Examples
--------
CPU, both presets at small batches::

    python benchmarks/bench_training.py --device cpu --preset small --preset paper \
        --batch-size 4 --batch-size 8

GPU, the paper preset at batch 128::

    python benchmarks/bench_training.py --device cuda --preset paper --batch-size 128 --variants all
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
from _common import write_rows
from torch.utils.flop_counter import FlopCounterMode

from gaae_models.compiling import compile_gaae
from gaae_models.config import model_config
from gaae_models.data import ArraySource
from gaae_models.train_config import TrainConfig
from gaae_models.training import GAAETrainer, TrainingData

VARIANTS = ("eager", "channels_last", "compile", "compile+channels_last")


def synthetic_data(n: int, n_classes: int, *, seed: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    x = np.tanh(rng.standard_normal((n, 256, 128)).astype(np.float32))
    labels = rng.integers(0, n_classes, n)
    labelled = np.arange(n)
    return TrainingData(
        [ArraySource(x, labels)], np.arange(n), labelled, labels[labelled], [str(k) for k in range(n_classes)]
    )


def make_trainer(
    preset: str, batch: int, device: torch.device, variant: str, attention: bool | None
) -> GAAETrainer:
    overrides = {} if attention is None else {"attention": attention}
    cfg = model_config(preset, n_classes=3, **overrides)
    train = TrainConfig(batch_size=batch, labelled_batch_size=max(1, batch // 4), amp="auto")
    trainer = GAAETrainer(cfg, train, synthetic_data(max(256, 2 * batch), 3), device=device)
    if "channels_last" in variant:
        trainer.model.to(memory_format=torch.channels_last)
        make = trainer.make_batch

        def make_batch_cl(step, rank=None):
            batch_ = make(step, rank)
            for key in ("x", "x_l"):
                batch_[key] = batch_[key].contiguous(memory_format=torch.channels_last)
            return batch_

        trainer.make_batch = make_batch_cl
    if "compile" in variant:
        # per-step spectral norm + every network compiled (torch.compile of the bare modules fails
        # in backward on the power iteration's in-place update of u)
        compile_gaae(trainer)
    return trainer


def measure(
    preset: str,
    batch: int,
    device: torch.device,
    variant: str,
    *,
    steps: int,
    warmup: int,
    attention: bool | None,
) -> dict:
    torch.manual_seed(0)
    trainer = make_trainer(preset, batch, device, variant, attention)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for step in range(1, warmup + 1):
        trainer.train_step(step)
    sync()
    warmup_s = time.perf_counter() - t0
    times = []
    for step in range(warmup + 1, warmup + steps + 1):
        t = time.perf_counter()
        trainer.train_step(step)
        sync()
        times.append(time.perf_counter() - t)
    flops = None
    if variant in ("eager", "channels_last"):
        with FlopCounterMode(display=False) as counter:
            trainer.train_step(warmup + steps + 1)
        flops = counter.get_total_flops()
    sec = statistics.median(times)
    items = batch + trainer.train.labelled_batch
    return {
        "preset": preset,
        "batch_size": batch,
        "labelled_batch": trainer.train.labelled_batch,
        "device": str(device),
        "variant": variant,
        "attention": trainer.cfg.attention,
        "ch": trainer.cfg.ch,
        "median_s_per_it": sec,
        "it_per_s": 1.0 / sec,
        "samples_per_s": items / sec,
        "flops_per_it": flops,
        "tflops_per_s": (flops / sec / 1e12) if flops else None,
        "warmup_s": warmup_s,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        "params": sum(p.numel() for p in trainer.model.parameters()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", action="append", choices=["cpu", "small", "paper"])
    ap.add_argument("--batch-size", action="append", type=int)
    ap.add_argument("--variants", default="eager", help=f"comma list of {VARIANTS} or 'all'")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--attention", choices=["preset", "on", "off"], default="preset")
    ap.add_argument("--out", default=None, help="write results as JSON here")
    a = ap.parse_args()
    device = torch.device(a.device)
    variants = VARIANTS if a.variants == "all" else tuple(a.variants.split(","))
    attention = None if a.attention == "preset" else a.attention == "on"
    rows = []
    for preset in a.preset or ["cpu"]:
        for batch in a.batch_size or [8]:
            for variant in variants:
                try:
                    row = measure(
                        preset, batch, device, variant, steps=a.steps, warmup=a.warmup, attention=attention
                    )
                except Exception as exc:  # report and go on with the other variants
                    row = {
                        "preset": preset,
                        "batch_size": batch,
                        "variant": variant,
                        "error": repr(exc)[:300],
                    }
                rows.append(row)
                print(json.dumps(row), flush=True)
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "cpu": platform.processor(),
    }
    print(
        "\n| preset | batch | variant | attention | s/it | it/s | samples/s | GFLOP/it | TFLOP/s | peak GB |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(
                f"| {r['preset']} | {r['batch_size']} | {r['variant']} | | error: {r['error'][:60]} "
                "| | | | | |"
            )
            continue
        gf = f"{r['flops_per_it'] / 1e9:.1f}" if r["flops_per_it"] else ""
        tf = f"{r['tflops_per_s']:.2f}" if r["tflops_per_s"] else ""
        mem = f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] else ""
        print(
            f"| {r['preset']} | {r['batch_size']} | {r['variant']} | {r['attention']} "
            f"| {r['median_s_per_it']:.3f} | {r['it_per_s']:.2f} | {r['samples_per_s']:.1f} "
            f"| {gf} | {tf} | {mem} |"
        )
    write_rows(rows, env, a.out)


if __name__ == "__main__":
    main()
