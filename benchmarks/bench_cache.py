"""Cache-build benchmark: ``audiospec.build_cache`` vs a plain librosa loop, worker scaling, memory.

On one NSynth-layout corpus (``list_nsynth(root, split="train", sources=("all",))``), every build
runs in a fresh Python subprocess (so peak RSS is per build and nothing is cached in memory between
builds) into a fresh output folder that is deleted afterwards. Variants are measured round-robin,
``--repeat`` times each, and medians are reported.

Per-core throughput (every process pinned to one core)
------------------------------------------------------
audiospec build_cache
    ``build_cache(listing, out, workers=1, progress=False)``: the whole build, decode, crop, STFT,
    zarr writes of the raw log-magnitudes, per-shard statistics, merge, and the normalisation pass
    (read, normalise, write). ``workers=1`` runs dask's synchronous scheduler in the process.
audiospec build_cache, statistics given
    The same with ``stats_from=<statistics of the first build, as JSON>``: no per-shard statistics
    and no merge; the normalisation pass still runs. The difference to the row above is the cost of
    computing the statistics.
librosa loop
    For each file: ``librosa.load(path, sr=16000)``, the first 16384 samples (zero-padded if short),
    ``librosa.stft(y, n_fft=512, hop_length=128, window="hamming", center=True)``,
    ``np.log(np.maximum(np.abs(S), 1e-5))``; finally ``np.stack`` of all of them. In memory, nothing
    written. Decode (load + crop) and STFT (stft + log) are timed separately inside the loop.
audiospec load_clip + stft_logmag, in memory (reference)
    ``load_clip(path, policy="start")`` per file (silent files skipped as the cache does), then one
    ``stft_logmag`` call on the stacked batch: the work of the librosa loop done with audiospec,
    without zarr, statistics or normalisation. It separates "audiospec's transform is slow" from
    "the cache around it is slow".

Each subprocess is pinned with ``os.sched_setaffinity`` before Python starts (so scipy.fft, BLAS,
numba and audiospec's block threads see one core). Before its timed run, every subprocess does one
untimed warm-up (a 2-item build, or 8 files through each loop), so lazy imports of zarr, dask and
librosa and first-call costs are excluded on both sides; that warm-up time is reported. Rates are
files listed per second of wall time (silent files are decoded and skipped by the cache; the
librosa loop transforms them).

A breakdown of one more pinned 1-worker build is measured by wrapping the functions ``build_cache``
calls (``load_clip``, ``stft_logmag``, ``partial_stats``, ``normalize``, the two shard tasks, dask
graph construction and ``dask.compute``) with timers; zarr I/O is what remains of a shard task.

Worker scaling (not pinned: the process may use every core)
-----------------------------------------------------------
``workers=1`` vs ``workers=2`` (dask's local process pool, spawn start method: each of the two
passes starts its own pool, whose processes import audiospec, numpy and zarr). The fixed cost is
measured in the same subprocess, before the full build, as a build of a 2-item listing with
``shard_size=1`` (2 tasks, so ``workers=2`` really starts its pools); the speedup is reported with
and without it. A diagnostic row repeats the 2-worker build with ``dask.config.set(chunksize=1)``:
dask's process scheduler submits ready tasks in batches of 6 by default, so 7 shards go 6 + 1 to the
two processes (the row equals the plain one once the library passes ``chunksize=1`` itself, since an
explicit argument overrides the config).

Memory
------
Peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of the subprocess) of
``workers=1`` builds (not pinned) of N, 2N and 4N files (seeded samples of the listing, kept in
listing order; N defaults to a quarter of the corpus; 2N is a diagnostic that shows where the
growth stops), and of the driver and the largest child process (``RUSAGE_CHILDREN``) of the
2-worker builds; medians and ranges over the ``--repeat`` runs. The peak after the warm-up (imports
done, before the timed build) is reported too. Peak RSS moves by up to about 60 MiB between
identical runs: dask runs the shards in a varying order, and memory the allocator keeps after one
shard sits under the next shard's peak; hence the repeats and the ranges.

Correctness
-----------
The caches of the first 1-worker and 2-worker builds must have identical arrays, every one of
them (format 2: ``spectrograms``, labels, paths, offsets, attributes, ``logmag`` when kept).

Usage
-----
::

    python /work/shared/tools/render_corpora.py instruments .bench/nsynth_cache --split train \\
        --per-family 700 --seed 3
    python benchmarks/bench_cache.py --corpus .bench/nsynth_cache --out benchmarks/results/cache

writes ``cache.json`` and ``cache.md`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from _common import cpu_name, write_results

SEED = 1234
N_SAMPLES = 16384
SAMPLE_RATE = 16000
TINY_ITEMS = 2
TARGET_PER_CORE = 2.0  # issue 15: at least 2x a librosa loop per core, writing included
TARGET_SCALING = 1.8  # issue 15: 2 workers at least 1.8x one
TARGET_RSS_GROWTH = 0.10


# ---------------------------------------------------------------------------------------------------
# child side: one measurement per subprocess


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def corpus_listing(corpus: str, n_items: int | None) -> Any:
    """The full train listing of the corpus, or a seeded sample of ``n_items`` in listing order."""
    from audiospec.readers import list_nsynth

    listing = list_nsynth(corpus, split="train", sources=("all",))
    if n_items is None:
        return listing
    pick = np.random.default_rng(SEED).permutation(len(listing.items))[:n_items]
    return dataclasses.replace(listing, items=[listing.items[i] for i in sorted(pick)])


def tiny_listing(listing: Any) -> Any:
    """The first ``TINY_ITEMS`` non-silent items of ``listing`` (a build needs one valid item)."""
    from audiospec import AudioError, load_clip

    items = []
    for item in listing.items:
        try:
            load_clip(os.path.join(listing.root, item.path), policy=item.crop)
        except AudioError:
            continue
        items.append(item)
        if len(items) == TINY_ITEMS:
            break
    return dataclasses.replace(listing, items=items)


def timed_build(listing: Any, out: str, **kwargs: Any) -> tuple[float, Any]:
    """Wall seconds and report of one ``build_cache`` call into a fresh ``out``."""
    from audiospec.cache import build_cache

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    report = build_cache(listing, out, progress=False, **kwargs)
    return time.perf_counter() - t0, report


def warm_up(listing: Any, out: str) -> tuple[float, Any]:
    """One untimed-in-the-result 2-item build (imports, first calls); returns its time and listing."""
    t0 = time.perf_counter()
    tiny = tiny_listing(listing)
    timed_build(tiny, out + "-warmup", workers=1, shard_size=1)
    shutil.rmtree(out + "-warmup", ignore_errors=True)
    return time.perf_counter() - t0, tiny


def child_build(spec: dict) -> dict:
    """A build of ``spec['n_items']`` files (all when None) with ``spec['workers']`` workers."""
    import dask

    if spec.get("chunksize") is not None:
        dask.config.set({"chunksize": spec["chunksize"]})
    listing = corpus_listing(spec["corpus"], spec.get("n_items"))
    out = spec["out"]
    warm_s, tiny = warm_up(listing, out)
    res: dict[str, Any] = {"warmup_s": warm_s, "rss_after_warmup_mib": peak_rss_mib()}
    if spec.get("tiny"):
        res["tiny_s"], _ = timed_build(tiny, out + "-tiny", workers=spec["workers"], shard_size=1)
        shutil.rmtree(out + "-tiny", ignore_errors=True)
    kwargs = {"workers": spec["workers"]}
    if spec.get("stats_from"):
        kwargs["stats_from"] = spec["stats_from"]
    seconds, report = timed_build(listing, out, **kwargs)
    if spec.get("stats_out"):
        from audiospec.cache import open_cache

        Path(spec["stats_out"]).write_text(open_cache(out).stats.to_json())
    res.update(
        seconds=seconds,
        n_files=len(listing.items),
        n_valid=report.n_items,
        n_skipped=report.n_skipped,
        rss_self_mib=peak_rss_mib(),
        rss_children_mib=peak_rss_mib(resource.RUSAGE_CHILDREN),
        cores=len(os.sched_getaffinity(0)),
    )
    return res


def child_loops(spec: dict) -> dict:
    """The librosa loop and the in-memory audiospec reference on every file of the corpus."""
    import librosa

    from audiospec import AudioError, load_clip, stft_logmag

    listing = corpus_listing(spec["corpus"], None)
    paths = [os.path.join(listing.root, item.path) for item in listing.items]

    def librosa_loop(files: list[str]) -> dict:
        t_dec = t_stft = 0.0
        specs = []
        t0 = time.perf_counter()
        for path in files:
            a = time.perf_counter()
            y, _ = librosa.load(path, sr=SAMPLE_RATE)
            y = y[:N_SAMPLES]
            if y.shape[0] < N_SAMPLES:
                y = np.pad(y, (0, N_SAMPLES - y.shape[0]))
            b = time.perf_counter()
            S = librosa.stft(y, n_fft=512, hop_length=128, window="hamming", center=True)
            specs.append(np.log(np.maximum(np.abs(S), 1e-5)))
            c = time.perf_counter()
            t_dec += b - a
            t_stft += c - b
        stacked = np.stack(specs)
        total = time.perf_counter() - t0
        return {"seconds": total, "decode_s": t_dec, "stft_s": t_stft, "shape": list(stacked.shape)}

    def audiospec_loop(files: list[str]) -> dict:
        t0 = time.perf_counter()
        clips = np.zeros((len(files), N_SAMPLES), dtype=np.float32)
        valid = np.zeros(len(files), dtype=bool)
        for k, path in enumerate(files):
            try:
                clips[k], _ = load_clip(path, policy="start")
                valid[k] = True
            except AudioError:
                pass
        t1 = time.perf_counter()
        logmag = stft_logmag(clips[valid])
        t2 = time.perf_counter()
        return {"seconds": t2 - t0, "decode_s": t1 - t0, "stft_s": t2 - t1, "shape": list(logmag.shape)}

    t0 = time.perf_counter()
    librosa_loop(paths[:8])
    audiospec_loop(paths[:8])
    res: dict[str, Any] = {"warmup_s": time.perf_counter() - t0, "n_files": len(paths)}
    order = ("librosa", "audiospec") if spec.get("librosa_first", True) else ("audiospec", "librosa")
    for name in order:
        res[name] = (librosa_loop if name == "librosa" else audiospec_loop)(paths)
    res["cores"] = len(os.sched_getaffinity(0))
    return res


def child_breakdown(spec: dict) -> dict:
    """A 1-worker build (its tasks run in this process) with timers around what build_cache calls."""
    import audiospec._cache_tasks as tasks
    import audiospec.cache as ac

    listing = corpus_listing(spec["corpus"], None)
    warm_s, _ = warm_up(listing, spec["out"])
    timers: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def timed(name: str, fn: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - t0
                calls[name] += 1

        return wrapper

    for module, attr, name in (
        (tasks, "load_clip_with_notes", "decode (load_clip)"),
        (tasks, "stft_logmag", "STFT (stft_logmag)"),
        (tasks, "partial_stats", "per-shard statistics (partial_stats)"),
        (tasks, "normalize", "normalise arithmetic (normalize)"),
        (ac, "decode_task", "pass 1 tasks"),
        (ac, "normalize_task", "pass 2 tasks"),
        (ac, "create_arrays", "create zarr arrays and metadata"),
        (ac, "_fingerprint", "listing fingerprint"),
        (ac, "merge_stats", "merge statistics"),
        (ac, "dataset_stats", "merge statistics"),
    ):
        if hasattr(module, attr):
            setattr(module, attr, timed(name, getattr(module, attr)))
    seconds, report = timed_build(listing, spec["out"], workers=1)
    return {
        "seconds": seconds,
        "warmup_s": warm_s,
        "n_files": len(listing.items),
        "n_valid": report.n_items,
        "timers": dict(timers),
        "calls": dict(calls),
    }


CHILDREN: dict[str, Callable[[dict], dict]] = {
    "build": child_build,
    "loops": child_loops,
    "breakdown": child_breakdown,
}


# ---------------------------------------------------------------------------------------------------
# parent side


def run_child(spec: dict, cores: set[int] | None) -> dict:
    """Run one measurement in a fresh interpreter (pinned to ``cores`` from its first instruction)."""

    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        preexec_fn=pin,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"child {spec['kind']} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def remove(path: str) -> None:
    """Delete a build's output folder (and its warm-up and tiny siblings)."""
    for suffix in ("", "-warmup", "-tiny"):
        shutil.rmtree(path + suffix, ignore_errors=True)


