"""Transform and loading throughput: ``audiospec.stft_logmag`` and ``load_clip`` vs librosa.

Transform
---------
A batch of clips (``audiospec.load_clip(..., policy="start")``, float32, shape
``(n_clips, 16384)``) is turned into natural-log magnitudes by

* ``audiospec.stft_logmag(batch)``: one call on the whole batch (audiospec is vectorised over
  leading axes and lets scipy.fft use every core it is allowed);
* ``audiospec.stft_logmag(clip)`` in a Python loop, one call per clip;
* ``librosa.stft(clip)`` in a Python loop, as a user would write it, followed by
  ``np.log(np.maximum(np.abs(S), 1e-5))`` (audiospec's floor ``amin``);
* ``librosa.stft(batch)`` on the stacked ``(n_clips, n_samples)`` array (librosa supports leading
  axes), with the same log.

Same periodic Hamming window (512), ``n_fft=512``, hop 128, float32 in and complex64 inside for
both. The conventions differ, as they do for users: librosa pads with zeros (``center=True``,
``pad_mode="constant"``) and keeps the Nyquist row, giving 257 x 129 per clip; audiospec is
circular and drops Nyquist, giving 256 x 128. The work is within 1 % of equal (129 vs 128 frames),
so throughput is compared as clips per second. Each variant is timed ``--repeat`` times after one
untimed warm-up call; the median is reported. The whole set is measured twice: with every core the
process may use, and pinned to one core (``os.sched_setaffinity``), because audiospec passes
``workers=<allowed cores>`` to scipy.fft while librosa's FFT is single-threaded.

Decode + crop
-------------
Per file, ``audiospec.load_clip(path, policy="start")`` (soundfile decode, mono mix, resample if
needed, crop/pad to 16384 samples, silence check) vs ``librosa.load(path, sr=16000)`` followed by
the same crop/pad (``librosa.util.fix_length``). Files are read once beforehand so both come from
the page cache; methods alternate file by file, and the median per file is reported. The corpus is
16 kHz, so neither resamples; the same files are also written at 44.1 kHz to a temporary directory
to time the resampling path (audiospec: scipy ``resample_poly``; librosa: soxr ``soxr_hq``).

Usage
-----
::

    python benchmarks/bench_transform.py --corpus .bench/nsynth_big --n 512 \\
        --out benchmarks/results/transform

writes ``transform.json`` and ``transform.md`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import scipy
import scipy.signal
import soundfile as sf
from _common import environment, find_wavs, write_results

import audiospec

SEED = 1234


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def transform_rows(batch: np.ndarray, cfg: audiospec.SpectrogramConfig, repeat: int) -> dict[str, float]:
    """Seconds per batch of each transform variant."""
    kw = dict(
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=cfg.window,
        center=True,
        pad_mode="constant",
    )
    amin = np.float32(cfg.amin)

    def librosa_loop() -> list[np.ndarray]:
        return [np.log(np.maximum(np.abs(librosa.stft(y, **kw)), amin)) for y in batch]

    def librosa_batch() -> np.ndarray:
        return np.log(np.maximum(np.abs(librosa.stft(batch, **kw)), amin))

    def audiospec_loop() -> list[np.ndarray]:
        return [audiospec.stft_logmag(y, config=cfg) for y in batch]

    def audiospec_batch() -> np.ndarray:
        return audiospec.stft_logmag(batch, config=cfg)

    variants = {
        "audiospec.stft_logmag, whole batch": audiospec_batch,
        "audiospec.stft_logmag, loop over clips": audiospec_loop,
        "librosa.stft + log, loop over clips": librosa_loop,
        "librosa.stft + log, whole batch": librosa_batch,
    }
    return {name: median_time(fn, repeat) for name, fn in variants.items()}


def decode_rows(files: list[Path], cfg: audiospec.SpectrogramConfig) -> dict[str, float]:
    """Median seconds per file of audiospec.load_clip and librosa.load + crop."""

    def ours(path: Path) -> np.ndarray:
        return audiospec.load_clip(path, config=cfg, policy="start")[0]

    def theirs(path: Path) -> np.ndarray:
        y, _ = librosa.load(path, sr=cfg.sample_rate)
        return librosa.util.fix_length(y, size=cfg.n_samples)

    for path in files:  # page cache, lazy imports, resampler set-up
        path.read_bytes()
    ours(files[0])
    theirs(files[0])
    times: dict[str, list[float]] = {"audiospec.load_clip": [], "librosa.load + fix_length": []}
    for path in files:
        for name, fn in (("audiospec.load_clip", ours), ("librosa.load + fix_length", theirs)):
            t0 = time.perf_counter()
            fn(path)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def write_resampled(files: list[Path], sr: int, out_dir: Path) -> list[Path]:
    """Copies of ``files`` at ``sr`` Hz (16-bit PCM) in ``out_dir``."""
    out = []
    for i, path in enumerate(files):
        y, file_sr = sf.read(path, dtype="float32")
        g = np.gcd(sr, file_sr)
        z = scipy.signal.resample_poly(y, sr // g, file_sr // g)
        target = out_dir / f"{i:05d}.wav"
        sf.write(target, np.clip(z, -1, 1), sr, subtype="PCM_16")
        out.append(target)
    return out


def markdown(res: dict) -> str:
    """Result tables as markdown."""
    n = res["n_clips"]
    lines = [
        f"{n} clips of {res['n_samples']} samples from `{res['corpus']}`; median of {res['repeat']} "
        "timed calls after a warm-up.",
        "",
        "| transform | cores | ms / batch | clips / s | speed vs librosa loop | speed vs librosa batch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for cores, rows in res["transform"].items():
        loop = rows["librosa.stft + log, loop over clips"]
        batch = rows["librosa.stft + log, whole batch"]
        for name, sec in rows.items():
            lines.append(
                f"| {name} | {cores} | {1e3 * sec:.1f} | {n / sec:,.0f} "
                f"| {loop / sec:.2f}x | {batch / sec:.2f}x |"
            )
    lines += [
        "",
        f"Decode + crop, {res['n_decode']} files, median per file ({res['decode_cores']} core(s) allowed):",
        "",
        "| loader | file rate | ms / file | speed vs librosa |",
        "|---|---:|---:|---:|",
    ]
    for rate, rows in res["decode"].items():
        ref = rows["librosa.load + fix_length"]
        for name, sec in rows.items():
            lines.append(f"| {name} | {rate} | {1e3 * sec:.3f} | {ref / sec:.2f}x |")
    env = res["environment"]
    lines += [
        "",
        f"Environment: {env['cpu']}, {env['cores_available']} core(s) available; Python {env['python']}, "
        f"numpy {env['numpy']}, scipy {env['scipy']}, librosa {env['librosa']}, "
        f"audiospec {env['audiospec']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path(".bench/nsynth_big"), help="directory of .wav files"
    )
    parser.add_argument("--n", type=int, default=512, help="clips in the transform batch (default 512)")
    parser.add_argument("--n-decode", type=int, default=200, help="files for the decode timing (default 200)")
    parser.add_argument("--repeat", type=int, default=7, help="timed repeats per transform (default 7)")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md (suffix replaced)")
    args = parser.parse_args(argv)

    cfg = audiospec.SpectrogramConfig()
    files = find_wavs(args.corpus, args.n, SEED)
    clips = []
    for path in files:
        try:
            clips.append(audiospec.load_clip(path, config=cfg, policy="start")[0])
        except audiospec.AudioError:
            continue
    batch = np.stack(clips).astype(np.float32)
    print(f"{len(clips)} clips from {args.corpus}", file=sys.stderr)

    all_cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    transform = {}
    settings = [len(all_cores) or os.cpu_count() or 1]
    if len(all_cores) > 1:
        settings.append(1)
    for n_cores in settings:
        if all_cores:
            os.sched_setaffinity(0, set(all_cores[:n_cores]))
        transform[str(n_cores)] = transform_rows(batch, cfg, args.repeat)
    if all_cores:
        os.sched_setaffinity(0, set(all_cores))

    decode_files = files[: args.n_decode]
    decode = {"16 kHz": decode_rows(decode_files, cfg)}
    with tempfile.TemporaryDirectory() as tmp:
        decode["44.1 kHz"] = decode_rows(write_resampled(decode_files, 44100, Path(tmp)), cfg)

    res = {
        "corpus": str(args.corpus),
        "n_clips": len(clips),
        "n_samples": cfg.n_samples,
        "repeat": args.repeat,
        "transform": transform,
        "n_decode": len(decode_files),
        "decode_cores": len(all_cores) or os.cpu_count(),
        "decode": decode,
        "environment": environment(
            "numpy", "scipy", "librosa", "audiospec", cores_available=len(all_cores) or os.cpu_count()
        ),
    }
    write_results(res, markdown(res), args.out)


if __name__ == "__main__":
    main()
