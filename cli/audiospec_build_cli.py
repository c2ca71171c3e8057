"""``audiospec build-cache``: turn a dataset folder into a normalised spectrogram cache.

One subcommand per reader of :mod:`audiospec.readers` (``nsynth``, ``sc09``, ``librispeech``,
``folder``), all with the cache options of :func:`build_options`; the group is registered on the
``audiospec`` command by :mod:`gaae_cli.audiospec_cli`.
"""

from __future__ import annotations

import click

import audiospec
from audiospec import AudiospecError, SpectrogramConfig
from audiospec.cache import build_cache, open_cache
from audiospec.readers import DatasetListing, list_folder, list_librispeech, list_nsynth, list_sc09
from gaae_cli._common import friendly_errors, option_group, skip_line

__all__ = ["build_cache_group", "build_options", "build"]


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


#: Add the cache options shared by every ``build-cache`` subcommand (passed on to :func:`build`).
build_options = option_group(
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
    click.option("--strict", is_flag=True, help="Fail on the first bad audio file instead of skipping it."),
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
        "--sharded/--one-file-per-item",
        default=True,
        show_default=True,
        help="Store --shard-size items per file, each written whole (default), or one file per item "
        "(format 2's layout, slower to write).",
    ),
    click.option(
        "--window", type=click.Choice(list(audiospec.WINDOWS)), default="hamming", show_default=True
    ),
    click.option("--n-fft", type=int, default=512, show_default=True),
    click.option("--hop-length", type=int, default=128, show_default=True),
    click.option("--n-samples", type=int, default=16384, show_default=True),
    click.option("--quiet", is_flag=True, help="No progress bars."),
)


def build(
    listing: DatasetListing,
    out: str,
    *,
    stats_from: str | None,
    own_stats: bool,
    r: float | None,
    clip_quantile: float,
    workers: int | None,
    scheduler: str | None,
    shard_size: int,
    seed: int,
    overwrite: bool,
    strict: bool,
    upper_quantile: float,
    range_policy: str,
    keep_logmag: bool,
    dtype: str,
    sharded: bool,
    window: str,
    n_fft: int,
    hop_length: int,
    n_samples: int,
    quiet: bool,
) -> None:
    """Build the cache ``out`` of ``listing`` with the options of :func:`build_options`; report it.

    A split whose name does not start with ``train`` needs ``--stats-from`` (or ``--own-stats``).
    Skipped files and files kept with a warning go to stderr (the first 20 of each).
    """
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


@click.group("build-cache")
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
@build_options
@friendly_errors(AudiospecError)
def build_nsynth(root, out, split, families, sources, **options):
    """NSynth: ROOT holds nsynth-<split>/examples.json and audio/; the first 1.024 s of each note."""
    listing = list_nsynth(root, split=split, families=_csv(families), sources=_csv(sources))
    build(listing, out, **options)


@build_cache_group.command("sc09")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path())
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="train", show_default=True)
@build_options
@friendly_errors(AudiospecError)
def build_sc09(root, out, split, **options):
    """Speech Commands digits zero..nine (SC09), split by the official lists; centred 1 s clips."""
    build(list_sc09(root, split=split), out, **options)


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
@build_options
@friendly_errors(AudiospecError)
def build_librispeech(root, out, crops_per_file, speakers_file, **options):
    """A LibriSpeech subset folder (e.g. train-clean-100); label = speaker gender."""
    listing = list_librispeech(root, crops_per_file=crops_per_file, speakers_file=speakers_file)
    build(listing, out, **options)


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
@build_options
@friendly_errors(AudiospecError)
def build_folder(root, out, labels, crop_policy, **options):
    """Any folder of audio files; labels from sub-folder names, a CSV, or none."""
    build(list_folder(root, labels=labels, crop=crop_policy), out, **options)