def same_arrays(a: str, b: str) -> dict[str, bool]:
    """Whether two caches hold identical arrays: every array of either (format 2: the compact
    ``spectrograms``, ``labels``, ``paths``, ... and ``logmag`` when kept; format 1 also ``valid``,
    NaN slots compared as equal)."""
    import zarr

    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    names = sorted(set(ga.array_keys()) | set(gb.array_keys()))
    out = {}
    for name in names:
        if name not in ga or name not in gb:
            out[name] = False
            continue
        x, y = ga[name][:], gb[name][:]
        out[name] = bool(np.array_equal(x, y, equal_nan=x.dtype.kind == "f"))
    return out


def med(runs: list[dict], key: str) -> float:
    """Median of ``key`` over runs."""
    return float(statistics.median(r[key] for r in runs))


def versions() -> dict[str, str]:
    """Versions of Python and the packages involved."""
    import audiospec

    out = {"python": platform.python_version(), "audiospec": audiospec.__version__}
    for dist in ("numpy", "scipy", "soundfile", "zarr", "dask", "librosa"):
        out[dist] = metadata.version(dist)
    return out


def summarise(raw: dict) -> dict:
    """Medians, ratios and targets from the raw per-run measurements."""
    n_files = raw["build_1core"][0]["n_files"]
    loops = raw["loops"]
    lib_s = float(statistics.median(r["librosa"]["seconds"] for r in loops))
    per_core = {
        "audiospec build_cache, workers=1": {
            "seconds": med(raw["build_1core"], "seconds"),
            "warmup_s": med(raw["build_1core"], "warmup_s"),
        },
        "audiospec build_cache, workers=1, statistics given (stats_from)": {
            "seconds": med(raw["build_1core_given"], "seconds"),
            "warmup_s": med(raw["build_1core_given"], "warmup_s"),
        },
    }
    for name, key in (
        ("librosa loop (load, crop, stft, log, stack)", "librosa"),
        ("audiospec load_clip + stft_logmag, in memory (ref.)", "audiospec"),
    ):
        per_core[name] = {
            "seconds": lib_s if key == "librosa" else statistics.median(r[key]["seconds"] for r in loops),
            "decode_s": statistics.median(r[key]["decode_s"] for r in loops),
            "stft_s": statistics.median(r[key]["stft_s"] for r in loops),
            "warmup_s": med(loops, "warmup_s"),
        }
    for row in per_core.values():
        row["files_per_s"] = n_files / row["seconds"]
        row["vs_librosa"] = lib_s / row["seconds"]

    bd = raw["breakdown"]
    t = bd["timers"]
    p1 = t["pass 1 tasks"]
    p2 = t["pass 2 tasks"]
    decode, stft = t["decode (load_clip)"], t["STFT (stft_logmag)"]
    partial = t.get("per-shard statistics (partial_stats)", 0.0)
    norm = t["normalise arithmetic (normalize)"]
    components = {
        "decode (load_clip)": decode,
        "STFT (stft_logmag)": stft,
        "per-shard statistics (partial_stats)": partial,
        "pass 1 zarr writes and rest of the shard task": p1 - decode - stft - partial,
        "pass 2 normalise arithmetic (normalize)": norm,
        "pass 2 zarr read + write and rest of the shard task": p2 - norm,
        "create zarr arrays and metadata": t.get("create zarr arrays and metadata", 0.0),
        "listing fingerprint": t.get("listing fingerprint", 0.0),
        "merge statistics": t.get("merge statistics", 0.0),
    }
    components["other (validation, markers, attributes, clean-up)"] = bd["seconds"] - sum(components.values())
    breakdown = {"seconds": bd["seconds"], "n_files": bd["n_files"], "components": components}

    s1, s2 = raw["build_1w"], raw["build_2w"]
    scaling = {}
    for name, runs in (
        ("workers=1", s1),
        ("workers=2", s2),
        ("workers=2, dask chunksize=1 (diag.)", raw["build_2w_chunk1"]),
    ):
        row = {"seconds": med(runs, "seconds"), "tiny_s": med(runs, "tiny_s")}
        row["files_per_s"] = n_files / row["seconds"]
        row["net_s"] = row["seconds"] - row["tiny_s"]
        scaling[name] = row
    for row in scaling.values():
        row["speedup"] = scaling["workers=1"]["seconds"] / row["seconds"]
        row["speedup_net"] = scaling["workers=1"]["net_s"] / row["net_s"]
        row["speedup_vs_pinned_1core"] = (
            per_core["audiospec build_cache, workers=1"]["seconds"] / row["seconds"]
        )

    small, large = raw["rss_small"], raw["rss_large"]
    n_small, n_large = small[0]["n_files"], large[0]["n_files"]

    def mem_row(runs: list[dict], key: str = "rss_self_mib", baseline: bool = True) -> dict:
        values = [r[key] for r in runs]
        return {
            "n_files": runs[0]["n_files"],
            "peak_mib": float(statistics.median(values)),
            "peak_min_mib": min(values),
            "peak_max_mib": max(values),
            "after_warmup_mib": med(runs, "rss_after_warmup_mib") if baseline else None,
        }

    memory = {
        f"workers=1, N = {n_small} files": mem_row(small),
        f"workers=1, 2N = {raw['rss_mid'][0]['n_files']} files (diag.)": mem_row(raw["rss_mid"]),
        f"workers=1, 4N = {n_large} files": mem_row(large),
        "workers=1, all files": mem_row(s1),
        "workers=1, all files, statistics given (pinned)": mem_row(raw["build_1core_given"]),
        "workers=2, all files: driver": mem_row(s2),
        "workers=2, all files: largest worker process": mem_row(s2, "rss_children_mib", baseline=False),
    }
    m_small, m_large = memory[f"workers=1, N = {n_small} files"], memory[f"workers=1, 4N = {n_large} files"]
    growth = m_large["peak_mib"] / m_small["peak_mib"] - 1
    growth_net = (m_large["peak_mib"] - m_large["after_warmup_mib"]) / max(
        m_small["peak_mib"] - m_small["after_warmup_mib"], 1e-9
    ) - 1
    growth_worst = m_large["peak_max_mib"] / m_small["peak_min_mib"] - 1

    ratio = per_core["audiospec build_cache, workers=1"]["vs_librosa"]
    sp = scaling["workers=2"]
    targets = [
        {
            "target": f"build_cache >= {TARGET_PER_CORE:g}x the librosa loop per core",
            "value": f"{per_core['audiospec build_cache, workers=1']['files_per_s']:,.0f} vs "
            f"{per_core['librosa loop (load, crop, stft, log, stack)']['files_per_s']:,.0f} files/s "
            f"({ratio:.2f}x)",
            "pass": ratio >= TARGET_PER_CORE,
        },
        {
            "target": f"2 workers >= {TARGET_SCALING:g}x 1 worker",
            "value": f"{sp['seconds']:.2f} vs {scaling['workers=1']['seconds']:.2f} s ({sp['speedup']:.2f}x; "
            f"{sp['speedup_net']:.2f}x without the fixed cost of a 2-item build)",
            "pass": sp["speedup"] >= TARGET_SCALING,
        },
        {
            "target": f"peak RSS grows < {100 * TARGET_RSS_GROWTH:g} % from N to 4N files",
            "value": f"{m_small['peak_mib']:.0f} -> {m_large['peak_mib']:.0f} MiB, medians "
            f"({100 * growth:+.1f} %; above the post-import baseline {100 * growth_net:+.1f} %; "
            f"worst pairing, lowest N run vs highest 4N run: {100 * growth_worst:+.1f} %)",
            "pass": growth < TARGET_RSS_GROWTH,
        },
        {
            "target": "1-worker and 2-worker caches identical",
            "value": ", ".join(f"{k}: {'equal' if v else 'DIFFERENT'}" for k, v in raw["identical"].items()),
            "pass": all(raw["identical"].values()),
        },
    ]
    return {
        "n_files": n_files,
        "n_valid": raw["build_1core"][0]["n_valid"],
        "per_core": per_core,
        "breakdown": breakdown,
        "scaling": scaling,
        "memory": memory,
        "rss_growth": growth,
        "rss_growth_above_baseline": growth_net,
        "rss_growth_worst_pairing": growth_worst,
        "targets": targets,
    }


