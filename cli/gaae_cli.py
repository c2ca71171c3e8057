"""The ``gaae`` command group: training (``fit``); sampling, evaluation and features join it later."""

from __future__ import annotations

import importlib.util
import json
import math
import os

import click

import gaae_models
from audiospec import AudiospecError
from gaae_cli._common import (
    OneLineErrorGroup,
    check_empty_dir,
    check_overwrite,
    device_option,
    friendly_errors,
    int_option,
    resolve_device,
    threads_option,
)
from gaae_models.errors import GaaeError
from gaae_models.kinds import KINDS
from gaae_models.train_config import TrainConfig

__all__ = ["main"]

_TRAIN_DEFAULTS = TrainConfig()  # its defaults, shown in `gaae fit --help`


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gaae_models.__version__, prog_name="gaae")
def main() -> None:
    """Guided Adversarial Autoencoder: training, sampling, evaluation and feature extraction."""
    missing = [name for name in _MODEL_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:  # audiospec alone was installed
        raise click.ClickException(
            f"gaae needs the models extra ({', '.join(missing)} missing): "
            "pip install 'gaae-audio[models]' (from a checkout: pip install -e '.[models]')"
        )


#: Import names of the ``models`` extra (pyproject.toml), which audiospec does not need.
_MODEL_PACKAGES = ("torch", "safetensors", "huggingface_hub", "sklearn")


@main.command()
@click.argument("cache", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option(
    "--model",
    "model_kind",
    type=click.Choice(list(KINDS)),
    default="gaae",
    show_default=True,
    help="The GAAE, or a baseline: the simple CNN, the BigGANs, the BiGAN (with a probe on its features).",
)
@click.option(
    "--preset",
    type=click.Choice(["cpu", "paper", "small"]),
    default=None,
    help="Architecture preset: cpu (2 CPU cores), paper (the appendix), small (old runs only) "
    "[default: cpu, or the config file's].",
)
@click.option(
    "--paper-settings",
    is_flag=True,
    help="Undo every departure from the paper (cBN spectral norm, plain E_s head, x_gen from E_s(x), "
    "shared draws, no guidance SpecAugment, no L_cls,gen gate, one Adam beta1, D_x real weights).",
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
@int_option("--steps", help=f"Training steps [default: {_TRAIN_DEFAULTS.steps}, or the config file's].")
@int_option(
    "--batch-size",
    help=f"Items per step (at most the cache's) [default: {_TRAIN_DEFAULTS.batch_size}, or the file's].",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help=f"Seed of the weights and of every draw [default: {_TRAIN_DEFAULTS.seed}, or the config file's].",
)
@device_option
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@click.option(
    "--eval-cache",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A test cache: log the test accuracy of C (or of the CNN) periodically.",
)
@click.option("--in-memory", is_flag=True, help="Load the cache into memory (when it fits).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--tensorboard",
    type=click.Path(file_okay=False),
    default=None,
    help="Also log every number to TensorBoard in this folder (needs: pip install tensorboard).",
)
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def fit(
    cache,
    out_dir,
    model_kind,
    preset,
    paper_settings,
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
    tensorboard,
):
    """Train a GAAE (or a baseline) on the audiospec cache CACHE.

    Runs unchanged under torchrun for data-parallel training, e.g.
    torchrun --nproc-per-node 2 -m gaae_cli.gaae_cli fit CACHE --out RUN
    """
    from gaae_models.config import PAPER_MODEL_SETTINGS, model_config
    from gaae_models.train_config import (
        PAPER_TRAIN_SETTINGS,
        TrainConfig,
        load_overrides,
        parse_set_options,
    )
    from gaae_models.training import fit as run_fit

    file_overrides = (
        load_overrides(config_file) if config_file else {"model": {}, "train": {}, "preset": None}
    )
    cli_overrides = parse_set_options(set_options)
    preset = preset or file_overrides.get("preset") or "cpu"
    paper_train = PAPER_TRAIN_SETTINGS if paper_settings else {}
    paper_model = PAPER_MODEL_SETTINGS if paper_settings else {}
    train_fields = {**paper_train, **file_overrides["train"], **cli_overrides["train"], "model": model_kind}
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
    _check_data(cache, eval_cache, train.batch_size)
    model = model_config(preset, **{**paper_model, **file_overrides["model"], **cli_overrides["model"]})
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
        tensorboard=tensorboard,
    )
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "final_metrics"}))


