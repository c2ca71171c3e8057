"""``gaae demo``: the whole mission on built-in synthetic data, end to end, in about 15 minutes on 2 cores.

1. synthesise an NSynth-layout dataset (plucked, bowed and struck notes; no download);
2. build the training and test caches (the test cache normalised with the training statistics);
3. train a GAAE (``cpu`` preset) with 5 % of the labels, a simple CNN on the same 5 % and a CNN on every label
   (the metric model for IS/FID);
4. write sample WAVs and a labelled spectrogram grid;
5. evaluate: accuracy of C against the CNN on the same labels, IS/FID with the metric CNN, t-SNE
   of z and s, probes (``report.md``);
6. save the encoder with ``save_pretrained``, load it back and extract features from a few WAV files.

:func:`run_demo` returns a summary (paths and headline numbers) and writes it as ``summary.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from typing import Any

from audiospec.atomic import atomic_write_text
from gaae_models.errors import ConfigError

__all__ = ["run_demo", "DEMO_SIZES", "DEMO_MARKER"]

#: Sizes of the default demo and of the quick one that the tests run.
DEMO_SIZES: dict[str, dict[str, int]] = {
    "default": {
        "per_family": 220,
        "gaae_steps": 300,
        "cnn_steps": 150,
        "batch_size": 8,
        "n_generated": 300,
        "tsne_points": 300,
    },
    "quick": {
        "per_family": 20,
        "gaae_steps": 2,
        "cnn_steps": 2,
        "batch_size": 4,
        "n_generated": 12,
        "tsne_points": 12,
    },
}


def _final_health(run_dir: str) -> dict[str, float]:
    """The last ``health/*`` and ``grad/*`` entries of a GAAE run's log (without prefixes)."""
    out: dict[str, float] = {}
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        for line in f:
            entry = json.loads(line)
            out.update(
                {k.replace("/", "_"): v for k, v in entry.items() if k.startswith(("health/", "grad/"))}
            )
    return out


#: The file a demo folder starts with (what ``--overwrite`` checks before deleting anything).
DEMO_MARKER = ".gaae-demo"


def _stage(progress: bool, number: int, total: int, message: str) -> None:
    if progress:
        print(f"[gaae demo {number}/{total}] {message}", file=sys.stderr, flush=True)


def run_demo(
    out_dir: str,
    *,
    size: str = "default",
    labelled_fraction: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline into ``out_dir`` (created; must be empty or missing, or with
    ``overwrite`` a previous demo's folder, which is emptied first).

    Parameters
    ----------
    out_dir : str
    size : {"default", "quick"}
        ``default`` is the full demo (660 training notes: 14.5 min on 2 cores, 28 CPU-minutes);
        ``quick`` uses tiny sizes (seconds) and is what the test suite runs, so the path cannot
        silently break.
    labelled_fraction : float in (0, 1]
        Labels given to the GAAE and the few-label CNN.
    seed : int
    device : str
    progress : bool
        Stage messages and progress bars on stderr.
    overwrite : bool
        Replace a previous demo in ``out_dir`` (finished or interrupted: a folder holding the
        :data:`DEMO_MARKER` file the demo writes first); any other non-empty folder is refused,
        never deleted.

    Returns
    -------
    dict with ``artefacts`` (paths), ``numbers`` (headline results) and ``seconds``.
    """
    from audiospec.cache import build_cache
    from audiospec.readers import list_nsynth
    from audiospec.synth import make_nsynth_demo
    from gaae_models import generation
    from gaae_models.config import model_config
    from gaae_models.evaluation import evaluate
    from gaae_models.features import extract_features, save_features
    from gaae_models.hub import encoder_from_run
    from gaae_models.models import Encoder
    from gaae_models.runs import load_run
    from gaae_models.train_config import TrainConfig
    from gaae_models.training import fit

    if size not in DEMO_SIZES:
        raise ConfigError(f"size={size!r} must be one of {sorted(DEMO_SIZES)}")
    sizes = DEMO_SIZES[size]
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise ConfigError(
                f"out_dir={out_dir!r} is not empty; choose a new folder (or pass --overwrite to "
                "replace a previous demo)"
            )
        if not os.path.isfile(os.path.join(out_dir, DEMO_MARKER)):
            raise ConfigError(
                f"out_dir={out_dir!r} is not empty and holds no gaae demo (no {DEMO_MARKER}): "
                "refusing to delete it even with --overwrite"
            )
        shutil.rmtree(out_dir)
    started = time.perf_counter()
    total = 7
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, DEMO_MARKER), "w") as f:
        f.write("a gaae demo folder: gaae demo --overwrite may replace it\n")
    art: dict[str, str] = {}

    # 1-2. data and caches
    data = os.path.join(out_dir, "data")
    counts = make_nsynth_demo(
        data, per_family=sizes["per_family"], splits={"train": 1.0, "test": 0.3}, seed=seed, duration=1.1
    )
    _stage(
        progress,
        1,
        total,
        f"synthesised {counts['train']} training and {counts['test']} test notes in {data}",
    )
    for split in ("train", "test"):
        art[f"{split}_cache"] = os.path.join(out_dir, f"{split}.zarr")
        build_cache(
            list_nsynth(data, split=split, sources=("all",)),
            art[f"{split}_cache"],
            stats_from=art["train_cache"] if split == "test" else None,
            workers=1,
            seed=seed,
            shard_size=16,
            progress=progress,
        )
    _stage(progress, 2, total, f"built {art['train_cache']} and {art['test_cache']}")

    # 3. training: the GAAE with few labels, a CNN on the same labels, a CNN on all labels
    runs = os.path.join(out_dir, "runs")
    common = {"batch_size": sizes["batch_size"], "seed": seed, "in_memory": True}
    jobs = {
        "gaae": TrainConfig.from_dict(
            {
                **common,
                "model": "gaae",
                "steps": sizes["gaae_steps"],
                "labelled_fraction": labelled_fraction,
                "sample_every": sizes["gaae_steps"],
                "checkpoint_every": max(1, sizes["gaae_steps"] // 2),
                "eval_every": max(1, sizes["gaae_steps"] // 3),
            }
        ),
        "cnn_few": TrainConfig.from_dict(
            {
                **common,
                "model": "cnn",
                "steps": sizes["cnn_steps"],
                "labelled_fraction": labelled_fraction,
                "batch_size": 2 * sizes["batch_size"],
            }
        ),
        "cnn_all": TrainConfig.from_dict(
            {**common, "model": "cnn", "steps": sizes["cnn_steps"], "batch_size": 2 * sizes["batch_size"]}
        ),
    }
    seconds: dict[str, float] = {}
    for name, train in jobs.items():
        art[f"run_{name}"] = os.path.join(runs, name)
        summary = fit(
            art["train_cache"],
            art[f"run_{name}"],
            model_config=model_config("cpu"),
            train=train,
            device=device,
            eval_cache=art["test_cache"],
            preset="cpu",
            progress=progress,
        )
        seconds[name] = summary["seconds"]
    _stage(
        progress,
        3,
        total,
        f"trained the GAAE ({seconds['gaae']:.0f} s), a CNN on the same labels ({seconds['cnn_few']:.0f} s) "
        f"and a CNN on every label ({seconds['cnn_all']:.0f} s)",
    )

    # 4. samples
    gaae = load_run(art["run_gaae"], device=device)
    samples = generation.sample(gaae, os.path.join(out_dir, "samples"), n=4, seed=seed)
    art["samples_grid"] = samples["grid"]
    art["samples_dir"] = os.path.dirname(samples["grid"])
    _stage(progress, 4, total, f"wrote {samples['grid']} and {len(samples['items'])} WAVs")

    # 5. evaluation
    art["report"] = os.path.join(out_dir, "report")
    results = evaluate(
        [art["run_gaae"], art["run_cnn_few"], art["run_cnn_all"]],
        art["test_cache"],
        art["report"],
        metric_model=art["run_cnn_all"],
        n_generated=sizes["n_generated"],
        seeds=(0, 1),
        cas_steps=0,
        tsne_points=sizes["tsne_points"],
        device=device,
        progress=progress,
    )
    by_name = {r["name"]: r for r in results["runs"]}
    _stage(progress, 5, total, f"wrote {os.path.join(art['report'], 'report.md')}")

    # 6. encoders: save_pretrained, load back
    art["encoder"] = os.path.join(out_dir, "encoder")
    encoder_from_run(art["run_gaae"]).save_pretrained(art["encoder"])
    encoder = Encoder.from_pretrained(art["encoder"])
    _stage(progress, 6, total, f"saved the encoder (E_z and E_s) to {art['encoder']} and loaded it back")

    # 7. features from WAV files
    wav_dir = os.path.join(data, "nsynth-test", "audio")
    wavs = sorted(os.path.join(wav_dir, f) for f in os.listdir(wav_dir) if f.endswith(".wav"))[:8]
    features = extract_features(encoder, wavs, which=("z", "s"), progress=progress)
    art["features"] = os.path.join(out_dir, "features.npz")
    save_features(art["features"], features)
    _stage(progress, 7, total, f"extracted z and s from {len(wavs)} WAV files into {art['features']}")

    reference = results["reference"]
    gaae_eval = by_name["gaae"]
    numbers = {
        "labelled_fraction": labelled_fraction,
        "gaae_classifier_accuracy": gaae_eval["accuracy"],
        "cnn_same_labels_accuracy": by_name["cnn_few"]["accuracy"],
        "cnn_all_labels_accuracy": by_name["cnn_all"]["accuracy"],
        "gaae_inception_score": gaae_eval["inception_score"]["mean"]
        if gaae_eval["inception_score"]
        else None,
        "real_test_inception_score": reference["real_test_inception_score"]["mean"],
        "gaae_fid": gaae_eval["fid"]["mean"] if gaae_eval["fid"] else None,
        "real_train_fid": reference["real_train_fid"],
        "health": _final_health(art["run_gaae"]),
        "n_train": counts["train"],
        "n_test": counts["test"],
        "train_seconds": seconds,
    }
    summary = {
        "size": size,
        "seed": seed,
        "artefacts": art,
        "figures": {k: os.path.join(art["report"], v) for k, v in gaae_eval["figures"].items()},
        "numbers": numbers,
        "seconds": time.perf_counter() - started,
    }
    atomic_write_text(os.path.join(out_dir, "summary.json"), json.dumps(summary, indent=2))
    return summary
