"""Generation from a trained run: labelled sample grids, latent interpolations, style transfer from an
audio clip, and generated datasets written as audiospec caches (paper sections V-B, V-E, V-F).

Every function writes PNG grids (normalised spectrograms, one colour scale) and WAVs (audio rebuilt
with audiospec's PGHI plus ``n_iter`` fast Griffin-Lim iterations) and returns a JSON-ready index
of what it wrote, which ``gaae sample`` also saves as ``index.json``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from audiospec.atomic import atomic_write_text
from gaae_models.errors import ConfigError
from gaae_models.runs import TrainedRun

__all__ = ["sample", "interpolate", "from_audio", "generate_cache", "write_audio"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "x"


def write_audio(
    run: TrainedRun, spectrograms: np.ndarray, paths: Sequence[str], *, n_iter: int = 16, seed: int = 0
) -> list[str]:
    """Rebuild audio from normalised spectrograms (n, F, T) and write one 16-bit WAV per path."""
    import audiospec

    if len(paths) != len(spectrograms):
        raise ConfigError(f"{len(paths)} paths for {len(spectrograms)} spectrograms")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ConfigError(f"n_iter={n_iter!r} must be an integer >= 0")
    if not len(paths):
        return []
    audio = audiospec.reconstruct(
        np.asarray(spectrograms), config=run.audio_config, stats=run.stats, n_iter=n_iter, rng=seed
    )
    for path, y in zip(paths, audio, strict=True):
        audiospec.write_wav(path, y, sample_rate=run.audio_config.sample_rate)
    return list(paths)


def _grid(run: TrainedRun, spectrograms: np.ndarray, path: str, titles: list[str], n_cols: int) -> str:
    from audiospec.plotting import plot_spectrogram_grid

    plot_spectrogram_grid(
        spectrograms,
        path,
        titles=titles,
        config=run.audio_config,
        vmin=-1,
        vmax=1,
        n_cols=n_cols,
        suptitle=f"{run.name} ({run.kind}, step {run.step})",
        colorbar_label="normalised log-magnitude",
    )
    return path


def _columns(n: int, widest: int = 6) -> int:
    """Columns for ``n`` panels with no empty panel where possible: one row up to ``widest``, else
    the divisor of ``n`` nearest to ``sqrt(n)`` from above (up to ``widest``), else ``widest``."""
    if n <= widest:
        return max(n, 1)
    for cols in range(math.ceil(math.sqrt(n)), widest + 1):
        if n % cols == 0:
            return cols
    return min(range(math.ceil(math.sqrt(n)), widest + 1), key=lambda c: (-n % c, c))


def _label_indices(run: TrainedRun, labels: Sequence[str] | None) -> list[int]:
    if not run.conditional:
        if labels:
            raise ConfigError(f"labels={list(labels)} given, but a {run.kind} run generates without labels")
        return []
    if not labels:
        return list(range(run.n_classes))
    return [run.label_index(name) for name in labels]


def _check_count(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _save_index(out_dir: str, index: dict[str, Any]) -> dict[str, Any]:
    atomic_write_text(os.path.join(out_dir, "index.json"), json.dumps(index, indent=2))
    return index


def sample(
    run: TrainedRun,
    out_dir: str,
    *,
    labels: Sequence[str] | None = None,
    n: int = 4,
    seed: int = 0,
    n_iter: int = 16,
) -> dict[str, Any]:
    """``n`` samples per chosen label (all labels by default; ``n`` in total without labels).

    Writes ``samples.png`` (one row per label) and ``sample-<label>-<i>.wav``; the latents s are
    drawn from ``seed``, the same draws for every label, so a column shares its style.
    """
    n = _check_count("n", n)
    os.makedirs(out_dir, exist_ok=True)
    classes = _label_indices(run, labels)
    if classes:
        latents = np.tile(run.sample_latents(n, seed=seed), (len(classes), 1))
        y = np.repeat(np.asarray(classes, np.int64), n)
        names = [run.label_names[c] for c in y]
        n_cols = n
    else:
        latents = run.sample_latents(n, seed=seed)
        y = np.full(n, -1, np.int64)
        names = ["sample"] * n
        n_cols = min(n, 8)
    x = run.decode(latents, y)
    counters: dict[str, int] = {}
    wavs, titles = [], []
    for name in names:
        i = counters.get(name, 0)
        counters[name] = i + 1
        wavs.append(os.path.join(out_dir, f"sample-{_safe(name)}-{i:03d}.wav"))
        titles.append(f"{name} {i}")
    write_audio(run, x, wavs, n_iter=n_iter, seed=seed)
    grid = _grid(run, x, os.path.join(out_dir, "samples.png"), titles, n_cols)
    return _save_index(
        out_dir,
        {
            "kind": "samples",
            "run": run.run_dir,
            "step": run.step,
            "seed": seed,
            "n_iter": n_iter,
            "grid": grid,
            "items": [{"label": lab, "wav": w} for lab, w in zip(names, wavs, strict=True)],
        },
    )


def interpolate(
    run: TrainedRun,
    out_dir: str,
    *,
    labels: Sequence[str] | None = None,
    n_steps: int = 8,
    seed: int = 0,
    n_iter: int = 16,
) -> dict[str, Any]:
    """Linear interpolation between two latents drawn from ``seed`` (paper V-F), for each chosen label.

    Writes ``interpolation.png`` (a row per label, ``n_steps`` columns from s_0 to s_1) and
    ``interp-<label>-<step>.wav``.
    """
    n_steps = _check_count("n_steps", n_steps, 2)
    os.makedirs(out_dir, exist_ok=True)
    ends = run.sample_latents(2, seed=seed)
    weights = np.linspace(0.0, 1.0, n_steps, dtype=np.float32)[:, None]
    path = (1.0 - weights) * ends[0] + weights * ends[1]  # (n_steps, s_dim)
    classes = _label_indices(run, labels) or [-1]
    latents = np.tile(path, (len(classes), 1))
    y = np.repeat(np.asarray(classes, np.int64), n_steps)
    x = run.decode(latents, y)
    names = [run.label_names[c] if c >= 0 else "sample" for c in y]
    wavs = [
        os.path.join(out_dir, f"interp-{_safe(name)}-{k % n_steps:02d}.wav") for k, name in enumerate(names)
    ]
    titles = [f"{name} t={float(weights[k % n_steps, 0]):.2f}" for k, name in enumerate(names)]
    write_audio(run, x, wavs, n_iter=n_iter, seed=seed)
    grid = _grid(run, x, os.path.join(out_dir, "interpolation.png"), titles, n_steps)
    return _save_index(
        out_dir,
        {
            "kind": "interpolation",
            "run": run.run_dir,
            "step": run.step,
            "seed": seed,
            "n_steps": n_steps,
            "grid": grid,
            "items": [
                {"label": lab, "t": float(weights[k % n_steps, 0]), "wav": w}
                for k, (lab, w) in enumerate(zip(names, wavs, strict=True))
            ],
        },
    )


def from_audio(
    run: TrainedRun,
    audio_path: str,
    out_dir: str,
    *,
    labels: Sequence[str] | None = None,
    n_iter: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Encode a clip's style s with E_s and decode it under every (chosen) label (paper V-E).

    The clip is loaded like a cache item (the first ``n_samples`` at the run's sample rate), and
    normalised with the run's statistics. Writes ``from-audio.png`` (input, its reconstruction
    G(s, C(z)), then one panel per label) and the matching WAVs (the input's WAV is the original crop).
    """
    import audiospec

    if not run.model_kind.encodes_style:
        raise ConfigError(f"--from-audio needs a GAAE run (its encoder E_s); this run is a {run.kind}")
    os.makedirs(out_dir, exist_ok=True)
    clip, offset = audiospec.load_clip(audio_path, config=run.audio_config)
    x = run.preprocessor.spectrograms(clip).astype(np.float32)[None]
    codes = run.encode(x)
    predicted = int(run.predict_logits(x).argmax(1)[0])
    classes = _label_indices(run, labels)
    s = codes["s"]
    latents = np.repeat(s, 1 + len(classes), axis=0)
    y = np.asarray([predicted, *classes], np.int64)
    decoded = run.decode(latents, y)
    stem = _safe(os.path.splitext(os.path.basename(audio_path))[0])
    panels = np.concatenate([x, decoded])
    titles = ["input", f"reconstruction ({run.label_names[predicted]})"] + [
        f"as {run.label_names[c]}" for c in classes
    ]
    input_wav = os.path.join(out_dir, f"{stem}-input.wav")
    audiospec.write_wav(input_wav, clip, sample_rate=run.audio_config.sample_rate)
    wavs = [os.path.join(out_dir, f"{stem}-reconstruction.wav")] + [
        os.path.join(out_dir, f"{stem}-as-{_safe(run.label_names[c])}.wav") for c in classes
    ]
    write_audio(run, decoded, wavs, n_iter=n_iter, seed=seed)
    grid = _grid(run, panels, os.path.join(out_dir, "from-audio.png"), titles, _columns(len(titles)))
    return _save_index(
        out_dir,
        {
            "kind": "from-audio",
            "run": run.run_dir,
            "step": run.step,
            "audio": os.path.abspath(audio_path),
            "offset": int(offset),
            "predicted_label": run.label_names[predicted],
            "grid": grid,
            "input_wav": input_wav,
            "items": [{"label": run.label_names[int(c)], "wav": w} for c, w in zip(y, wavs, strict=True)],
        },
    )


def generate_cache(
    run: TrainedRun,
    out: str,
    *,
    n: int,
    labels: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    overwrite: bool = False,
) -> str:
    """Write ``n`` generated spectrograms with their conditioning labels as an audiospec cache (V-B).

    Labels cycle over the chosen classes (all by default), so the classes are balanced; the cache
    records the run, step and seed as its provenance and the run's statistics, so it can train a
    downstream model alone or beside the real cache.
    """
    from audiospec.cache import write_cache

    n = _check_count("n", n)
    classes = _label_indices(run, labels)
    y = np.asarray(classes, np.int64)[np.arange(n) % len(classes)] if classes else None
    x, y_out = run.generate(n, labels=y, seed=seed, batch_size=batch_size)
    return write_cache(
        x,
        out,
        config=run.audio_config,
        stats=run.stats,
        labels=y_out if classes else None,
        label_names=run.label_names if classes else [],
        reader="gaae-generated",
        options={"run": run.run_dir, "model_kind": run.kind, "step": run.step, "seed": seed, "n": n},
        overwrite=overwrite,
    )
