"""Feature-extraction throughput from WAV files: ``gaae_models.extract_features`` vs a naive loop.

What is timed
-------------
Clips per second over ``--n-clips`` one-second WAV files (16 kHz, 16-bit PCM, seeded tones plus
noise, written to a temporary folder and read once beforehand so that every variant reads from the
page cache). Every variant includes decoding, preprocessing and the network, and produces z and s
for every clip:

* **gaae_models, batch B** (B = 1, 16, 64): ``extract_features(encoder, files, batch_size=B)``,
  the code behind ``gaae features``: soundfile decode in a background thread, 16384-sample windows
  (the 1 s clips are zero-padded), ``audiospec.stft_logmag`` + ``normalize`` per batch, and the
  encoder's inference form (spectral norm folded, average pooling folded into strided convs,
  channels-last) under ``torch.inference_mode``, with one single-threaded worker per core.
* **naive loop**: what a user would write without the library: per file ``librosa.load(path,
  sr=16000)``, ``librosa.util.fix_length`` to 16384, ``librosa.stft(n_fft=512, hop_length=128,
  window="hamming")``, ``log(max(|S|, 1e-5))`` cropped to 256 x 128, the same normalisation, then
  ``encoder(x)`` on one clip at a time under ``torch.no_grad`` (torch's default threads).
* **gaae_models.encode_batch, batch B**: the speechbrain-style batch API: B clips decoded with
  soundfile, padded into one (B, T) array with relative lengths, ``encode_batch(encoder, wavs,
  lens)`` (one pooled vector per clip).
* ablations at batch 64: one worker with torch's default intra-op threads (``workers=1``), the
  module's own forward (``fused=False``) and bfloat16 autocast (``precision="bfloat16"``).

The encoder is the ``paper`` preset (ch = 16, with the non-local block: 8192 queries x 2048 keys
per clip) with **random weights** (seed 0): throughput does not depend on the values. Variants run
in rotating order within each of ``--repeat`` rounds (so slow phases of a shared machine hit all
of them) after one untimed warm-up each; medians are reported, with min and max.

Usage
-----
::

    python benchmarks/bench_features.py --n-clips 256 --repeat 5 --out benchmarks/results/features.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from _common import cpu_name

import gaae_models
from audiospec import DatasetStats, SpectrogramConfig
from gaae_models import Encoder, model_config
from gaae_models.batch import encode_batch
from gaae_models.features import extract_features

SEED = 1234
TARGET = 100.0  # clips per second on 2 cores
#: Statistics of the order of a real training cache (NSynth-like notes); any values do for timing.
STATS = DatasetStats(mean=-4.42, std=2.46, r=1.92, upper=3.44)


def write_corpus(folder: Path, n: int, sr: int = 16000) -> list[str]:
    """``n`` one-second 16-bit WAV clips: a random tone with vibrato plus noise, seeded."""
    rng = np.random.default_rng(SEED)
    t = np.arange(sr) / sr
    files = []
    for i in range(n):
        f0 = rng.uniform(80, 1000)
        y = 0.3 * np.sin(2 * np.pi * f0 * t + 2 * np.sin(2 * np.pi * 5 * t)) + 0.02 * rng.standard_normal(sr)
        path = folder / f"clip{i:05d}.wav"
        sf.write(str(path), y.astype(np.float32), sr, subtype="PCM_16")
        files.append(str(path))
    for path in files:  # into the page cache
        Path(path).read_bytes()
    return files


def naive_loop(encoder: Encoder, files: list[str]) -> np.ndarray:
    """librosa decode + STFT per file, the torch encoder one clip at a time."""
    config, stats = encoder.audio_config, encoder.stats
    zs = []
    for path in files:
        y, _ = librosa.load(path, sr=config.sample_rate)
        y = librosa.util.fix_length(y, size=config.n_samples)
        spec = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length, window="hamming"))
        logmag = np.log(np.maximum(spec, config.amin))[: config.n_bins, : config.n_frames]
        x = np.clip((logmag - stats.mean) / stats.std, -stats.r, stats.upper)
        x = 2 * (x + stats.r) / (stats.upper + stats.r) - 1
        with torch.no_grad():
            z, _ = encoder(torch.from_numpy(x.astype(np.float32))[None, None])
        zs.append(z[0].numpy())
    return np.stack(zs)


def encode_files(encoder: Encoder, files: list[str], batch: int) -> np.ndarray:
    """``encode_batch`` over ``files`` in groups of ``batch``: each group decoded with soundfile,
    padded to its longest clip with relative lengths, embedded as a (B, dim) array."""
    out = []
    for i in range(0, len(files), batch):
        clips = [sf.read(path, dtype="float32")[0] for path in files[i : i + batch]]
        longest = max(len(c) for c in clips)
        wavs = np.zeros((len(clips), longest), np.float32)
        for row, clip in enumerate(clips):
            wavs[row, : len(clip)] = clip
        lens = np.array([len(c) / longest for c in clips])
        out.append(encode_batch(encoder, wavs, lens, batch_size=batch))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-clips", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-size", type=int, action="append", dest="batch_sizes")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/features.json")
    args = parser.parse_args()
    batch_sizes = args.batch_sizes or [1, 16, 64]

    torch.manual_seed(0)
    encoder = Encoder(model_config("paper"), audio_config=SpectrogramConfig(), stats=STATS).eval()
    variants: dict[str, Callable[[list[str]], object]] = {
        "naive loop (librosa.load + librosa.stft + encoder per clip)": lambda f: naive_loop(encoder, f)
    }
    for b in batch_sizes:
        variants[f"gaae_models.extract_features, batch {b}"] = lambda f, b=b: extract_features(
            encoder, f, batch_size=b
        )
    for b in batch_sizes:  # the speechbrain-style API on decoded, padded batches (decode included)
        variants[f"gaae_models.encode_batch, batch {b} (soundfile decode + encode_batch)"] = lambda f, b=b: (
            encode_files(encoder, f, b)
        )
    if not args.no_ablations:
        variants["batch 64, workers=1 (one forward at a time, default intra-op threads)"] = lambda f: (
            extract_features(encoder, f, batch_size=64, workers=1)
        )
        variants["batch 64, fused=False (the module's own forward)"] = lambda f: extract_features(
            encoder, f, batch_size=64, fused=False
        )
        variants["batch 64, precision=bfloat16"] = lambda f: extract_features(
            encoder, f, batch_size=64, precision="bfloat16"
        )

    load_before = os.getloadavg()
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        files = write_corpus(Path(tmp), args.n_clips)
        for fn in variants.values():  # warm-up: imports, plans, allocator
            fn(files[:16])
        names = list(variants)
        for r in range(args.repeat):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                start = time.perf_counter()
                variants[name](files)
                times[name].append(time.perf_counter() - start)
                print(f"round {r + 1}: {name}: {args.n_clips / times[name][-1]:.1f} clips/s", flush=True)
        # agreement of the two pipelines on the first clips (their STFT framing differs slightly:
        # librosa pads with zeros around a centred frame, audiospec is circular)
        naive_z = naive_loop(encoder, files[:8])
        ours_z = extract_features(encoder, files[:8]).latents["z"]
        rel = float(np.linalg.norm(naive_z - ours_z) / np.linalg.norm(ours_z))
    load_after = os.getloadavg()

    naive_name = next(iter(variants))
    naive_rate = args.n_clips / statistics.median(times[naive_name])
    rows = []
    for name, values in times.items():
        rates = [args.n_clips / t for t in values]
        median = statistics.median(rates)
        rows.append(
            {
                "variant": name,
                "median_clips_per_s": median,
                "min_clips_per_s": min(rates),
                "max_clips_per_s": max(rates),
                "ratio_vs_naive": median / naive_rate,
                "seconds": values,
            }
        )
    best = max(r["median_clips_per_s"] for r in rows if r["variant"].startswith("gaae_models"))
    result = {
        "benchmark": "feature extraction from 1 s WAV files (decode + preprocessing + encoder), CPU",
        "model": "Encoder, preset 'paper' (ch=16, attention), random init (seed 0)",
        "n_clips": args.n_clips,
        "clip_seconds": 1.0,
        "repeat": args.repeat,
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "librosa": librosa.__version__,
        "gaae_models": gaae_models.__version__,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": rows,
        "target_clips_per_s": TARGET,
        "target_met": best >= TARGET,
        "naive_vs_gaae_z_relative_difference": rel,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    load = f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    print(f"\n{result['cpu']}, {result['cores']} cores, {load}")
    print("\n| variant | clips/s (median) | min - max | vs naive |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['median_clips_per_s']:.1f} | {row['min_clips_per_s']:.1f} - "
            f"{row['max_clips_per_s']:.1f} | {row['ratio_vs_naive']:.2f}x |"
        )
    print(f"\ntarget {TARGET:.0f} clips/s met: {result['target_met']} (best {best:.1f}); wrote {args.out}")


if __name__ == "__main__":
    main()
