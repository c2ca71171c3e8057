"""``audiospec demo`` and ``audiospec demo-data``: audiospec on built-in synthetic notes, no download.

Both are standalone click commands, registered on the ``audiospec`` group by
:mod:`gaae_cli.audiospec_cli`.
"""

from __future__ import annotations

import json
import os
import time

import click
import numpy as np

import audiospec
from audiospec import AudiospecError
from audiospec.cache import build_cache, open_cache
from audiospec.readers import list_nsynth
from gaae_cli._common import check_empty_dir, friendly_errors, int_option, label_name

__all__ = ["demo", "demo_data"]


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@int_option("--per-family", default=10, help="Training notes per family (test gets a quarter).")
@int_option(
    "--n-iter",
    minimum=0,
    default=32,
    help="Fast Griffin-Lim iterations after PGHI for the refined reconstruction.",
)
@int_option("--workers", help="Worker processes [default: all cores].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Write into OUT_DIR even if it is not empty.")
@friendly_errors(AudiospecError)
def demo(out_dir, per_family, n_iter, workers, seed, overwrite):
    """Run audiospec end to end on built-in synthetic notes (no download).

    Synthesises an NSynth-layout dataset of plucked, bowed and struck notes, builds a training cache
    (statistics from it) and a test cache (normalised with the training statistics), draws a grid of
    training spectrograms, rebuilds the test notes from their normalised spectrograms with PGHI and
    with PGHI + fast Griffin-Lim, and writes WAVs, PNGs and a summary into OUT_DIR.
    """
    from audiospec.plotting import plot_spectrogram_grid
    from audiospec.synth import make_nsynth_demo

    check_empty_dir(out_dir, overwrite)
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    data = os.path.join(out_dir, "data")
    counts = make_nsynth_demo(data, per_family=per_family, splits={"train": 1.0, "test": 0.25}, seed=seed)
    click.echo(f"[1/4] synthesised {counts['train']} training and {counts['test']} test notes in {data}")
    caches = {}
    for split in ("train", "test"):
        listing = list_nsynth(data, split=split, sources=("all",))
        path = os.path.join(out_dir, f"{split}.zarr")
        report = build_cache(
            listing,
            path,
            stats_from=caches.get("train"),
            workers=workers,
            seed=seed,
            shard_size=16,
            overwrite=True,
            keep_logmag=True,
        )
        caches[split] = path
        click.echo(f"[2/4] built {path}: {report.n_items} items in {report.seconds:.1f} s")
    train, test = open_cache(caches["train"]), open_cache(caches["test"])
    index = np.linspace(0, len(train) - 1, min(12, len(train))).round().astype(int)
    spectrograms, labels = train.batch(index)
    grid_path = os.path.join(out_dir, "train_spectrograms.png")
    plot_spectrogram_grid(
        spectrograms,
        grid_path,
        titles=[f"#{i} {label_name(train, int(lab))}" for i, lab in zip(index, labels, strict=True)],
        config=train.config,
        vmin=-1,
        vmax=1,
    )
    click.echo(f"[3/4] wrote {grid_path}")
    x, labels = test.batch(np.arange(len(test)))
    magnitude = np.exp(test.logmag(np.arange(len(test))))
    results = {}
    rebuilt = {}
    audiospec.reconstruct(x[:1], config=test.config, stats=test.stats)  # load the compiled PGHI kernel
    for label, iters in (("pghi", 0), (f"pghi+fgla{n_iter}", n_iter)):
        t0 = time.perf_counter()
        y_hat = audiospec.reconstruct(x, config=test.config, stats=test.stats, n_iter=iters, rng=seed)
        elapsed = (time.perf_counter() - t0) / len(test)
        sc = audiospec.spectral_convergence(magnitude, y_hat, config=test.config)
        per_family = {name: float(np.median(sc[labels == k])) for k, name in enumerate(test.label_names)}
        results[label] = {"ms_per_clip": elapsed * 1000, "median_sc_db": per_family}
        rebuilt[label] = y_hat
    wav_dir = os.path.join(out_dir, "wavs")
    os.makedirs(wav_dir, exist_ok=True)
    for k in range(min(len(test), 6)):
        name = f"test{k:02d}_{label_name(test, int(labels[k]))}"
        for label, y_hat in rebuilt.items():
            audiospec.write_wav(os.path.join(wav_dir, f"{name}_{label}.wav"), y_hat[k])
    click.echo(f"[4/4] rebuilt {len(test)} test notes; WAVs in {wav_dir}")
    summary = {
        "config": test.config.to_dict(),
        "seed": seed,
        "stats": test.stats.to_dict(histogram=False),
        "results": results,
        "audiospec_version": audiospec.__version__,
        "seconds": time.perf_counter() - start,
    }
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    click.echo(
        f"\nmedian spectral convergence of the test notes (dB, lower is better; "
        f"{test.config.shape[0]} x {test.config.shape[1]} normalised spectrograms):"
    )
    click.echo(f"{'family':<10}" + "".join(f"{label:>16}" for label in results))
    for name in test.label_names:
        click.echo(f"{name:<10}" + "".join(f"{r['median_sc_db'][name]:>16.2f}" for r in results.values()))
    click.echo(f"{'ms / clip':<10}" + "".join(f"{r['ms_per_clip']:>16.1f}" for r in results.values()))
    click.echo(
        f"\nall in {summary['seconds']:.1f} s; outputs in {out_dir}: train.zarr, test.zarr, "
        "train_spectrograms.png, wavs/, summary.json"
    )


@click.command("demo-data")
@click.argument("kind", type=click.Choice(["nsynth"]))
@click.argument("out_dir", type=click.Path(file_okay=False))
@int_option("--per-family", default=40, help="Training notes per family (valid and test get a quarter each).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Write into OUT_DIR even if it is not empty.")
@friendly_errors(AudiospecError)
def demo_data(kind, out_dir, per_family, seed, overwrite):
    """Synthesise a small NSynth-layout dataset (plucked, bowed and struck notes; no download)."""
    from audiospec.synth import make_nsynth_demo

    check_empty_dir(out_dir, overwrite)
    counts = make_nsynth_demo(out_dir, per_family=per_family, seed=seed)
    click.echo(
        f"wrote an NSynth-layout dataset to {out_dir}: "
        + ", ".join(f"{k} {v} notes" for k, v in counts.items())
    )
    click.echo(f"next: audiospec build-cache nsynth {out_dir} train.zarr --split train --sources all")