@main.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False), required=False)
@click.option(
    "--label", "labels", multiple=True, help="A label name to generate (repeatable) [default: all]."
)
@int_option("--n", "n", default=4, help="Samples per label.")
@int_option(
    "--n-iter", minimum=0, default=16, help="Fast Griffin-Lim iterations after PGHI when rebuilding audio."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents.")
@click.option("--interpolate", is_flag=True, help="Interpolate linearly between two latents (paper V-F).")
@int_option("--steps", "n_steps", minimum=2, default=8, help="Interpolation steps.")
@click.option(
    "--from-audio",
    "audio_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Encode this clip's style s and decode it under every label (GAAE runs).",
)
@click.option(
    "--to-cache",
    "cache_out",
    type=click.Path(),
    help="Write --n generated spectrograms (in total) with their labels as an audiospec cache.",
)
@device_option
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing --to-cache cache or write into a non-empty OUT_DIR.",
)
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def sample(
    run_dir, out_dir, labels, n, n_iter, seed, interpolate, n_steps, audio_path, cache_out, device, overwrite
):
    """Generate from the trained run RUN into OUT_DIR: a labelled PNG grid and WAVs.

    \b
    gaae sample RUN samples/ --label guitar --n 8
    gaae sample RUN interp/ --interpolate --steps 10
    gaae sample RUN transfer/ --from-audio my_note.wav
    gaae sample RUN --to-cache generated.zarr --n 5000
    """
    from gaae_models import generation
    from gaae_models.runs import load_run

    modes = sum(bool(m) for m in (interpolate, audio_path, cache_out))
    if modes > 1:
        raise click.UsageError("choose one of --interpolate, --from-audio and --to-cache")
    if cache_out is None and out_dir is None:
        raise click.UsageError("give OUT_DIR (or --to-cache OUT.zarr)")
    if cache_out is not None:
        check_overwrite(cache_out, overwrite)
    elif out_dir is not None:
        check_empty_dir(out_dir, overwrite)
    run = load_run(run_dir, device=resolve_device(device))
    labels = list(labels) or None
    if cache_out is not None:
        path = generation.generate_cache(run, cache_out, n=n, labels=labels, seed=seed, overwrite=overwrite)
        click.echo(f"wrote {n} generated spectrograms to {path}")
        return
    if interpolate:
        index = generation.interpolate(run, out_dir, labels=labels, n_steps=n_steps, seed=seed, n_iter=n_iter)
    elif audio_path:
        index = generation.from_audio(run, audio_path, out_dir, labels=labels, n_iter=n_iter, seed=seed)
    else:
        index = generation.sample(run, out_dir, labels=labels, n=n, seed=seed, n_iter=n_iter)
    click.echo(f"wrote {index['grid']} and {len(index['items'])} WAVs to {os.path.abspath(out_dir)}")


@main.command()
@click.argument(
    "run_dirs", metavar="RUN...", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False)
)
@click.option(
    "--test-cache", required=True, type=click.Path(exists=True, file_okay=False), help="The real test split."
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Report folder.")
@click.option(
    "--metric-model",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A CNN run trained on every label, for IS/FID [default: a CNN run among RUN... with every label].",
)
@int_option("--n", "n_generated", minimum=2, default=1000, help="Generated samples per seed (IS, FID, CAS).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated generation seeds.")
@int_option("--cas-steps", minimum=0, default=300, help="Training steps of each CAS CNN (0 skips CAS).")
@int_option("--cas-batch-size", default=16)
@click.option(
    "--probe-attribute",
    "probe_attributes",
    multiple=True,
    help="Test-cache attribute to probe (repeatable) [default: every one with 2-20 values].",
)
@int_option("--tsne-points", minimum=0, default=1000)
@int_option("--n-iter", minimum=0, default=16, help="Fast Griffin-Lim iterations for the sample WAVs.")
@device_option
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def evaluate(
    run_dirs,
    test_cache,
    out_dir,
    metric_model,
    n_generated,
    seeds,
    cas_steps,
    cas_batch_size,
    probe_attributes,
    tsne_points,
    n_iter,
    device,
    overwrite,
    quiet,
):
    """Evaluate runs RUN... on TEST: accuracy, IS/FID, CAS, probes and t-SNE into a report.

    \b
    gaae evaluate runs/gaae5 runs/cnn5 runs/cnn100 --test-cache test.zarr --out report/
    """
    from gaae_models.evaluation import evaluate as run_evaluate

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{seeds!r} must be comma-separated integers", param_hint="--seeds"
        ) from None
    check_empty_dir(out_dir, overwrite)
    results = run_evaluate(
        list(run_dirs),
        test_cache,
        out_dir,
        metric_model=metric_model,
        n_generated=n_generated,
        seeds=seed_list,
        cas_steps=cas_steps,
        cas_batch_size=cas_batch_size,
        probe_attributes=list(probe_attributes) or None,
        tsne_points=tsne_points,
        n_iter=n_iter,
        device=resolve_device(device),
        progress=not quiet,
    )
    click.echo(f"wrote {os.path.join(out_dir, 'report.md')} ({len(results['runs'])} runs)")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="Tiny sizes (seconds, not minutes): checks that the path works.")
