"""The training loop: :func:`fit` drives a trainer over its steps and writes the run folder.

:func:`build_trainer` picks the trainer of a model kind; :func:`fit` logs every step's named metrics,
measures health, evaluates, draws samples and writes crash-safe checkpoints, so that ``--resume``
continues exactly where the last checkpoint left off.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from audiospec.atomic import atomic_write_text
from audiospec.cache import open_cache
from audiospec.progress import progress_bar
from audiospec.runtime import package_versions
from gaae_models.batches import (
    TrainingData,
    batch_maker,
    loader_workers,
    prepare_data,
    step_batches,
    to_device,
)
from gaae_models.checkpoint import load_checkpoint, resume_checkpoint, save_checkpoint
from gaae_models.config import ModelConfig
from gaae_models.distributed import DistInfo, barrier, init_distributed
from gaae_models.errors import ConfigError
from gaae_models.health import format_health
from gaae_models.kinds import model_kind
from gaae_models.train_config import TrainConfig, departures_from_paper
from gaae_models.training.baselines import BiGANTrainer, BigGANTrainer, CNNTrainer
from gaae_models.training.gaae import GAAETrainer
from gaae_models.training.run_folder import RUN_FORMAT_VERSION, RunFolder
from gaae_models.validation import resolve_device

__all__ = ["Trainer", "build_trainer", "cache_accuracy", "write_samples", "fit"]

#: Any of the trainers :func:`build_trainer` makes.
Trainer = GAAETrainer | CNNTrainer | BigGANTrainer | BiGANTrainer

#: The packages whose versions a run records (besides python and torch).
_VERSIONED = ("gaae-audio", "numpy", "zarr", "safetensors")


def build_trainer(
    model_config: ModelConfig,
    train: TrainConfig,
    data: TrainingData,
    *,
    device: torch.device,
    dist_info: DistInfo | None = None,
) -> Trainer:
    """The trainer of ``train.model``: its kind's ``make_trainer`` (:data:`gaae_models.kinds.KINDS`)."""
    kind = model_kind(train.model)
    return kind.make_trainer(model_config, train, data, device=device, dist_info=dist_info)


@torch.no_grad()
def cache_accuracy(
    predict: Callable[[torch.Tensor], torch.Tensor], cache_path: str, *, device: torch.device, batch_size: int
) -> float:
    """Accuracy of ``predict(x) -> logits`` on every labelled item of a cache.

    Parameters
    ----------
    predict : callable
        Spectrograms (B, 1, F, T) on ``device`` -> class logits (B, K).
    cache_path : str
        An audiospec cache; items labelled -1 (unknown) are skipped.
    device : torch.device
    batch_size : int

    Returns
    -------
    float
        0 when the cache has no labelled item.
    """
    cache = open_cache(cache_path)
    labels = cache.labels
    known = np.flatnonzero(labels >= 0)
    correct = 0
    for lo in range(0, known.size, batch_size):
        idx = known[lo : lo + batch_size]
        x = torch.from_numpy(cache.batch(idx)[0]).unsqueeze(1).to(device)
        correct += int((predict(x).argmax(dim=1).cpu().numpy() == labels[idx]).sum())
    return correct / max(known.size, 1)


def _run_versions() -> dict[str, str]:
    """Python, torch and :data:`_VERSIONED` versions, in the key order of runs made before (python first)."""
    versions = package_versions(*_VERSIONED)
    return {"python": versions.pop("python"), "torch": torch.__version__, **versions}


def _training_device(device: str) -> torch.device:
    """``device`` as a torch device (``"auto"``: cuda when available); fit trains on CPU or CUDA only."""
    dev = resolve_device(device, torch.device("cpu"))
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device={device!r} must be 'auto', 'cpu' or 'cuda'")
    return dev


