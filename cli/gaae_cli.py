"""The ``gaae`` command group: training (``fit``); sampling, evaluation and features join it later."""

from __future__ import annotations

import json

import click

import gaae_models
from audiospec import AudiospecError
from gaae_cli._common import friendly_errors
from gaae_models.errors import GaaeError

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gaae_models.__version__, prog_name="gaae")
def main() -> None:
    """Guided Adversarial Autoencoder: training, sampling, evaluation and feature extraction."""


@main.command()
@click.argument("cache", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--model", "model_kind", type=click.Choice(["gaae", "cnn"]), default="gaae", show_default=True)
@click.option(
    "--preset",
    type=click.Choice(["small", "paper"]),
    default=None,
    help="Architecture preset [default: small, or the config file's].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON or TOML file with [model] and [train] tables (and an optional preset).",
)
@click.option(
    "--set",
    "set_options",
    multiple=True,
    metavar="TABLE.FIELD=VALUE",
    help="Override one field, e.g. --set model.ch=4 --set train.lr_d=2e-4 (repeatable).",
)
@click.option(
    "--labelled-fraction",
    type=float,
    default=None,
    help="Seeded, stratified fraction of the cache's labels used as guidance [default: all].",
)
@click.option(
    "--labelled-cache",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Take the guidance from this cache instead (its items join the unlabelled pool).",
)
@click.option("--steps", type=click.IntRange(min=1), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@click.option(
    "--eval-cache",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A test cache: log the test accuracy of C (or of the CNN) periodically.",
)
@click.option("--in-memory", is_flag=True, help="Load the cache into memory (when it fits).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors(GaaeError, AudiospecError)
def fit(
    cache,
    out_dir,
    model_kind,
    preset,
    config_file,
    set_options,
    labelled_fraction,
    labelled_cache,
    steps,
    batch_size,
    seed,
    device,
    resume,
    eval_cache,
    in_memory,
    quiet,
):
    """Train a GAAE (or the simple CNN) on the audiospec cache CACHE.

    Runs unchanged under torchrun for data-parallel training, e.g.
    torchrun --nproc-per-node 2 -m gaae_cli.gaae_cli fit CACHE --out RUN
    """
    from gaae_models.config import model_config
    from gaae_models.train_config import TrainConfig, load_overrides, parse_set_options
    from gaae_models.training import fit as run_fit

    file_overrides = (
        load_overrides(config_file) if config_file else {"model": {}, "train": {}, "preset": None}
    )
    cli_overrides = parse_set_options(set_options)
    preset = preset or file_overrides.get("preset") or "small"
    train_fields = {**file_overrides["train"], **cli_overrides["train"], "model": model_kind}
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("seed", seed),
        ("labelled_fraction", labelled_fraction),
        ("labelled_cache", labelled_cache),
    ):
        if value is not None:
            train_fields[name] = value
    if in_memory:
        train_fields["in_memory"] = True
    train = TrainConfig.from_dict(train_fields)
    model = model_config(preset, **{**file_overrides["model"], **cli_overrides["model"]})
    summary = run_fit(
        cache,
        out_dir,
        model_config=model,
        train=train,
        device=device,
        resume=resume,
        eval_cache=eval_cache,
        preset=preset,
        progress=not quiet,
    )
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "final_metrics"}))


if __name__ == "__main__":  # pragma: no cover
    main()
