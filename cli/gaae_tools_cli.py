"""``gaae export`` (a run's pretrained models as a local folder), ``gaae predict`` (labels from audio)
and ``gaae plot-log`` (a run's losses and training health as a PNG, optionally TensorBoard events).

Standalone click commands, registered on the ``gaae`` group by :mod:`gaae_cli.gaae_cli`.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time

import click

from audiospec import AudiospecError
from audiospec.atomic import atomic_path
from gaae_cli._common import (
    card_options,
    check_empty_dir,
    check_overwrite,
    file_output_options,
    friendly_errors,
    hub_model_options,
    skip_line,
    threads_option,
    window_options,
)
from gaae_models.errors import GaaeError

__all__ = ["export", "predict", "plot_log"]

_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.command(context_settings=_SETTINGS)
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--no-classifier", is_flag=True, help="Leave out the classifier C (classifier/, for gaae predict)."
)
@click.option(
    "--repo-id", default="OWNER/NAME", show_default=True, help="Repository name for the card's snippets."
)
@card_options
@click.option("--overwrite", is_flag=True, help="Replace a non-empty DIR.")
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def export(
    run_dir,
    out_dir,
    with_decoder,
    no_classifier,
    report_dir,
    checkpoint,
    repo_id,
    license_id,
    datasets,
    overwrite,
):
    """Write the pretrained models of the GAAE run RUN into the folder DIR (what gaae push uploads).

    DIR gets config.json + model.safetensors of the encoder E (Encoder / GuidedEncoder /
    StyleEncoder.from_pretrained(DIR)), classifier/ (C; AudioClassifier.from_pretrained(DIR),
    gaae predict), with --with-decoder decoder/, and a model card README.md; the audio transform,
    the dataset statistics and the label names are in each config.json. Files are readable by
    others (0644, folders 0755, under umask 022).
    """
    from gaae_models.hub import export_run, relative_files

    check_empty_dir(out_dir, overwrite)
    out = export_run(
        run_dir,
        out_dir,
        repo_id=repo_id,
        with_decoder=with_decoder,
        with_classifier=not no_classifier,
        report_dir=report_dir,
        checkpoint=checkpoint,
        license_id=license_id,
        datasets=datasets,
        overwrite=overwrite,
    )
    click.echo(json.dumps({"out": out, "files": relative_files(out)}))


def _prediction_rows(path, prediction, per_window):
    names = prediction.label_names
    rows = [[path, "pooled", "", prediction.label, *(f"{p:.6f}" for p in prediction.probabilities)]]
    if per_window:
        for i, (offset, probs) in enumerate(
            zip(prediction.offsets, prediction.window_probabilities, strict=True)
        ):
            rows.append(
                [path, str(i), f"{offset:.6f}", names[int(probs.argmax())], *(f"{p:.6f}" for p in probs)]
            )
    return rows


def _prediction_json(path, prediction, per_window):
    names = prediction.label_names
    entry = {
        "file": path,
        "label": prediction.label,
        "probabilities": {n: float(p) for n, p in zip(names, prediction.probabilities, strict=True)},
    }
    if per_window:
        entry["windows"] = [
            {
                "offset_seconds": float(offset),
                "label": names[int(probs.argmax())],
                "probabilities": {n: float(p) for n, p in zip(names, probs, strict=True)},
            }
            for offset, probs in zip(prediction.offsets, prediction.window_probabilities, strict=True)
        ]
    return entry


@click.command(context_settings=_SETTINGS)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--model",
    "model_ref",
    required=True,
    metavar="REPO_OR_DIR",
    help="Hub id OWNER/NAME, a folder written by gaae export, or a GAAE run folder.",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .csv (one row per file, plus per window with --per-window) or .json.",
)
@click.option("--per-window", is_flag=True, help="Also write the prediction of every window.")
@window_options
@hub_model_options
@file_output_options
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def predict(
    inputs, model_ref, out_path, per_window, hop, batch_size, device, revision, token, overwrite, quiet
):
    """Label audio files and folders (recursively) with the GAAE classifier (E_z, then C).

    Each file is cut into 1.024 s windows and preprocessed as the training cache was; every window
    gets class probabilities (softmax of C(E_z(x))) and the file the mean of them (its label is
    the most probable class). Unreadable files are reported on stderr and skipped.
    """
    from tqdm import tqdm

    from gaae_models.errors import ConfigError
    from gaae_models.pretrained import AudioClassifier

    suffix = os.path.splitext(out_path)[1].lower()
    if suffix not in (".csv", ".json"):
        raise ConfigError(f"--out {out_path!r} must end in .csv or .json (the output format)")
    check_overwrite(out_path, overwrite)
    started = time.perf_counter()
    model = AudioClassifier.from_pretrained(model_ref, revision=revision, token=token)

    def report(path: str, reason: str) -> None:
        tqdm.write(f"skipped {skip_line(path, reason)}", file=sys.stderr)

    results, skipped = model.predict_files(
        inputs, hop=hop, batch_size=batch_size, device=device, progress=not quiet, on_skip=report
    )
    if not results:
        raise ConfigError(f"none of the {len(skipped)} input file(s) could be read; nothing written")
    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    with atomic_path(out_path) as tmp:
        with open(tmp, "w", newline="") as f:
            if suffix == ".csv":
                writer = csv.writer(f)
                writer.writerow(
                    ["file", "window", "offset_seconds", "label", *(f"p_{n}" for n in model.label_names)]
                )
                for path, prediction in results:
                    writer.writerows(_prediction_rows(path, prediction, per_window))
            else:
                document = {
                    "model": os.fspath(model_ref),
                    "label_names": list(model.label_names),
                    "files": [_prediction_json(p, pred, per_window) for p, pred in results],
                    "skipped": [{"file": p, "reason": r} for p, r in skipped],
                }
                json.dump(document, f, indent=2)
    counts: dict[str, int] = {}
    for _, prediction in results:
        counts[prediction.label] = counts.get(prediction.label, 0) + 1
    summary = {
        "out": os.path.abspath(out_path),
        "files": len(results),
        "skipped": len(skipped),
        "labels": counts,
        "seconds": round(time.perf_counter() - started, 3),
    }
    click.echo(json.dumps(summary))


@click.command("plot-log", context_settings=_SETTINGS)
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), default=None, help="PNG [default: RUN/log.png]."
)
@click.option("--key", "keys", multiple=True, metavar="NAME", help="Only this logged name (repeatable).")
@click.option(
    "--tensorboard",
    "tb_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="LOGDIR",
    help="Also write TensorBoard scalars there (needs `pip install tensorboard`).",
)
@friendly_errors(GaaeError, AudiospecError)
def plot_log(run_dir, out_path, keys, tb_dir):
    """Draw the losses, accuracies, gradient shares and training health of RUN (its log.jsonl) as a PNG.

    One panel per group of logged names (loss, acc, grad, health, eval, ...), against the step,
    with a moving average over noisy per-step series and dotted targets for the health numbers.
    """
    from gaae_models.runlog import plot_log as draw
    from gaae_models.runlog import write_tensorboard

    result = {"png": os.path.abspath(draw(run_dir, out_path, keys=list(keys) or None))}
    if tb_dir is not None:
        result["tensorboard"] = os.path.abspath(write_tensorboard(run_dir, tb_dir))
    click.echo(json.dumps(result))