def write_samples(
    trainer: Trainer, run: RunFolder, step: int, cache_path: str, *, health: dict[str, float] | None = None
) -> None:
    """Write ``RUN/samples/step-NNNNNNN.png``, a grid of generated spectrograms (every class for
    conditional models), and a few WAVs of them, ``step-NNNNNNN-NAME.wav`` (Griffin-Lim, 16 iterations)."""
    import audiospec
    from audiospec.plotting import plot_spectrogram_grid

    cache = open_cache(cache_path)
    k = trainer.data.n_classes if model_kind(trainer.train.model).conditional else 0
    names = trainer.data.label_names
    if k >= 2:
        per_class = max(1, min(4, 16 // k))
        labels = torch.arange(k).repeat_interleave(per_class)
        titles = [names[int(y)] for y in labels]
        n_cols = per_class if per_class > 1 else min(k, 5)  # one per class: rows of 5, not a column
        picks = [
            int(np.flatnonzero(labels.numpy() == c)[0]) for c in range(min(trainer.train.n_sample_wavs, k))
        ]
        wav_names = [names[c] for c in range(len(picks))]
    else:
        labels = torch.zeros(16, dtype=torch.long)
        titles = [f"sample {i}" for i in range(16)]
        n_cols = 4
        picks = list(range(min(trainer.train.n_sample_wavs, 16)))
        wav_names = [f"sample{i}" for i in picks]
    x = trainer.generate(labels, seed=trainer.train.seed + 12345).squeeze(1).cpu().numpy()
    folder = os.path.join(run.dir, "samples")
    plot_spectrogram_grid(
        x,
        os.path.join(folder, f"step-{step:07d}.png"),
        titles=titles,
        config=cache.config,
        vmin=-1,
        vmax=1,
        n_cols=n_cols,
        suptitle=f"step {step}" + (f": {format_health(health)}" if health else ""),
        colorbar_label="normalised log-magnitude",
    )
    if picks:
        audio = audiospec.reconstruct(x[picks], config=cache.config, stats=cache.stats, n_iter=16, rng=0)
        for name, y in zip(wav_names, audio, strict=True):
            audiospec.write_wav(
                os.path.join(folder, f"step-{step:07d}-{name}.wav"), y, sample_rate=cache.config.sample_rate
            )


def fit(
    cache_path: str,
    out_dir: str,
    *,
    model_config: ModelConfig,
    train: TrainConfig,
    device: str = "auto",
    resume: bool = False,
    eval_cache: str | None = None,
    preset: str | None = None,
    progress: bool = True,
    tensorboard: str | None = None,
) -> dict[str, Any]:
    """Train a model of any kind (``train.model``) on an audiospec cache; returns a summary dict.

    Writes into ``out_dir``: ``config.json`` (everything needed to reproduce the run), ``log.jsonl``
    (every named loss at every step, and evaluations), ``checkpoints/`` (atomic, resumable),
    ``samples/`` (PNG grids and WAVs, generative models only), ``log.png`` (the logged losses and
    health against the step, redrawn at every checkpoint) and ``summary.json``. With
    ``tensorboard`` (a folder; needs the tensorboard package), every logged number also goes to
    TensorBoard.

    Parameters
    ----------
    cache_path : str
        The training cache.
    out_dir : str
        The run folder: new or empty, or a run to continue with ``resume``.
    model_config : ModelConfig
        ``n_classes`` is set from the data when it has two classes or more.
    train : TrainConfig
    device : {"auto", "cpu", "cuda", "cuda:N"}
        ``"auto"``: CUDA when available.
    resume : bool
        Continue from the newest intact checkpoint (the config must equal the run's).
    eval_cache : str, optional
        A labelled cache to measure accuracy on every ``train.eval_every`` steps.
    preset : str, optional
        The model preset's name, recorded in ``config.json``.
    progress : bool
        Show a progress bar (main rank only).
    tensorboard : str, optional
        A TensorBoard log folder.

    Returns
    -------
    dict
        ``steps``, ``resumed_from``, ``seconds``, ``final_metrics``, ``eval_accuracy``, ``health``
        and ``run_dir`` (as written to ``summary.json``).

    Raises
    ------
    ConfigError
        For a device that is not available, a model whose input shape is not the cache's, or a
        loss that is not finite.
    CheckpointError
        For a run folder that does not fit ``resume`` (see :class:`RunFolder`).
    """
    dev = _training_device(device)
    dist_info = init_distributed(dev.type)
    if dist_info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", dist_info.local_rank)
        torch.cuda.set_device(dev)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = prepare_data(cache_path, train)
    if data.n_classes >= 2:
        model_config = model_config.replace(n_classes=data.n_classes)
    cache = data.sources[0].cache
    if tuple(model_config.input_shape) != tuple(cache.config.shape):
        raise ConfigError(
            f"model input_shape={model_config.input_shape} but the cache holds "
            f"{cache.config.shape} spectrograms"
        )
    record = {
        "format_version": RUN_FORMAT_VERSION,
        "model_kind": train.model,
        "preset": preset,
        "model": model_config.to_dict(),
        "train": train.to_dict(),
        "train_compare": train.compare_dict(),
        "departures_from_paper": departures_from_paper(model_config, train),
        "data": data.description,
        "data_compare": {k: data.description[k] for k in ("cache_items", "label_names", "n_labelled")},
        "labelled_indices": data.labelled.tolist(),
        "audio_config": cache.config.to_dict(),
        "eval_cache": os.path.abspath(eval_cache) if eval_cache else None,
        "device": str(dev),
        "world_size": dist_info.world_size,
        "versions": _run_versions(),
        "command": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    kind = model_kind(train.model)
    if kind.checks_latents and not (resume and os.path.exists(os.path.join(out_dir, "config.json"))):
        model_config.check_trainable()  # new runs only: old runs with rank-deficient latents still resume
    run = RunFolder(out_dir, record, resume=resume, dist_info=dist_info, tensorboard=tensorboard)
    trainer = build_trainer(model_config, train, data, device=dev, dist_info=dist_info)
    if train.compile:
        if not kind.compiles:
            raise ConfigError(f"compile=true is implemented for the GAAE only (model={train.model!r})")
        from gaae_models.compiling import compile_gaae

        compile_gaae(trainer)
    start_step = 0
    if resume:
        path = resume_checkpoint(run.dir)  # the newest intact checkpoint; damaged ones are skipped
        if path is not None:
            meta = load_checkpoint(
                path, modules=trainer.modules(), optimizers=trainer.optimizers(), map_location=dev
            )
            start_step = int(meta["step"])
        run.truncate_log(start_step)
    meta = {
        "model_kind": train.model,
        "model": model_config.to_dict(),
        "train": train.to_dict(),
        "label_names": data.label_names,
        "audio_config": cache.config.to_dict(),
        "stats": cache.stats.to_dict(),
        "versions": record["versions"],
    }
    started = time.perf_counter()
    # redrawn on a terminal, one line per update (at most every 5 s) in a log
    bar = progress_bar(
        train.steps,
        initial=start_step,
        enabled=progress and dist_info.is_main,
        desc=f"gaae fit ({train.model})",
        unit="step",
    )
    last_eval = None
    last_health: dict[str, float] = {}
    metrics: dict[str, float] = {}
    steps = range(start_step + 1, train.steps + 1)
    latent_dim = getattr(model_config, kind.prior_dim)
    batches = step_batches(
        batch_maker(train.model, trainer.data, train, latent_dim, dist_info.rank),
        steps,
        workers=loader_workers(train, dev),
        pin_memory=dev.type == "cuda",
    )
    for step, batch in zip(steps, batches, strict=True):
        t0 = time.perf_counter()
        metrics = trainer.train_step(step, batch=to_device(batch, dev))
        metrics = {k: float(v) for k, v in metrics.items()}
        if any(not math.isfinite(v) for v in metrics.values()):
            raise ConfigError(f"step {step}: a loss is not finite ({metrics}); lower the learning rates")
        run.log({"step": step, **metrics, "time/step": time.perf_counter() - t0})
        if kind.health and dist_info.is_main and (step % train.health_every == 0 or step == train.steps):
            last_health = trainer.health(step)
            run.log({"step": step, **last_health})
            bar.write(f"step {step}: {format_health(last_health)}")
        if step % train.log_every == 0 or step == train.steps:
            bar.set_postfix({k.split("/")[1]: f"{metrics[k]:.3f}" for k in kind.bar_keys}, refresh=False)
        bar.update(1)
        if step == train.steps and kind.probe_at_end:
            finish_metrics = trainer.finish()  # the BiGAN probe, on every rank (same data and seed)
            run.log({"step": step, **finish_metrics})
            metrics.update(finish_metrics)
        can_eval = kind.classifies and (not kind.probe_at_end or step == train.steps)
        if (
            eval_cache
            and can_eval
            and (step % train.eval_every == 0 or step == train.steps)
            and dist_info.is_main
        ):
            last_eval = cache_accuracy(
                trainer.predict, eval_cache, device=dev, batch_size=train.eval_batch_size
            )
            record = {"step": step, "eval/accuracy": last_eval}
            if getattr(trainer, "keeps_average", False):  # the average evaluates; the live networks too
                record["eval/accuracy_live"] = cache_accuracy(
                    trainer.predict_live, eval_cache, device=dev, batch_size=train.eval_batch_size
                )
            run.log(record)
            live = record.get("eval/accuracy_live")
            bar.write(
                f"step {step}: test accuracy {last_eval:.4f}"
                + (f" (live networks {live:.4f})" if live is not None else "")
            )
        if kind.generates and (step % train.sample_every == 0 or step == train.steps) and dist_info.is_main:
            write_samples(trainer, run, step, cache_path, health=last_health)
        if (step % train.checkpoint_every == 0 or step == train.steps) and dist_info.is_main:
            save_checkpoint(
                run.dir, step, modules=trainer.modules(), optimizers=trainer.optimizers(), meta=meta
            )
            run.plot()
        barrier(dist_info)
    bar.close()
    run.close()
    summary = {
        "steps": train.steps,
        "resumed_from": start_step,
        "seconds": time.perf_counter() - started,
        "final_metrics": metrics or None,
        "eval_accuracy": last_eval,
        "health": last_health or None,
        "run_dir": run.dir,
    }
    if dist_info.is_main:
        atomic_write_text(os.path.join(run.dir, "summary.json"), json.dumps(summary, indent=2))
    return summary