@click.option("--labelled-fraction", type=float, default=0.05, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--overwrite", is_flag=True, help="Replace a previous demo in OUT_DIR.")
@friendly_errors(GaaeError, AudiospecError)
@threads_option
def demo(out_dir, quick, labelled_fraction, seed, device, quiet, overwrite):
    """Run the whole mission on built-in synthetic notes (no download) into OUT_DIR.

    Synthesises an NSynth-layout dataset, builds caches, trains a small GAAE with 5 % of the labels
    and two CNNs, writes samples, evaluates (accuracy, IS/FID, t-SNE), saves the encoder with
    save_pretrained and extracts features from WAV files: about 17 CPU-minutes (300 GAAE steps).
    """
    from gaae_models.demo import run_demo

    summary = run_demo(
        out_dir,
        size="quick" if quick else "default",
        labelled_fraction=labelled_fraction,
        seed=seed,
        device=resolve_device(device),
        progress=not quiet,
        overwrite=overwrite,
    )
    n, art = summary["numbers"], summary["artefacts"]
    pct = f"{100 * n['labelled_fraction']:g} %"
    lines = [
        f"gaae demo finished in {summary['seconds'] / 60:.1f} min "
        f"({n['n_train']} training and {n['n_test']} test notes)",
        "",
        "headline numbers (test split):",
        f"  GAAE classifier C, {pct} labels:   accuracy {n['gaae_classifier_accuracy']:.3f}",
        f"  simple CNN, same {pct} labels:     accuracy {n['cnn_same_labels_accuracy']:.3f}",
        f"  simple CNN, every label:         accuracy {n['cnn_all_labels_accuracy']:.3f}",
        f"  GAAE samples: IS {n['gaae_inception_score']:.3f} "
        f"(real test {n['real_test_inception_score']:.3f}), "
        f"FID {n['gaae_fid']:.3f} (real train vs test {n['real_train_fid']:.3f})",
        "",
        "training health of the GAAE (last measurement; log.jsonl has every one):",
        *_health_lines(n["health"]),
        "",
        "artefacts:",
        f"  caches           {art['train_cache']}  {art['test_cache']}",
        f"  runs             {os.path.dirname(art['run_gaae'])}/{{gaae,cnn_few,cnn_all}}",
        f"  samples (PNG)    {art['samples_grid']}",
        f"  samples (WAV)    {art['samples_dir']}",
        f"  report           {os.path.join(art['report'], 'report.md')} (t-SNE and sample PNGs in figures/)",
        f"  encoder          {art['encoder']}  (Encoder.from_pretrained)",
        f"  features         {art['features']}",
        f"  summary          {os.path.join(out_dir, 'summary.json')}",
    ]
    click.echo("\n".join(lines))


def _check_data(cache_path: str, eval_cache: str | None, batch_size: int) -> None:
    """Refuse a batch larger than the cache; warn when the test cache has other statistics."""
    from audiospec.cache import open_cache

    cache = open_cache(cache_path)
    if batch_size > len(cache):
        raise click.BadParameter(
            f"batch_size={batch_size} is larger than the {len(cache)} items of {cache_path}; "
            f"use at most {len(cache)}",
            param_hint="--batch-size",
        )
    if eval_cache:
        mine, theirs = cache.stats, open_cache(eval_cache).stats
        fields = ("mean", "std", "r", "upper")
        if any(not math.isclose(getattr(mine, k), getattr(theirs, k), rel_tol=1e-6) for k in fields):
            click.echo(
                f"Warning: --eval-cache {eval_cache} was normalised with other statistics than {cache_path} "
                f"(mean {theirs.mean:.4g} vs {mine.mean:.4g}, std {theirs.std:.4g} vs {mine.std:.4g}), so "
                "its accuracy is not comparable; rebuild it with "
                f"audiospec build-cache --stats-from {cache_path}",
                err=True,
            )


def _health_lines(h: dict) -> list[str]:
    if "health_s_std_mean" not in h:
        return ["  (no health measurement: the run was shorter than health_every)"]
    top = h.get("health_sat_prior_high")  # runs before the rails were split have none
    rails = f"(at the top rail {100 * top:.1f} %; " if top is not None else "("
    lines = [
        f"  E_s(x) per-dimension std   {h['health_s_std_mean']:.2f} "
        f"(min {h['health_s_std_min']:.2f}, max {h['health_s_std_max']:.2f}; prior N(0, I): 1)",
        f"  two-sample test E_s vs N(0, I)  accuracy {h['health_s_two_sample_acc']:.2f} (0.5 = matched)",
        f"  G(s ~ N(0, I), y) saturated pixels  {100 * h['health_sat_prior']:.1f} % "
        + rails
        + f"real data {100 * h['health_sat_real']:.1f} %)",
        f"  C on generated samples     accuracy {h['health_c_acc_gen']:.2f}",
        f"  reconstruction MSE / mean-image MSE  {h['health_rec_ratio']:.2f} (1 = no better than the mean)",
    ]
    if "grad_rec" in h:
        shares = ", ".join(
            f"{k} {100 * h['grad_' + k]:.0f} %" for k in ("rec", "gen", "lat", "cls_lab", "cls_gen")
        )
        lines.append(f"  gradient shares on E's trunk: {shares}")
    return lines


from gaae_cli.gaae_hub_cli import features, push  # noqa: E402
from gaae_cli.gaae_tools_cli import export, plot_log, predict  # noqa: E402

main.add_command(push)
main.add_command(features)
main.add_command(export)
main.add_command(predict)
main.add_command(plot_log)

if __name__ == "__main__":  # pragma: no cover
    main()
