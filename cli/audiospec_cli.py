"""The ``audiospec`` command: spectrogram round trips, plots and the built-in demo."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import click
import numpy as np

import audiospec
from audiospec import AudiospecError, SpectrogramConfig
from audiospec.cache import build_cache, open_cache
from audiospec.readers import (
    list_folder,
    list_librispeech,
    list_nsynth,
    list_sc09,
)
from gaae_cli._common import OneLineErrorGroup, check_empty_dir, check_overwrite, friendly_errors, skip_line

__all__ = ["main"]


def _config_options(func):
    options = [
        click.option(
            "--window", type=click.Choice(list(audiospec.WINDOWS)), default="hamming", show_default=True
        ),
        click.option("--n-fft", type=int, default=512, show_default=True, help="FFT size in samples."),
        click.option("--hop-length", type=int, default=128, show_default=True, help="Hop in samples."),
        click.option(
            "--n-samples", type=int, default=16384, show_default=True, help="Clip length in samples."
        ),
        click.option(
            "--whole",
            is_flag=True,
            help="Use the whole file (padded to a multiple of the hop), not one clip.",
        ),
        click.option(
            "--crop",
            "crop_policy",
            type=click.Choice(list(audiospec.CROP_POLICIES)),
            default="start",
            show_default=True,
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Seed for random crops and phases."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(
    path: str,
    window: str,
    n_fft: int,
    hop_length: int,
    n_samples: int,
    whole: bool,
    crop_policy: str,
    seed: int,
):
    config = SpectrogramConfig(window=window, n_fft=n_fft, hop_length=hop_length, n_samples=n_samples)
    if whole:
        y = audiospec.load_audio(path, sample_rate=config.sample_rate)
        n = max(math.ceil(len(y) / hop_length) * hop_length, n_fft)
        config = dataclasses.replace(config, n_samples=n)
        clip, _ = audiospec.crop(y, n_samples=n, policy="start")
    else:
        clip, _ = audiospec.load_clip(path, config=config, policy=crop_policy, rng=seed)
    return config, clip


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(audiospec.__version__, prog_name="audiospec")
def main() -> None:
    """Audio <-> normalised log-magnitude spectrograms, and audio back with PGHI."""


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@click.option(
    "--n-iter",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Fast Griffin-Lim iterations after PGHI.",
)
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(exists=True),
    help="A cache (its statistics) or a DatasetStats JSON file to normalise with "
    "[default: this clip's own statistics].",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@_config_options
@friendly_errors(AudiospecError)
def roundtrip(input_path, output_path, n_iter, stats_path, overwrite, **options):
    """Audio -> normalised spectrogram -> audio (PGHI), written to OUT; prints the spectral convergence."""
    check_overwrite(output_path, overwrite)
    folder = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(folder):
        raise click.BadParameter(f"{output_path!r}: the folder {folder!r} does not exist", param_hint="OUT")
    config, clip = _load(input_path, **options)
    logmag = audiospec.stft_logmag(clip, config=config)
    if stats_path and os.path.isdir(stats_path):
        stats = open_cache(stats_path).stats
    elif stats_path:
        try:
            with open(stats_path) as f:
                stats = audiospec.DatasetStats.from_json(f.read())
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise click.BadParameter(
                f"{stats_path!r} is not a DatasetStats JSON file ({exc}); pass a cache folder or the "
                "JSON that DatasetStats.to_json writes",
                param_hint="--stats",
            ) from None
    else:
        stats = audiospec.dataset_stats(audiospec.partial_stats(logmag, config=config))
    normalised = audiospec.normalize(logmag, stats)
    start = time.perf_counter()
    y_hat = audiospec.reconstruct(normalised, config=config, stats=stats, n_iter=n_iter, rng=options["seed"])
    elapsed = time.perf_counter() - start
    audiospec.write_wav(output_path, y_hat, sample_rate=config.sample_rate)
    sc = float(audiospec.spectral_convergence(np.exp(logmag), y_hat, config=config))
    click.echo(
        f"{output_path}: {config.n_samples / config.sample_rate:.3f} s, spectrogram {logmag.shape[0]} x "
        f"{logmag.shape[1]}, PGHI + {n_iter} FGLA iterations in {elapsed * 1000:.0f} ms, "
        f"spectral convergence {sc:.2f} dB"
    )


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path())
@click.argument("output_path", metavar="OUT.png", type=click.Path(dir_okay=False))
@click.option(
    "--n",
    "n_items",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Items in the grid when IN is a cache.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT.png if it exists.")
@_config_options
@friendly_errors(AudiospecError)
def plot(input_path, output_path, n_items, overwrite, **options):
    """Write a spectrogram picture: of an audio file IN, or a labelled grid of items of a cache IN."""
    check_overwrite(output_path, overwrite)
    from audiospec.plotting import plot_spectrogram, plot_spectrogram_grid

    if os.path.isdir(input_path):
        cache = open_cache(input_path)
        index = np.linspace(0, len(cache) - 1, min(n_items, len(cache))).round().astype(int)
        spectrograms, labels = cache.batch(index)
        titles = [f"#{i} {_label_name(cache, int(lab))}" for i, lab in zip(index, labels, strict=True)]
        plot_spectrogram_grid(spectrograms, output_path, titles=titles, config=cache.config, vmin=-1, vmax=1)
        click.echo(f"wrote {output_path} ({len(index)} items of {len(cache)})")
        return
    config, clip = _load(input_path, **options)
    logmag = audiospec.stft_logmag(clip, config=config)
    plot_spectrogram(logmag, output_path, config=config, title=os.path.basename(input_path))
    click.echo(f"wrote {output_path} ({logmag.shape[0]} x {logmag.shape[1]})")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--per-family",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Training notes per family (test gets a quarter).",
)
@click.option(
    "--n-iter",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="Fast Griffin-Lim iterations after PGHI for the refined reconstruction.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores]."
)
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
        titles=[f"#{i} {_label_name(train, int(lab))}" for i, lab in zip(index, labels, strict=True)],
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
        name = f"test{k:02d}_{_label_name(test, int(labels[k]))}"
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


def _label_name(cache, label: int) -> str:
    return cache.label_names[label] if 0 <= label < len(cache.label_names) else "unlabelled"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _build_options(func):
    options = [
        click.option(
            "--stats-from",
            type=click.Path(exists=True),
            help="Normalise with a training cache's statistics (or a stats JSON file).",
        ),
        click.option(
            "--own-stats",
            is_flag=True,
            help="Allow a non-training split to use its own statistics (not recommended).",
        ),
        click.option(
            "--r",
            "r",
            type=float,
            default=None,
            help="Lower clip in standard deviations (default: the 1 % quantile rule).",
        ),
        click.option(
            "--clip-quantile",
            type=float,
            default=0.01,
            show_default=True,
            help="Fraction of training values clipped to the floor when --r is not given.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="Local worker processes [default: all cores].",
        ),
        click.option(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="A dask.distributed scheduler address (tcp://host:8786) to run on.",
        ),
        click.option(
            "--shard-size",
            type=click.IntRange(min=1),
            default=64,
            show_default=True,
            help="Items per shard (and per task).",
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of random crops."),
        click.option("--overwrite", is_flag=True, help="Replace an existing cache at OUT."),
        click.option(
            "--strict", is_flag=True, help="Fail on the first bad audio file instead of skipping it."
        ),
        click.option(
            "--upper-quantile",
            type=float,
            default=0.99,
            show_default=True,
            help="Upper clip: this quantile of the per-item peaks (robust to a few outlier files).",
        ),
        click.option(
            "--range-policy",
            type=click.Choice(["skip", "keep"]),
            default="skip",
            show_default=True,
            help="Clips out of range (float peaks > 1, clipped, DC only): skip them, or keep them; "
            "both report each file.",
        ),
        click.option(
            "--keep-logmag/--drop-logmag",
            default=False,
            show_default=True,
            help="Also keep the raw log-magnitudes (to renormalise without decoding again).",
        ),
        click.option(
            "--dtype",
            type=click.Choice(["float16", "float32"]),
            default="float16",
            show_default=True,
            help="Storage dtype of the spectrograms (reads return float32).",
        ),
        click.option(
            "--sharded", is_flag=True, help="Store --shard-size items per file (fewer files, slower reads)."
        ),
        click.option(
            "--window", type=click.Choice(list(audiospec.WINDOWS)), default="hamming", show_default=True
        ),
        click.option("--n-fft", type=int, default=512, show_default=True),
        click.option("--hop-length", type=int, default=128, show_default=True),
        click.option("--n-samples", type=int, default=16384, show_default=True),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _build(
    listing,
    out,
    *,
    stats_from,
    own_stats,
    r,
    clip_quantile,
    workers,
    scheduler,
    shard_size,
    seed,
    overwrite,
    strict,
    upper_quantile,
    range_policy,
    keep_logmag,
    dtype,
    sharded,
    window,
    n_fft,
    hop_length,
    n_samples,
    quiet,
):
    splits = sorted({item.split for item in listing.items})
    if stats_from is None and not own_stats and not all(s.startswith("train") for s in splits):
        raise audiospec.ParameterError(
            f"split {', '.join(splits)} is not a training split: pass --stats-from TRAIN_CACHE to normalise "
            "it with the training statistics (or --own-stats to use its own)"
        )
    if stats_from is not None:
        try:
            open_cache(stats_from)
        except audiospec.CacheError as exc:
            raise click.BadParameter(
                f"{stats_from!r} must be the training split's cache (from audiospec build-cache): {exc}",
                param_hint="--stats-from",
            ) from None
    config = SpectrogramConfig(window=window, n_fft=n_fft, hop_length=hop_length, n_samples=n_samples)
    report = build_cache(
        listing,
        out,
        config=config,
        stats_from=stats_from,
        r=r,
        clip_quantile=clip_quantile,
        seed=seed,
        shard_size=shard_size,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        strict=strict,
        upper_quantile=upper_quantile,
        range_policy=range_policy,
        keep_logmag=keep_logmag,
        dtype=dtype,
        sharded=sharded,
        progress=not quiet,
    )
    if report.already_complete:
        click.echo(f"{out} is already complete ({report.n_items} items); nothing to do")
        return
    resumed = f", resumed after {report.resumed_blocks} finished shards" if report.resumed_blocks else ""
    click.echo(f"wrote {out}: {report.n_items} items in {report.seconds:.1f} s{resumed}")
    if report.n_skipped:
        click.echo(f"skipped {report.n_skipped} file(s):", err=True)
        for record in report.skipped[:20]:
            click.echo(f"  {skip_line(record['path'], record['reason'], root=listing.root)}", err=True)
        if report.n_skipped > 20:
            click.echo(f"  ... and {report.n_skipped - 20} more (audiospec info {out})", err=True)
    if report.warnings:
        click.echo(f"kept {len(report.warnings)} file(s) with a warning:", err=True)
        for record in report.warnings[:20]:
            click.echo(f"  {record['path']}: {record['reason']}", err=True)
        if len(report.warnings) > 20:
            click.echo(f"  ... and {len(report.warnings) - 20} more (audiospec info {out})", err=True)


@main.group("build-cache")
def build_cache_group() -> None:
    """Turn a dataset folder into a normalised spectrogram cache (zarr), in parallel with dask."""


@build_cache_group.command("nsynth")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path())
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="train", show_default=True)
@click.option(
    "--families",
    default="guitar,string,mallet",
    show_default=True,
    help="Comma-separated instrument families; label = position in this list.",
)
@click.option(
    "--sources",
    default="acoustic",
    show_default=True,
    help="Comma-separated instrument sources (acoustic, electronic, synthetic) or 'all'.",
)
@_build_options
@friendly_errors(AudiospecError)
def build_nsynth(root, out, split, families, sources, **options):
    """NSynth: ROOT holds nsynth-<split>/examples.json and audio/; the first 1.024 s of each note."""
    listing = list_nsynth(root, split=split, families=_csv(families), sources=_csv(sources))
    _build(listing, out, **options)


@build_cache_group.command("sc09")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path())
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="train", show_default=True)
@_build_options
@friendly_errors(AudiospecError)
def build_sc09(root, out, split, **options):
    """Speech Commands digits zero..nine (SC09), split by the official lists; centred 1 s clips."""
    _build(list_sc09(root, split=split), out, **options)


@build_cache_group.command("librispeech")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path())
@click.option(
    "--crops-per-file",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Seeded random 1.024 s crops per utterance.",
)
@click.option(
    "--speakers-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="SPEAKERS.TXT [default: in ROOT or its parent].",
)
@_build_options
@friendly_errors(AudiospecError)
def build_librispeech(root, out, crops_per_file, speakers_file, **options):
    """A LibriSpeech subset folder (e.g. train-clean-100); label = speaker gender."""
    listing = list_librispeech(root, crops_per_file=crops_per_file, speakers_file=speakers_file)
    _build(listing, out, **options)


@build_cache_group.command("folder")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path())
@click.option(
    "--labels",
    default="subfolders",
    show_default=True,
    help="'subfolders', 'none', or a CSV file with columns path,label.",
)
@click.option(
    "--crop",
    "crop_policy",
    type=click.Choice(list(audiospec.CROP_POLICIES)),
    default="start",
    show_default=True,
)
@_build_options
@friendly_errors(AudiospecError)
def build_folder(root, out, labels, crop_policy, **options):
    """Any folder of audio files; labels from sub-folder names, a CSV, or none."""
    _build(list_folder(root, labels=labels, crop=crop_policy), out, **options)


@main.command()
@click.argument("cache_path", metavar="CACHE", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@friendly_errors(AudiospecError)
def info(cache_path, as_json):
    """Counts per label and split, statistics, config and skipped files of a cache."""
    cache = open_cache(cache_path)
    labels, splits = cache.labels, cache.splits
    counts = {}
    for split in cache.split_names:
        in_split = labels[splits == split]
        counts[split] = {_label_name(cache, lab): int(np.sum(in_split == lab)) for lab in np.unique(in_split)}
    stats = cache.stats
    summary = {
        "path": cache.path,
        "items": len(cache),
        "shape": list(cache.shape),
        "reader": cache.reader,
        "reader_options": cache.reader_options,
        "root": cache.attrs["root"],
        "counts": counts,
        "stats": stats.to_dict(histogram=False),
        "stats_source": cache.attrs.get("stats_source"),
        "config": cache.config.to_dict(),
        "attributes": {k: len(v) for k, v in cache.attribute_names.items()},
        "skipped": cache.skipped,
        "format_version": cache.attrs["format_version"],
        "versions": cache.attrs.get("versions", {}),
        "created": cache.attrs.get("created"),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"{cache.path}: {len(cache)} items of {cache.config.shape[0]} x {cache.config.shape[1]} "
        f"({cache.reader} reader, format v{summary['format_version']})"
    )
    for split, per_label in counts.items():
        click.echo(f"  {split}: " + ", ".join(f"{k} {v}" for k, v in per_label.items()))
    click.echo(
        f"  statistics ({summary['stats_source']}): mean {stats.mean:.3f}, std {stats.std:.3f} nepers; "
        f"clip [-{stats.r:.3f}, {stats.upper:.3f}] std ({stats.r_rule} rule)"
    )
    cfg = cache.config
    click.echo(
        f"  transform: {cfg.sample_rate} Hz, {cfg.n_samples} samples, {cfg.window} {cfg.win_length}, "
        f"n_fft {cfg.n_fft}, hop {cfg.hop_length}"
    )
    if cache.attribute_names:
        click.echo(
            "  attributes: " + ", ".join(f"{k} ({len(v)} values)" for k, v in cache.attribute_names.items())
        )
    click.echo(f"  skipped files: {len(cache.skipped)}")
    for record in cache.skipped:
        click.echo(f"    {skip_line(record['path'], record['reason'], root=cache.attrs.get('root'))}")
    warnings = cache.attrs.get("warnings", [])
    if warnings:
        click.echo(f"  files kept with a warning: {len(warnings)}")
        for record in warnings:
            click.echo(f"    {skip_line(record['path'], record['reason'], root=cache.attrs.get('root'))}")


@main.command()
@click.argument("cache_path", metavar="CACHE", type=click.Path())
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--index", "indices", type=int, multiple=True, help="Item index (repeatable) [default: the first --n]."
)
@click.option("--n", "n_items", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--n-iter",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="Fast Griffin-Lim iterations after PGHI.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace WAVs of the same names in OUT_DIR.")
@friendly_errors(AudiospecError)
def invert(cache_path, out_dir, indices, n_items, n_iter, seed, overwrite):
    """Write WAVs of cache items, rebuilt from their normalised spectrograms with PGHI (+ FGLA)."""
    cache = open_cache(cache_path)
    indices = list(indices) or list(range(min(n_items, len(cache))))
    spectrograms, labels = cache.batch(indices)
    paths = [
        os.path.join(out_dir, f"item-{index:06d}-{_label_name(cache, int(label))}.wav")
        for index, label in zip(indices, labels, strict=True)
    ]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise click.UsageError(f"{existing[0]}{more} already exists; pass --overwrite to replace it")
    audio = audiospec.reconstruct(
        spectrograms, config=cache.config, stats=cache.stats, n_iter=n_iter, rng=seed
    )
    os.makedirs(out_dir, exist_ok=True)
    for path, y in zip(paths, audio, strict=True):
        audiospec.write_wav(path, y, sample_rate=cache.config.sample_rate)
    click.echo(f"wrote {len(indices)} WAV file(s) to {out_dir}")


@main.command("demo-data")
@click.argument("kind", type=click.Choice(["nsynth"]))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--per-family",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Training notes per family (valid and test get a quarter each).",
)
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


if __name__ == "__main__":  # pragma: no cover
    main()
