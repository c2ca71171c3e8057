"""``gaae push`` (publish a run's encoders on the Hugging Face Hub) and ``gaae features`` (z, s from audio).

Both are standalone click commands, registered on the ``gaae`` group by :mod:`gaae_cli.gaae_cli`.
"""

from __future__ import annotations

import json
import os
import sys
import time

import click

from audiospec import AudiospecError
from gaae_cli._common import (
    card_options,
    check_overwrite,
    file_output_options,
    friendly_errors,
    hub_model_options,
    int_option,
    skip_line,
    threads_option,
    window_options,
)
from gaae_models.errors import GaaeError

__all__ = ["push", "features"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--repo-id", required=True, metavar="OWNER/NAME", help="Hub repository (created if missing).")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--revision", default=None, metavar="BRANCH", help="Branch to push to [default: main].")
@click.option(
    "--token",
    default=None,
    metavar="TOKEN",
    help="Hub token [default: HF_TOKEN or the token file of `hf auth login`]. Never printed.",
)
@click.option("--commit-message", default=None, help="Commit message [default: 'gaae push RUN'].")
@card_options
@friendly_errors(GaaeError, AudiospecError)
def push(
    run_dir,
    repo_id,
    private,
    revision,
    with_decoder,
    report_dir,
    token,
    checkpoint,
    commit_message,
    license_id,
    datasets,
):
    """Publish the encoders of the GAAE run RUN on the Hugging Face Hub.

    Uploads config.json (architecture, audio transform, dataset statistics, label names) and
    model.safetensors of the encoder E, which loads as Encoder (z and s), GuidedEncoder (z) or
    StyleEncoder (s); with --with-decoder also decoder/; and a model card. Set HF_ENDPOINT to use
    another Hub.
    """
    from gaae_models.hub import push_run

    result = push_run(
        run_dir,
        repo_id,
        private=private,
        revision=revision,
        token=token,
        with_decoder=with_decoder,
        report_dir=report_dir,
        checkpoint=checkpoint,
        commit_message=commit_message,
        license_id=license_id,
        datasets=datasets,
    )
    click.echo(json.dumps(result))


def _parse_which(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not names or any(n not in ("z", "s") for n in names):
        raise click.BadParameter(f"{value!r} must be a comma-separated list of z and s (e.g. z,s or s)")
    return names


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--model", "model_ref", required=True, metavar="REPO_OR_DIR", help="Hub id OWNER/NAME or a folder."
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option(
    "--which",
    default=None,
    metavar="z,s",
    callback=_parse_which,
    help="Comma-separated latents to save [default: all the model gives].",
)
@window_options
@click.option(
    "--precision",
    type=click.Choice(["float32", "bfloat16"]),
    default="float32",
    show_default=True,
    help="bfloat16: autocast (faster on GPUs and CPUs with AMX, ~1e-2 relative error).",
)
@int_option(
    "--workers",
    help="Batches computed in parallel [default: one per CPU core, single-threaded each; 1 on a GPU].",
)
@hub_model_options
@file_output_options
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def features(
    inputs,
    model_ref,
    out_path,
    which,
    hop,
    batch_size,
    device,
    precision,
    workers,
    revision,
    token,
    overwrite,
    quiet,
):
    """Extract z and s features from audio files and folders (recursively) into an .npz file.

    Each file is resampled to the model's rate, cut into 1.024 s windows (zero-padded at the end)
    and preprocessed exactly as the training cache was. The .npz holds z and/or s (one row per
    window), file_index and offset_seconds (where each row comes from), files, the pooled
    z_mean / s_mean (one row per file), n_windows, duration_seconds and the skipped files.
    Unreadable files are reported on stderr and skipped.
    """
    from tqdm import tqdm

    from gaae_models.errors import ConfigError
    from gaae_models.features import extract_features, save_features
    from gaae_models.hub import load_encoder

    check_overwrite(out_path, overwrite)
    started = time.perf_counter()
    encoder = load_encoder(model_ref, revision=revision, token=token)

    def report(path: str, reason: str) -> None:
        tqdm.write(f"skipped {skip_line(path, reason)}", file=sys.stderr)

    result = extract_features(
        encoder,
        inputs,
        which=which,
        hop=hop,
        batch_size=batch_size,
        device=device,
        precision=precision,
        workers=workers,
        progress=not quiet,
        on_skip=report,
    )
    if not result.files:
        raise ConfigError(f"none of the {len(result.skipped)} input file(s) could be read; nothing written")
    metadata = {
        "model": os.fspath(model_ref),
        "revision": revision or "",
        "label_names": list(encoder.label_names or ()),
    }
    path = save_features(out_path, result, metadata=metadata)
    summary = {
        "out": path,
        "files": len(result.files),
        "windows": int(result.file_index.shape[0]),
        "skipped": len(result.skipped),
        "latents": list(result.latents),
        "seconds": round(time.perf_counter() - started, 3),
    }
    click.echo(json.dumps(summary))
