"""``gaae evaluate``: the paper's comparisons (sections V-B..V-F, tables IV-VIII) on any runs and test cache.

For every run the evaluation measures what its kind can show:

* **accuracy** of its classifier on the labelled test items (GAAE's C on E_z, the BiGAN probe, the CNN);
* **IS and FID** of generated samples with the *metric model* (a simple CNN trained on every label
  of the real training cache, as the paper does for NSynth): IS from its softmax, FID from its
  penultimate features against the real test split; mean and spread over generation seeds;
* **CAS** for label-conditional generators: a simple CNN trained only on generated samples (with
  their conditioning labels), and one on real + generated, both tested on the real test split,
  beside one trained on the real training labels only with the same budget;
* **representations**: t-SNE plots of z and s (GAAE), e (BiGAN) or the CNN's features on the test
  split coloured by label, and linear probes of the label and of every other categorical attribute
  of the test cache (speaker gender, say) that training never used;
* a grid of samples per class and their WAVs.

Everything is written to one folder: ``report.md`` (tables in the paper's shape, links to every PNG
and WAV), ``results.json`` (every number), ``figures/`` and ``audio/``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from audiospec.atomic import atomic_write_text
from audiospec.cache import SpectrogramCache, open_cache
from audiospec.runtime import package_versions
from gaae_models import metrics
from gaae_models.data import ArraySource, CacheSource
from gaae_models.errors import ConfigError
from gaae_models.probes import spectral_profile
from gaae_models.report import evaluation_report, fmt
from gaae_models.runs import TrainedRun, load_run
from gaae_models.train_config import TrainConfig

__all__ = ["evaluate", "EVALUATION_FORMAT_VERSION"]

EVALUATION_FORMAT_VERSION = 1
#: Attributes with more distinct values than this are not probed by default (pitch, instrument ids).
MAX_PROBE_CLASSES = 20


def _say(progress: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if progress:
            print(f"[gaae evaluate] {message}", file=sys.stderr, flush=True)

    return say


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _n_splits(n: int) -> int:
    return max(1, min(10, n // 50))


def _real_inception_score(probs: np.ndarray) -> tuple[float, float]:
    """IS of the real test split's posteriors (N, K), in a fixed shuffled order: a cache stores its
    items sorted by class, and contiguous splits of one class each score 1 (198 demo notes, 3
    splits: 1.03 where the whole set scores 2.9)."""
    order = np.random.default_rng(0).permutation(len(probs))
    return metrics.inception_score(probs[order], n_splits=_n_splits(len(probs)))


def _mean_std(values: list[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std()), "values": [float(v) for v in arr]}


def _labelled_test(cache: SpectrogramCache) -> tuple[np.ndarray, np.ndarray]:
    labels = cache.labels
    known = np.flatnonzero(labels >= 0)
    return known, labels[known]


def _read(cache: SpectrogramCache, indices: np.ndarray, batch: int = 256) -> np.ndarray:
    parts = [cache.batch(indices[lo : lo + batch])[0] for lo in range(0, len(indices), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, *cache.config.shape), np.float32)


class _MetricModel:
    """The metric CNN: softmax probabilities and penultimate features of spectrograms."""

    def __init__(self, run: TrainedRun, batch_size: int = 128) -> None:
        self.run, self.batch_size = run, batch_size

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cnn = self.run.modules["cnn"]
        probs, feats = [], []
        for lo in range(0, len(x), self.batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[lo : lo + self.batch_size], np.float32))
            h = cnn.features(xb.unsqueeze(1).to(self.run.device))
            feats.append(h.float().cpu().numpy())
            probs.append(torch.softmax(cnn.head(h).float(), dim=1).cpu().numpy())
        return np.concatenate(probs).astype(np.float64), np.concatenate(feats).astype(np.float64)


def _train_cnn(
    sources: list[Any],
    labelled: np.ndarray,
    targets: np.ndarray,
    label_names: list[str],
    *,
    input_shape: tuple[int, int],
    steps: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    desc: str,
    progress: bool,
) -> Any:
    """Train the simple CNN (with SpecAugment) on the given pool; returns the trainer.

    The live CNN of the last step predicts (``cnn_ema_decay=0``), as in the reports made before
    the CNN baseline was averaged (run format 6), so that CAS and metric-model numbers stay comparable.
    """
    from tqdm import tqdm

    from gaae_models.training import CNNTrainer, TrainingData

    data = TrainingData(
        sources,
        np.arange(sum(len(s) for s in sources)),
        labelled.astype(np.int64),
        targets.astype(np.int64),
        list(label_names),
    )
    train = TrainConfig(model="cnn", steps=steps, batch_size=batch_size, seed=seed, cnn_ema_decay=0.0)
    trainer = CNNTrainer(train, data, input_shape, device=device)
    for step in tqdm(range(1, steps + 1), desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        trainer.train_step(step)
    return trainer


def _cnn_accuracy(trainer: Any, x: np.ndarray, y: np.ndarray, device: torch.device) -> float:
    correct = 0
    for lo in range(0, len(x), 128):
        xb = torch.from_numpy(x[lo : lo + 128]).unsqueeze(1).to(device)
        correct += int((trainer.predict(xb).argmax(1).cpu().numpy() == y[lo : lo + 128]).sum())
    return correct / max(len(y), 1)


def _probe_attributes(test: SpectrogramCache, requested: Sequence[str] | None) -> list[str]:
    if requested is not None:
        for name in requested:
            if name not in test.attribute_names:
                raise ConfigError(
                    f"probe attribute {name!r} is not in the test cache; "
                    f"it has {sorted(test.attribute_names)}"
                )
        return list(requested)
    return [
        name for name, values in sorted(test.attribute_names.items()) if 2 <= len(values) <= MAX_PROBE_CLASSES
    ]


def _stratified_halves(codes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 4242])
    first, second = [], []
    for value in np.unique(codes[codes >= 0]):
        members = rng.permutation(np.flatnonzero(codes == value))
        cut = len(members) // 2
        first.append(members[:cut])
        second.append(members[cut:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def _check_run(run: TrainedRun, test: SpectrogramCache) -> None:
    if run.audio_config != test.config:
        raise ConfigError(
            f"the run {run.run_dir} was trained on another transform than the test cache {test.path} "
            f"({run.audio_config.to_dict()} vs {test.config.to_dict()})"
        )
    if run.can_classify and test.has_labels and list(run.label_names) != list(test.label_names):
        raise ConfigError(
            f"the run {run.run_dir} has labels {run.label_names} but the test cache has {test.label_names}"
        )


def evaluate(
    run_dirs: Sequence[str],
    test_cache: str,
    out_dir: str,
    *,
    metric_model: str | None = None,
    n_generated: int = 1000,
    seeds: Sequence[int] = (0, 1, 2),
    cas_steps: int = 300,
    cas_batch_size: int = 16,
    probe_attributes: Sequence[str] | None = None,
    tsne_points: int = 1000,
    tsne_iter: int = 1000,
    n_iter: int = 16,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate runs against a real test cache and write ``report.md`` and ``results.json``.

    Parameters
    ----------
    run_dirs : sequence of str
        Run folders from ``gaae fit`` (any model kind).
    test_cache : str
        The real test split, built with the training cache's statistics (``--stats-from``).
    out_dir : str
        Report folder (created).
    metric_model : str, optional
        A CNN run trained on all labels of the real training cache, for IS, FID and the real-data
        reference. When omitted, the first CNN run among ``run_dirs`` trained with every label is
        used; without one, IS and FID are skipped (the report says so).
    n_generated : int
        Generated samples per seed for IS/FID, and for the CAS training set.
    seeds : sequence of int
        Generation seeds; IS and FID are reported as mean and standard deviation over them.
    cas_steps, cas_batch_size : int
        Training budget of each CAS CNN (0 steps skips CAS).
    probe_attributes : sequence of str, optional
        Test-cache attributes to probe; default every categorical attribute with 2-20 values.
    tsne_points, tsne_iter : int
        Test items shown in the t-SNE plots (seeded subsample) and t-SNE iterations (>= 250).
    n_iter : int
        Fast Griffin-Lim iterations for the sample WAVs.
    device : str
    progress : bool
        Stage messages and progress bars on stderr.

    Returns
    -------
    dict, the content of ``results.json``.
    """
    say = _say(progress)
    started = time.perf_counter()
    if not run_dirs:
        raise ConfigError("give at least one run to evaluate")
    for name, value, minimum in (
        ("n_generated", n_generated, 2),
        ("cas_steps", cas_steps, 0),
        ("cas_batch_size", cas_batch_size, 1),
        ("tsne_points", tsne_points, 0),
        ("tsne_iter", tsne_iter, 250),
        ("n_iter", n_iter, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds must hold at least one seed")
    dev = torch.device(device)
    test = open_cache(test_cache)
    runs = [load_run(path, device=dev) for path in run_dirs]
    names = _unique_names(runs)
    for run in runs:
        _check_run(run, test)
    os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    test_idx, test_y = _labelled_test(test)
    say(f"test cache {test.path}: {len(test)} items, {test_idx.size} labelled")
    test_x_all = _read(test, np.arange(len(test)))
    test_x = test_x_all[test_idx]

    # -- the metric model and the real-data reference ------------------------------------------------
    metric_run = _choose_metric_model(metric_model, runs, dev)
    reference: dict[str, Any] = {}
    metric = None
    if metric_run is not None:
        _check_run(metric_run, test)
        if not test.has_labels or list(metric_run.label_names) != list(test.label_names):
            raise ConfigError(
                f"the metric model's labels {metric_run.label_names} differ from the test cache's"
            )
        metric = _MetricModel(metric_run)
        test_probs, test_feats = metric(test_x)
        is_mean, is_std = _real_inception_score(test_probs)
        reference = {
            "metric_model": metric_run.run_dir,
            "metric_model_test_accuracy": float(np.mean(test_probs.argmax(1) == test_y)),
            "real_test_inception_score": {"mean": is_mean, "std": is_std},
            "n_test": int(test_idx.size),
        }
        train_cache = open_cache(metric_run.train_cache)
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(train_cache), size=min(len(train_cache), n_generated), replace=False))
        _, train_feats = metric(_read(train_cache, pick))
        reference["real_train_fid"] = metrics.fid(train_feats, test_feats)
        reference["n_train_for_fid"] = int(pick.size)
        say(
            f"metric model {metric_run.name}: test accuracy {reference['metric_model_test_accuracy']:.3f}, "
            f"real test IS {is_mean:.3f}, real train-vs-test FID {reference['real_train_fid']:.3f}"
        )
    else:
        say("no metric model (a CNN run trained on every label): IS and FID are skipped")

    # -- CAS reference: a CNN on the real training labels only --------------------------------------
    cas_real: dict[str, float] = {}

    def real_only_accuracy(train_path: str) -> float:
        if train_path not in cas_real:
            source = CacheSource(train_path)
            known = np.flatnonzero(source.labels >= 0)
            trainer = _train_cnn(
                [source],
                known,
                source.labels[known],
                test.label_names,
                input_shape=tuple(test.config.shape),
                steps=cas_steps,
                batch_size=cas_batch_size,
                seed=0,
                device=dev,
                desc="CAS: CNN on real data",
                progress=progress,
            )
            cas_real[train_path] = _cnn_accuracy(trainer, test_x, test_y, dev)
        return cas_real[train_path]

    attributes = _probe_attributes(test, probe_attributes)
    results_runs = []
    for run, name in zip(runs, names, strict=True):
        say(f"run {name} ({run.kind}, step {run.step})")
        entry: dict[str, Any] = {
            "name": name,
            "run_dir": run.run_dir,
            "model_kind": run.kind,
            "step": run.step,
            "labelled_fraction": run.labelled_fraction,
            "n_labelled": run.n_labelled,
            "seed": run.record.get("train", {}).get("seed"),
            "train_seconds": _train_seconds(run),
            "accuracy": None,
            "inception_score": None,
            "fid": None,
            "cas": None,
            "probes": {},
            "figures": {},
            "audio": [],
        }
        if run.can_classify and test_idx.size:
            logits = run.predict_logits(test_x)
            entry["accuracy"] = float(np.mean(logits.argmax(1) == test_y))
            say(f"  test accuracy {entry['accuracy']:.4f}")
        if run.can_generate:
            _samples(run, name, out_dir, entry, n_iter=n_iter)
            if metric is not None:
                scores, distances = [], []
                for seed in seeds:
                    x_gen, _ = run.generate(n_generated, seed=seed)
                    probs, feats = metric(x_gen)
                    scores.append(metrics.inception_score(probs, n_splits=_n_splits(n_generated))[0])
                    distances.append(metrics.fid(feats, test_feats))
                entry["inception_score"] = _mean_std(scores)
                entry["fid"] = _mean_std(distances)
                entry["n_generated"] = n_generated
                entry["seeds"] = seeds
                say(f"  IS {fmt(entry['inception_score'], 2)}, FID {fmt(entry['fid'], 2)}")
            if run.conditional and cas_steps > 0 and test_idx.size:
                x_gen, y_gen = run.generate(n_generated, seed=10_000 + seeds[0])
                common = {
                    "input_shape": tuple(test.config.shape),
                    "steps": cas_steps,
                    "batch_size": cas_batch_size,
                    "seed": 0,
                    "device": dev,
                    "progress": progress,
                }
                generated = ArraySource(x_gen, y_gen)
                gen_only = _train_cnn(
                    [generated],
                    np.arange(n_generated),
                    y_gen,
                    run.label_names,
                    desc="CAS: generated",
                    **common,
                )
                real = CacheSource(run.train_cache)
                known = np.flatnonzero(real.labels >= 0)
                mixed = _train_cnn(
                    [real, generated],
                    np.concatenate([known, len(real) + np.arange(n_generated)]),
                    np.concatenate([real.labels[known], y_gen]),
                    run.label_names,
                    desc="CAS: real + generated",
                    **common,
                )
                entry["cas"] = {
                    "generated": _cnn_accuracy(gen_only, test_x, test_y, dev),
                    "real_plus_generated": _cnn_accuracy(mixed, test_x, test_y, dev),
                    "real": real_only_accuracy(run.train_cache),
                    "n_generated": n_generated,
                    "steps": cas_steps,
                    "batch_size": cas_batch_size,
                }
                say(
                    "  CAS: generated {generated:.3f}, real + generated {real_plus_generated:.3f}, "
                    "real {real:.3f}".format(**entry["cas"])
                )
        if run.model_kind.represents:
            _representations(
                run,
                name,
                test,
                test_x_all,
                attributes,
                out_dir,
                entry,
                tsne_points=tsne_points,
                tsne_iter=tsne_iter,
                say=say,
            )
        results_runs.append(entry)

    results = {
        "format_version": EVALUATION_FORMAT_VERSION,
        "test_cache": test.path,
        "label_names": list(test.label_names),
        "reference": reference,
        "runs": results_runs,
        "settings": {
            "n_generated": n_generated,
            "seeds": seeds,
            "cas_steps": cas_steps,
            "cas_batch_size": cas_batch_size,
            "probe_attributes": attributes,
            "tsne_points": tsne_points,
            "tsne_iter": tsne_iter,
            "n_iter": n_iter,
            "device": str(dev),
        },
        "versions": _versions(),
        "command": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - started,
    }
    atomic_write_text(os.path.join(out_dir, "results.json"), json.dumps(results, indent=2))
    atomic_write_text(os.path.join(out_dir, "report.md"), evaluation_report(results, out_dir))
    say(f"wrote {os.path.join(out_dir, 'report.md')} and results.json in {results['seconds']:.0f} s")
    return results