def markdown(res: dict) -> str:
    """Result tables as markdown."""
    s = res["summary"]
    n = s["n_files"]
    lines = [
        f"Corpus `{res['corpus']}`: {n} files listed, {s['n_valid']} valid (the rest silent and skipped "
        f"by the cache); 4 s NSynth-layout notes at 16 kHz, crop of 16384 samples from the start. "
        f"Medians of {res['repeat']} runs, each in a fresh subprocess after an untimed warm-up.",
        "",
        f"#### Per core (each process pinned to 1 of {res['cores']} cores)",
        "",
        "| pipeline | s | files / s | decode s | STFT s | speed vs librosa loop | warm-up s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in s["per_core"].items():
        dec = f"{r['decode_s']:.2f}" if "decode_s" in r else ""
        stft = f"{r['stft_s']:.2f}" if "stft_s" in r else ""
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['files_per_s']:,.0f} | {dec} | {stft} "
            f"| {r['vs_librosa']:.2f}x | {r['warmup_s']:.2f} |"
        )
    bd = s["breakdown"]
    lines += [
        "",
        f"#### Where a 1-worker build's time goes (pinned, instrumented, {bd['seconds']:.2f} s, {n} files)",
        "",
        "| component | s | share | ms / file |",
        "|---|---:|---:|---:|",
    ]
    for name, sec in bd["components"].items():
        lines.append(f"| {name} | {sec:.3f} | {100 * sec / bd['seconds']:.1f} % | {1e3 * sec / n:.3f} |")
    lines += [
        "",
        f"#### Workers (not pinned, {res['cores']} cores)",
        "",
        "| build | s | files / s | fixed cost (2-item build) s | s minus fixed | speedup "
        "| speedup minus fixed | speedup vs pinned 1 worker |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in s["scaling"].items():
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['files_per_s']:,.0f} | {r['tiny_s']:.2f} | {r['net_s']:.2f} "
            f"| {r['speedup']:.2f}x | {r['speedup_net']:.2f}x | {r['speedup_vs_pinned_1core']:.2f}x |"
        )
    lines += [
        "",
        "#### Peak RSS",
        "",
        "| build | files | peak RSS, median (MiB) | min - max (MiB) | after warm-up (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in s["memory"].items():
        after = "" if r["after_warmup_mib"] is None else f"{r['after_warmup_mib']:.0f}"
        lines.append(
            f"| {name} | {r['n_files']} | {r['peak_mib']:.0f} "
            f"| {r['peak_min_mib']:.0f} - {r['peak_max_mib']:.0f} | {after} |"
        )
    lines += ["", "#### Targets", "", "| target | measured | result |", "|---|---|---|"]
    for c in s["targets"]:
        lines.append(f"| {c['target']} | {c['value']} | {'PASS' if c['pass'] else 'FAIL'} |")
    env = res["environment"]
    lines += [
        "",
        f"Environment: {env['cpu']}, {res['cores']} core(s); Python {env['python']}, numpy {env['numpy']}, "
        f"scipy {env['scipy']}, soundfile {env['soundfile']}, zarr {env['zarr']}, dask {env['dask']}, "
        f"librosa {env['librosa']}, audiospec {env['audiospec']}. Load average (1, 5, 15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in res['load_average']['before'])}, after "
        f"{'/'.join(f'{x:.2f}' for x in res['load_average']['after'])} (the run's own load included).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path(".bench/nsynth_cache"), help="NSynth-layout corpus folder"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant, median kept (default 3)")
    parser.add_argument(
        "--n-small", type=int, default=None, help="N of the memory test (default: a quarter of the corpus)"
    )
    parser.add_argument(
        "--work", type=Path, default=Path(".bench/cache_bench"), help="scratch folder for the caches"
    )
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md (suffix replaced)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["kind"]](spec)))
        return

    from audiospec.readers import list_nsynth

    corpus = str(args.corpus.resolve())
    n_files = len(list_nsynth(corpus, split="train", sources=("all",)).items)
    n_small = args.n_small or n_files // 4
    if 4 * n_small > n_files:
        sys.exit(f"--n-small {n_small}: 4N = {4 * n_small} is more than the {n_files} files of {corpus}")
    all_cores = sorted(os.sched_getaffinity(0))
    one = {all_cores[0]}
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(corpus).rglob("*.wav")):  # page cache: every variant reads warm files
        path.read_bytes()
    stats_json = str(work / "stats.json")
    print(f"{n_files} files in {corpus}; {len(all_cores)} cores; scratch {work}", file=sys.stderr)

    raw: dict[str, Any] = defaultdict(list)
    keep: dict[str, str] = {}
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    try:
        for rep in range(args.repeat):
            variants: list[tuple[str, dict, set[int] | None]] = [
                ("build_1core", {"kind": "build", "workers": 1, "stats_out": stats_json}, one),
                ("build_1core_given", {"kind": "build", "workers": 1, "stats_from": stats_json}, one),
                ("loops", {"kind": "loops", "librosa_first": rep % 2 == 0}, one),
                ("build_1w", {"kind": "build", "workers": 1, "tiny": True}, None),
                ("build_2w", {"kind": "build", "workers": 2, "tiny": True}, None),
                ("build_2w_chunk1", {"kind": "build", "workers": 2, "tiny": True, "chunksize": 1}, None),
                ("rss_small", {"kind": "build", "workers": 1, "n_items": n_small}, None),
                ("rss_mid", {"kind": "build", "workers": 1, "n_items": 2 * n_small}, None),
                ("rss_large", {"kind": "build", "workers": 1, "n_items": 4 * n_small}, None),
            ]
            for name, spec, cores in variants:
                out = str(work / f"{name}-{rep}.zarr")
                spec = {**spec, "corpus": corpus, "out": out}
                t0 = time.perf_counter()
                raw[name].append(run_child(spec, cores))
                print(f"  rep {rep} {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                if rep == 0 and name in ("build_1w", "build_2w"):
                    keep[name] = out
                    remove(out + "-warmup")
                else:
                    remove(out)
            if rep == 0:
                raw["identical"] = same_arrays(keep["build_1w"], keep["build_2w"])
                for path in keep.values():
                    remove(path)
        out = str(work / "breakdown.zarr")
        raw["breakdown"] = run_child({"kind": "breakdown", "corpus": corpus, "out": out}, one)
        remove(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"measured in {time.perf_counter() - t_start:.1f} s", file=sys.stderr)

    res = {
        "corpus": str(args.corpus),
        "repeat": args.repeat,
        "cores": len(all_cores),
        "n_small": n_small,
        "seed": SEED,
        "summary": summarise(raw),
        "raw": raw,
        "environment": {"cpu": cpu_name(), **versions()},
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    write_results(res, markdown(res), args.out)


if __name__ == "__main__":
    main()
