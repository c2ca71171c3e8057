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
from gaae_cli._common import check_overwrite, friendly_errors

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    type=click.Path(exists=True, dir_okay=False),
    help="DatasetStats JSON to normalise with (default: this clip's own statistics).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@_config_options
@friendly_errors(AudiospecError)
def roundtrip(input_path, output_path, n_iter, stats_path, overwrite, **options):
    """Audio -> normalised spectrogram -> audio (PGHI), written to OUT; prints the spectral convergence."""
    check_overwrite(output_path, overwrite)
    config, clip = _load(input_path, **options)
    logmag = audiospec.stft_logmag(clip, config=config)
    if stats_path:
        with open(stats_path) as f:
            stats = audiospec.DatasetStats.from_json(f.read())
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
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT.png", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace OUT.png if it exists.")
@_config_options
@friendly_errors(AudiospecError)
def plot(input_path, output_path, overwrite, **options):
    """Write the log-magnitude spectrogram of IN as a PNG picture."""
    check_overwrite(output_path, overwrite)
    from audiospec.plotting import plot_spectrogram

    config, clip = _load(input_path, **options)
    logmag = audiospec.stft_logmag(clip, config=config)
    plot_spectrogram(logmag, output_path, config=config, title=os.path.basename(input_path))
    click.echo(f"wrote {output_path} ({logmag.shape[0]} x {logmag.shape[1]})")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--n-iter",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="Fast Griffin-Lim iterations after PGHI for the refined reconstruction.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Write into OUT_DIR even if it is not empty.")
@friendly_errors(AudiospecError)
def demo(out_dir, n_iter, seed, overwrite):
    """Run the transform end to end on built-in synthetic notes (no download).

    Synthesises plucked, bowed and struck notes and a chirp, computes their normalised
    spectrograms, rebuilds audio with PGHI and with PGHI + fast Griffin-Lim, and writes WAVs,
    a PNG grid, the statistics and a summary into OUT_DIR.
    """
    from audiospec import synth
    from audiospec.plotting import plot_spectrogram_grid

    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        click.echo(f"Error: {out_dir} is not empty; pass --overwrite to write into it", err=True)
        raise SystemExit(2)
    os.makedirs(out_dir, exist_ok=True)
    config = SpectrogramConfig()
    rng = np.random.default_rng(seed)
    names = ["guitar_C4", "string_A3", "mallet_E5", "chirp"]
    clips = [
        synth.synth_note("guitar", 60, duration=config.duration, rng=rng),
        synth.synth_note("string", 57, duration=config.duration, rng=rng),
        synth.synth_note("mallet", 76, duration=config.duration, rng=rng),
        synth.chirp(duration=config.duration),
    ]
    y = np.stack([c[: config.n_samples] for c in clips])
    logmag = audiospec.stft_logmag(y, config=config)
    stats = audiospec.dataset_stats(audiospec.partial_stats(logmag, config=config))
    with open(os.path.join(out_dir, "stats.json"), "w") as f:
        f.write(stats.to_json())
    normalised = audiospec.normalize(logmag, stats)
    results = {}
    rebuilt = {}
    for label, iters in (("pghi", 0), (f"pghi+fgla{n_iter}", n_iter)):
        start = time.perf_counter()
        y_hat = audiospec.reconstruct(normalised, config=config, stats=stats, n_iter=iters, rng=seed)
        elapsed = (time.perf_counter() - start) / len(names)
        sc = audiospec.spectral_convergence(np.exp(logmag), y_hat, config=config)
        results[label] = {
            "ms_per_clip": elapsed * 1000,
            "spectral_convergence_db": dict(zip(names, map(float, sc), strict=True)),
        }
        rebuilt[label] = y_hat
    with click.progressbar(range(len(names)), label="writing WAVs") as bar:
        for k in bar:
            audiospec.write_wav(os.path.join(out_dir, f"{names[k]}_original.wav"), y[k])
            for label, y_hat in rebuilt.items():
                audiospec.write_wav(os.path.join(out_dir, f"{names[k]}_{label}.wav"), y_hat[k])
    grid = np.concatenate(
        [
            normalised,
            audiospec.normalize(audiospec.stft_logmag(rebuilt[f"pghi+fgla{n_iter}"], config=config), stats),
        ]
    )
    titles = [f"{n} (original)" for n in names] + [f"{n} (rebuilt)" for n in names]
    plot_spectrogram_grid(
        grid, os.path.join(out_dir, "spectrograms.png"), titles=titles, config=config, vmin=-1, vmax=1
    )
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(
            {
                "config": config.to_dict(),
                "seed": seed,
                "results": results,
                "audiospec_version": audiospec.__version__,
            },
            f,
            indent=2,
        )
    click.echo(
        f"\nspectral convergence (dB, lower is better) of {len(names)} clips, {config.shape} spectrograms:"
    )
    click.echo(f"{'clip':<12}" + "".join(f"{label:>18}" for label in results))
    for name in names:
        click.echo(
            f"{name:<12}" + "".join(f"{r['spectral_convergence_db'][name]:>18.2f}" for r in results.values())
        )
    click.echo(f"{'ms / clip':<12}" + "".join(f"{r['ms_per_clip']:>18.1f}" for r in results.values()))
    click.echo(f"\nwrote WAVs, spectrograms.png, stats.json and summary.json to {out_dir}")


if __name__ == "__main__":  # pragma: no cover
    main()