def _unique_names(runs: list[TrainedRun]) -> list[str]:
    names, seen = [], {}
    for run in runs:
        base = run.name or run.kind
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}-{count + 1}")
    return names


def _train_seconds(run: TrainedRun) -> float | None:
    """Training time of the run: the sum of its logged step times (resumed runs included)."""
    path = os.path.join(run.run_dir, "log.jsonl")
    if not os.path.isfile(path):
        return None
    total = 0.0
    with open(path) as f:
        for line in f:
            if line.strip():
                total += float(json.loads(line).get("time/step", 0.0))
    return total


def _versions() -> dict[str, str]:
    versions = package_versions("gaae-audio", "numpy", "zarr", "safetensors")
    return {**versions, "torch": torch.__version__, "platform": platform.platform()}


def _choose_metric_model(
    metric_model: str | None, runs: list[TrainedRun], dev: torch.device
) -> TrainedRun | None:
    if metric_model is not None:
        run = load_run(metric_model, device=dev)
        if run.kind != "cnn":
            raise ConfigError(
                f"metric_model={metric_model!r} is a {run.kind} run; it must be a CNN run "
                "(gaae fit --model cnn) "
                "trained on every label"
            )
        return run
    for run in runs:
        if run.kind == "cnn" and run.labelled_fraction == 1.0:
            return run
    return None


