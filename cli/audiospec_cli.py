"""The ``audiospec`` command: spectrogram round trips, plots, caches and the built-in demo.

This module holds the group and the commands on single files and caches (``roundtrip``, ``plot``,
``info``, ``invert``); ``build-cache`` lives in :mod:`gaae_cli.audiospec_build_cli` and ``demo`` /
``demo-data`` in :mod:`gaae_cli.audiospec_demo_cli`.
"""

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
from audiospec.cache import open_cache
from gaae_cli._common import (
    OneLineErrorGroup,
    check_overwrite,
    friendly_errors,
    int_option,
    label_name,
    option_group,
    skip_line,
)

__all__ = ["main"]


_config_options = option_group(
    click.option(
        "--window", type=click.Choice(list(audiospec.WINDOWS)), default="hamming", show_default=True
    ),
    click.option("--n-fft", type=int, default=512, show_default=True, help="FFT size in samples."),
    click.option("--hop-length", type=int, default=128, show_default=True, help="Hop in samples."),
    click.option("--n-samples", type=int, default=16384, show_default=True, help="Clip length in samples."),
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
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for random crops and phases."),
)


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
@int_option("--n-iter", minimum=0, default=0, help="Fast Griffin-Lim iterations after PGHI.")
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
@int_option("--n", "n_items", default=16, help="Items in the grid when IN is a cache.")
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
        titles = [f"#{i} {label_name(cache, int(lab))}" for i, lab in zip(index, labels, strict=True)]
        plot_spectrogram_grid(spectrograms, output_path, titles=titles, config=cache.config, vmin=-1, vmax=1)
        click.echo(f"wrote {output_path} ({len(index)} items of {len(cache)})")
        return
    config, clip = _load(input_path, **options)
    logmag = audiospec.stft_logmag(clip, config=config)
    plot_spectrogram(logmag, output_path, config=config, title=os.path.basename(input_path))
    click.echo(f"wrote {output_path} ({logmag.shape[0]} x {logmag.shape[1]})")


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
        counts[split] = {label_name(cache, lab): int(np.sum(in_split == lab)) for lab in np.unique(in_split)}
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
@int_option("--n", "n_items", default=8)
@int_option("--n-iter", minimum=0, default=32, help="Fast Griffin-Lim iterations after PGHI.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace WAVs of the same names in OUT_DIR.")
@friendly_errors(AudiospecError)
def invert(cache_path, out_dir, indices, n_items, n_iter, seed, overwrite):
    """Write WAVs of cache items, rebuilt from their normalised spectrograms with PGHI (+ FGLA)."""
    cache = open_cache(cache_path)
    indices = list(indices) or list(range(min(n_items, len(cache))))
    spectrograms, labels = cache.batch(indices)
    paths = [
        os.path.join(out_dir, f"item-{index:06d}-{label_name(cache, int(label))}.wav")
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


from gaae_cli.audiospec_build_cli import build_cache_group  # noqa: E402
from gaae_cli.audiospec_demo_cli import demo, demo_data  # noqa: E402

main.add_command(build_cache_group)
main.add_command(demo)
main.add_command(demo_data)


if __name__ == "__main__":  # pragma: no cover
    main()