def _samples(run: TrainedRun, name: str, out_dir: str, entry: dict, *, n_iter: int) -> None:
    from gaae_models import generation

    folder = os.path.join(out_dir, "audio", name)
    index = generation.sample(run, folder, n=4 if run.conditional else 8, seed=0, n_iter=n_iter)
    figure = os.path.join(out_dir, "figures", f"{name}-samples.png")
    os.replace(index["grid"], figure)
    entry["figures"]["samples"] = os.path.relpath(figure, out_dir)
    entry["audio"] = [
        {"label": item["label"], "wav": os.path.relpath(item["wav"], out_dir)} for item in index["items"]
    ]
    os.remove(os.path.join(folder, "index.json"))


def _representations(
    run: TrainedRun,
    name: str,
    test: SpectrogramCache,
    test_x_all: np.ndarray,
    attributes: list[str],
    out_dir: str,
    entry: dict,
    *,
    tsne_points: int,
    tsne_iter: int,
    say: Callable[[str], None],
) -> None:
    codes = run.encode(test_x_all)
    labels = test.labels
    attribute_columns = {attr: test.attribute(attr) for attr in attributes}  # codes and names, read once
    # t-SNE plots of each representation, coloured by label and by each probed attribute
    if min(tsne_points, len(test)) >= 5:  # t-SNE needs a perplexity > 1, so a handful of points
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(test), size=min(tsne_points, len(test)), replace=False))
        perplexity = float(min(30.0, (pick.size - 1) / 3.5))
        for key, value in codes.items():
            embedding = metrics.tsne(value[pick], perplexity=perplexity, n_iter=tsne_iter, seed=0)
            colourings = [("label", labels[pick], list(test.label_names))]
            for attr, (attr_codes, attr_names) in attribute_columns.items():
                colourings.append((attr, attr_codes[pick], attr_names))
            for colour, values, value_names in colourings:
                if not value_names:
                    continue
                path = os.path.join(out_dir, "figures", f"{name}-tsne-{key}-{colour}.png")
                metrics.plot_embedding(
                    embedding,
                    values,
                    label_names=value_names,
                    path=path,
                    title=f"{name}: t-SNE of {key} on the test split, coloured by {colour}",
                    colour_label=colour,
                )
                entry["figures"][f"tsne_{key}_{colour}"] = os.path.relpath(path, out_dir)
        say(f"  t-SNE of {', '.join(codes)} ({pick.size} test items)")
    # linear probes: the label and every attribute, on each representation and on the baseline
    codes["profile"] = spectral_profile(test_x_all)
    targets: list[tuple[str, np.ndarray, str]] = []
    if test.has_labels:
        targets.append(("label", labels, "label"))
    for attr, (attr_codes, _) in attribute_columns.items():
        targets.append((attr, attr_codes, attr))
    train_cache = open_cache(run.train_cache) if os.path.isdir(run.train_cache) else None
    encoded_train: dict[bytes, dict[str, np.ndarray]] = {}
    for target_name, target_codes, attr in targets:
        source = "test halves"
        skipped = None
        train_codes = None
        if train_cache is not None and attr == "label":
            if train_cache.has_labels and list(train_cache.label_names) == list(test.label_names):
                train_codes = train_cache.labels
        elif train_cache is not None and attr in train_cache.attribute_names:
            if train_cache.attribute_names[attr] == test.attribute_names[attr]:
                train_codes = train_cache.attribute(attr)[0]
        for key, value in codes.items():
            if train_codes is not None:
                known = np.flatnonzero(train_codes >= 0)
                rng = np.random.default_rng(1)
                known = np.sort(rng.choice(known, size=min(known.size, 4000), replace=False))
                memo = known.tobytes()
                if memo not in encoded_train:  # read and encode each training subset once
                    train_x = _read(train_cache, known)
                    encoded_train[memo] = {**run.encode(train_x), "profile": spectral_profile(train_x)}
                result = _probe(encoded_train[memo][key], train_codes[known], value, target_codes)
                source = "training cache -> test cache"
            else:
                first, second = _stratified_halves(target_codes, seed=0)
                if first.size < 2 or second.size < 2 or np.unique(target_codes[first]).size < 2:
                    continue
                result = _probe(value[first], target_codes[first], value[second], target_codes[second])
            if isinstance(result, str):
                skipped = result
                continue
            result["source"] = source
            entry["probes"].setdefault(target_name, {})[key] = result
            say(
                f"  probe {target_name} on {key}: accuracy {result['accuracy']:.3f} "
                f"(majority {result['majority_baseline']:.3f})"
            )
        if skipped:
            entry.setdefault("probes_skipped", {})[target_name] = skipped


def _probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict | str:
    """A linear probe, or the reason it cannot be fitted (too few items per class, say)."""
    counts = np.bincount(train_y[train_y >= 0]) if np.any(train_y >= 0) else np.zeros(0, int)
    n_folds = int(min(3, counts[counts > 0].min())) if counts.size and np.any(counts > 0) else 0
    try:
        if n_folds < 2:
            raise ConfigError("fewer than 2 training items in some class")
        return metrics.linear_probe(train_x, train_y, test_x, test_y, n_folds=n_folds)
    except ConfigError as exc:
        return f"skipped: {exc}"
