"""Cache-build benchmark (issue 15, item 3): build-cache vs a librosa loop per core, 1 vs 2 workers,
peak memory, and the storage layouts by write and random-read speed.

Steady-state rates are **slopes between two corpus sizes**: each pipeline runs on N and on 3N files
of one NSynth-layout corpus (``list_nsynth(root, split="train", sources=("all",))``; N = a third of
it, rounded down to a multiple of 128, the first N files in listing order), and its rate is
``2N / (t(3N) - t(N))`` files per second, so fixed costs (imports, first calls, the process pool's
start, creating the arrays, writing the attributes) cancel out. The rounding makes N and 3N whole
numbers of pairs of 64-file build tasks, so that 2 workers finish each pass together at both sizes:
with an odd number of tasks at one size and an even number at the other, one worker's idle wait for
the other's last task at the pass barriers (up to a task's time, twice) would land in the slope
instead of cancelling. Every run is a fresh Python subprocess that first does an untimed warm-up
(a 2-item build, or 8 files through a loop), into a fresh output folder deleted afterwards;
variants run round-robin, ``--repeat`` times (3), and each slope is the median of the per-round
slopes (each round times N and 3N back to back). Per core, slopes are also given in CPU time
(``time.process_time``: user + system time of the process, page-cache writes included), which a
process sharing its core with another one does not inflate the way it inflates wall time. Files
are read once before the first run, so every variant reads warm files.

Longer intervals: ``--copies K`` times a corpus holding each file under K names (``_corpus.py``).

Parts (``--part``, all by default)
----------------------------------
``per-core``
    Every subprocess pinned (``sched_setaffinity`` before Python starts) to ``--core`` (default: the
    last core this process may use). Rows: ``build_cache(listing, out, workers=1, progress=False)``
    with the default storage (writing included: staging, normalisation and the final arrays);
    the librosa loop (``librosa.load(path, sr=16000)`` (decode + resample, a no-op at 16 kHz),
    first 16384 samples, ``librosa.stft(y, n_fft=512, hop_length=128, window="hamming",
    center=True)``, ``np.log(np.maximum(np.abs(S), 1e-5))``, ``np.stack`` at the end; it writes
    nothing); and audiospec's own ``load_clip`` + ``stft_logmag`` in memory (a reference: the
    decode and transform a build cannot avoid). Peak RSS (``ru_maxrss``) of the N and 3N builds
    shows whether memory is flat in the corpus size. Cache size per 1,000 clips from the 3N build.
``scaling``
    Not pinned: ``workers=1`` and ``workers=2`` (local spawn process pool) builds at N and 3N; the
    speedup is the ratio of the slopes (the pool's start cancels). Needs 2 idle cores. The 3N
    caches of the first round must hold identical arrays. Build tasks run on one thread each
    (``audiospec.runtime.single_threaded``), so ``workers=1`` uses one core (before, its STFT
    threads used both when unpinned, and each of 2 workers ran 2 STFT threads on the 2 cores).
``storage``
    The layouts a cache could use, each written with ``--storage-items`` items (real normalised
    spectrograms of the corpus, repeated), 64 items per write call as a build task does: write
    ms/item, random-minibatch read items/s (sorted random batches of 128, the loader's access;
    direct file reads where :mod:`audiospec._chunk_io` handles the layout, else one zarr
    orthogonal selection per batch), and MB per 1,000 clips. Pinned like ``per-core``.

Usage
-----
::

    # per-core and storage parts, on core 1 (the other core may be busy; say so)
    python benchmarks/bench_cache.py --corpus .bench/corpora/nsynth --part per-core storage \\
        --out benchmarks/results/cache_v3
    # worker scaling: on 2 idle cores
    python benchmarks/bench_cache.py --corpus .bench/corpora/nsynth --part scaling \\
        --out benchmarks/results/cache_v3_scaling
    # everything on an idle machine, with 4 names per file (N = 1,152, 3N = 3,456) and 5 rounds
    python benchmarks/bench_cache.py --corpus .bench/corpora/nsynth --copies 4 --repeat 5 \\
        --out benchmarks/results/cache_v4_idle

Each writes ``OUT.json`` and ``OUT.md`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import environment, write_results
from _corpus import default_n_small, replicate_corpus

N_SAMPLES = 16384
SAMPLE_RATE = 16000
TINY_ITEMS = 2
BATCH = 128
TARGET_PER_CORE = 2.0  # issue 15: at least 2x a librosa loop per core, writing included
TARGET_SCALING = 1.8  # issue 15: 2 workers at least 1.8x one on 2 idle cores
TARGET_RSS_GROWTH = 0.10  # "flat": less than 10 % more peak RSS for 3x the files
LIBROSA = "librosa loop (decode+resample, STFT, log; writes nothing)"


# ---------------------------------------------------------------------------------------------------
# child side: one measurement per subprocess


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def corpus_listing(corpus: str, n_items: int | None) -> Any:
    """The train listing of the corpus, or its first ``n_items`` items."""
    from audiospec.readers import list_nsynth

    listing = list_nsynth(corpus, split="train", sources=("all",))
    return listing if n_items is None else dataclasses.replace(listing, items=listing.items[:n_items])


def folder_bytes(path: str) -> int:
    """Bytes of the files under ``path``."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def child_build(spec: dict) -> dict:
    """Warm-up, then one timed ``build_cache`` of ``spec['n_items']`` files."""
    from audiospec import AudioError, load_clip
    from audiospec.cache import build_cache

    listing = corpus_listing(spec["corpus"], spec["n_items"])
    out = spec["out"]
    tiny = []
    for item in listing.items:  # the warm-up needs valid items
        try:
            load_clip(os.path.join(listing.root, item.path), policy=item.crop)
        except AudioError:
            continue
        tiny.append(item)
        if len(tiny) == TINY_ITEMS:
            break
    t0 = time.perf_counter()
    build_cache(dataclasses.replace(listing, items=tiny), out + "-warmup", workers=1, progress=False)
    warm = time.perf_counter() - t0
    shutil.rmtree(out + "-warmup", ignore_errors=True)
    rss_warm = peak_rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    report = build_cache(listing, out, workers=spec["workers"], progress=False, **spec.get("options", {}))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "warmup_s": warm,
        "n_files": len(listing.items),
        "n_valid": report.n_items,
        "rss_after_warmup_mib": rss_warm,
        "rss_self_mib": peak_rss_mib(),
        "rss_children_mib": peak_rss_mib(resource.RUSAGE_CHILDREN),
        "spectrogram_bytes": folder_bytes(os.path.join(out, "spectrograms")),
        "cache_bytes": folder_bytes(out),
    }


def librosa_loop(files: list[str]) -> dict:
    """Decode + resample (librosa.load), crop, STFT, log-magnitude, stack; writes nothing."""
    import librosa

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
        t_dec += b - a
        t_stft += time.perf_counter() - b
    np.stack(specs)
    return {"seconds": time.perf_counter() - t0, "decode_s": t_dec, "stft_s": t_stft}


def audiospec_loop(files: list[str]) -> dict:
    """audiospec's load_clip + one batched stft_logmag, in memory (silent files skipped)."""
    from audiospec import AudioError, load_clip, stft_logmag

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
    stft_logmag(clips[valid])
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "decode_s": t1 - t0, "stft_s": t2 - t1}


def child_loop(spec: dict) -> dict:
    """Warm-up on 8 files, then one timed loop (``spec['loop']``) over ``spec['n_items']`` files."""
    listing = corpus_listing(spec["corpus"], spec["n_items"])
    files = [os.path.join(listing.root, item.path) for item in listing.items]
    loop = {"librosa": librosa_loop, "audiospec": audiospec_loop}[spec["loop"]]
    t0 = time.perf_counter()
    loop(files[:8])
    t1, c0 = time.perf_counter(), time.process_time()
    res = loop(files)
    res.update(warmup_s=t1 - t0, cpu_seconds=time.process_time() - c0, n_files=len(files))
    return res


def storage_options(shape: tuple[int, int]) -> dict[str, dict]:
    """The layouts compared: zarr ``create_array`` keywords and how rows are written and read."""
    import zarr

    one = (1, *shape)
    return {
        "format 3 (chosen): 64-item shards, 1-item inner chunks, float16, direct I/O": {
            "chunks": one, "shards": (64, *shape), "dtype": "float16", "io": "direct"},
        "same, float32": {"chunks": one, "shards": (64, *shape), "dtype": "float32", "io": "direct"},
        "same, written and read through zarr": {
            "chunks": one, "shards": (64, *shape), "dtype": "float16", "io": "zarr"},
        "format 2: one file per item, float16, through zarr": {
            "chunks": one, "dtype": "float16", "io": "zarr"},
        "one file per item, float16, direct I/O": {"chunks": one, "dtype": "float16", "io": "direct"},
        "8-item chunks, float16, through zarr": {"chunks": (8, *shape), "dtype": "float16", "io": "zarr"},
        "64-item shards, 1-item chunks, float16, zstd 3, through zarr": {
            "chunks": one, "shards": (64, *shape), "dtype": "float16", "io": "zarr",
            "compressors": zarr.codecs.ZstdCodec(level=3)},
    }  # fmt: skip


def child_storage(spec: dict) -> dict:
    """Write ``spec['n_items']`` normalised spectrograms in each layout; time writes and random reads."""
    import zarr

    from audiospec import AudioError, load_clip, stft_logmag
    from audiospec._chunk_io import direct_layout, read_rows, write_rows
    from audiospec.stats import dataset_stats, normalize, partial_stats

    listing = corpus_listing(spec["corpus"], 192)
    clips = []
    for item in listing.items:
        try:
            clips.append(load_clip(os.path.join(listing.root, item.path), policy=item.crop)[0])
        except AudioError:
            pass
    logmag = stft_logmag(np.stack(clips))
    peaks = logmag.reshape(len(clips), -1).max(axis=1)
    x = normalize(logmag, dataset_stats(partial_stats(logmag), item_peaks=peaks))
    n, block = spec["n_items"], 64
    rows = np.concatenate([x] * -(-n // len(x)))[:n]
    rng = np.random.default_rng(0)
    batches = [np.sort(rng.choice(n, BATCH, replace=False)) for _ in range(spec["batches"] + 2)]
    res: dict[str, Any] = {}
    for name, opt in storage_options(tuple(x.shape[1:])).items():
        kw = {k: v for k, v in opt.items() if k != "io"}
        kw.setdefault("compressors", None)
        write_s, read_rates, size = [], [], 0
        for r in range(spec["repeat"]):
            out = f"{spec['out']}-{r}.zarr"
            shutil.rmtree(out, ignore_errors=True)
            array = zarr.create_array(out, shape=(n, *x.shape[1:]), fill_value=0.0, **kw)
            data = rows.astype(kw["dtype"])
            layout = direct_layout(out) if opt["io"] == "direct" else None
            t0 = time.perf_counter()
            for lo in range(0, n, block):
                if layout is not None:
                    write_rows(layout, lo, data[lo : lo + block])
                else:
                    array[lo : lo + block] = data[lo : lo + block]
            write_s.append(time.perf_counter() - t0)
            reader = zarr.open_array(out, mode="r")
            for b in batches[:2]:  # untimed: first opens
                read_rows(layout, b) if layout is not None else reader.get_orthogonal_selection((b,))
            t0 = time.perf_counter()
            for b in batches[2:]:
                got = read_rows(layout, b) if layout is not None else reader.get_orthogonal_selection((b,))
                got.astype(np.float32)
            read_rates.append(BATCH * spec["batches"] / (time.perf_counter() - t0))
            if r == 0:
                assert np.array_equal(reader[batches[2]], data[batches[2]]), name  # what zarr reads back
            size = folder_bytes(out)
            shutil.rmtree(out, ignore_errors=True)
        res[name] = {
            "write_ms_per_item": 1e3 * statistics.median(write_s) / n,
            "random_read_items_per_s": statistics.median(read_rates),
            "mb_per_1000": size / n * 1000 / 1e6,
            "files_per_1000": 1000 / (64 if "shards" in kw else kw["chunks"][0]),
        }
    return res


CHILDREN: dict[str, Callable[[dict], dict]] = {
    "build": child_build,
    "loop": child_loop,
    "storage": child_storage,
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


def same_arrays(a: str, b: str) -> dict[str, bool]:
    """Whether two caches hold identical arrays (every array of either)."""
    import zarr

    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    out = {}
    for name in sorted(set(ga.array_keys()) | set(gb.array_keys())):
        out[name] = name in ga and name in gb and bool(np.array_equal(ga[name][:], gb[name][:]))
    return out


def slope_rows(raw: dict, n_small: int, n_large: int) -> dict[str, dict]:
    """Per variant: per-round slopes (files/s), their median, and the median times at N and 3N."""
    rows = {}
    for name, runs in raw.items():
        small, large = runs["small"], runs["large"]
        rates = [
            (n_large - n_small) / (b["seconds"] - a["seconds"]) for a, b in zip(small, large, strict=True)
        ]
        cpu = [
            (n_large - n_small) / (b["cpu_seconds"] - a["cpu_seconds"])
            for a, b in zip(small, large, strict=True)
        ]
        rows[name] = {
            "files_per_s": float(statistics.median(rates)),
            "rates": rates,
            "cpu_files_per_s": float(statistics.median(cpu)),
            "cpu_rates": cpu,
            "t_small_s": float(statistics.median(r["seconds"] for r in small)),
            "t_large_s": float(statistics.median(r["seconds"] for r in large)),
            "warmup_s": float(statistics.median(r["warmup_s"] for r in small + large)),
        }
    return rows


def measure_rounds(
    variants: dict[str, dict], sizes: dict[str, int], args: Any, corpus: str, work: Path, cores: set | None
) -> tuple[dict, dict]:
    """Run every variant at every size, round-robin, ``args.repeat`` times; keep the first round's
    caches of ``keep`` variants (for the identity check). Returns (raw, kept paths)."""
    raw: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    kept: dict[str, str] = {}
    for rep in range(args.repeat):
        for name, spec in variants.items():
            for size, n in sizes.items():
                out = str(work / f"{name.replace(' ', '_')}-{size}-{rep}.zarr")
                t0 = time.perf_counter()
                raw[name][size].append(run_child({**spec, "corpus": corpus, "out": out, "n_items": n}, cores))
                print(f"  round {rep} {name} {size}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                if rep == 0 and size == "large" and spec.get("keep"):
                    kept[name] = out
                else:
                    shutil.rmtree(out, ignore_errors=True)
    return raw, kept


def markdown(res: dict) -> str:
    """Result tables as markdown."""
    copies = res.get("copies", 1)
    times = f" x {copies} (each file under {copies} names, hard links)" if copies > 1 else ""
    lines = [
        f"Corpus `{res['corpus']}`{times}: {res['n_files']} files listed; N = {res['n_small']} and "
        f"3N = {res['n_large']} files (the first ones in listing order). Rates are slopes, "
        f"2N / (t(3N) - t(N)), medians over {res['repeat']} rounds; every run a fresh subprocess after "
        "an untimed warm-up.",
    ]
    if "per_core" in res:
        pc = res["per_core"]
        lib = pc["rows"][LIBROSA]["files_per_s"]
        lines += [
            "",
            f"#### Per core (every process pinned to core {pc['core']}; {pc['note']})",
            "",
            "| pipeline | files / s (slope) | per-round slopes | t(N) s | t(3N) s | vs librosa loop "
            "| files / CPU-s (slope) | per-round | vs librosa loop (CPU) |",
            "|---|---:|---|---:|---:|---:|---:|---|---:|",
        ]
        lib_cpu = pc["rows"][LIBROSA]["cpu_files_per_s"]
        for name, r in pc["rows"].items():
            lines.append(
                f"| {name} | {r['files_per_s']:,.0f} | {', '.join(f'{x:,.0f}' for x in r['rates'])} "
                f"| {r['t_small_s']:.2f} | {r['t_large_s']:.2f} | {r['files_per_s'] / lib:.2f}x "
                f"| {r['cpu_files_per_s']:,.0f} | {', '.join(f'{x:,.0f}' for x in r['cpu_rates'])} "
                f"| {r['cpu_files_per_s'] / lib_cpu:.2f}x |"
            )
        m = pc["memory"]
        lines += [
            "",
            f"Peak RSS of the 1-worker build: {m['small_mib']:.0f} MiB at N, {m['large_mib']:.0f} MiB at 3N "
            f"(medians; {100 * m['growth']:+.1f} %; after the warm-up {m['after_warmup_mib']:.0f} MiB). "
            f"Cache size: {pc['mb_per_1000']:.1f} MB of spectrograms per 1,000 clips "
            f"({pc['cache_mb_per_1000']:.1f} MB with the other arrays and metadata).",
        ]
    if "scaling" in res:
        sc = res["scaling"]
        lines += [
            "",
            f"#### Workers (not pinned, {res['cores']} cores; {sc['note']})",
            "",
            "| build | files / s (slope) | per-round slopes | t(N) s | t(3N) s | speedup | peak RSS driver / "
            "largest worker at 3N (MiB) |",
            "|---|---:|---|---:|---:|---:|---:|",
        ]
        one = sc["rows"]["workers=1"]["files_per_s"]
        for name, r in sc["rows"].items():
            lines.append(
                f"| {name} | {r['files_per_s']:,.0f} | {', '.join(f'{x:,.0f}' for x in r['rates'])} "
                f"| {r['t_small_s']:.2f} | {r['t_large_s']:.2f} | {r['files_per_s'] / one:.2f}x "
                f"| {r['rss_driver_mib']:.0f} / {r['rss_worker_mib']:.0f} |"
            )
        lines += ["", "1- and 2-worker caches (3N): " + ", ".join(
            f"{k} {'equal' if v else 'DIFFERENT'}" for k, v in sc["identical"].items())]  # fmt: skip
    if "storage" in res:
        st = res["storage"]
        lines += [
            "",
            f"#### Storage layouts ({st['n_items']} items of 256 x 128, 64 per write call; random batches "
            f"of {BATCH}, sorted; pinned to core {st['core']}; medians of {res['repeat']})",
            "",
            "| layout | write ms / item | random-read items / s | MB / 1,000 clips | files / 1,000 clips |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in st["rows"].items():
            lines.append(
                f"| {name} | {r['write_ms_per_item']:.3f} | {r['random_read_items_per_s']:,.0f} "
                f"| {r['mb_per_1000']:.1f} | {r['files_per_1000']:,.0f} |"
            )
    if res.get("targets"):
        lines += ["", "#### Targets", "", "| target | measured | result |", "|---|---|---|"]
        for c in res["targets"]:
            lines.append(f"| {c['target']} | {c['value']} | {'PASS' if c['pass'] else 'FAIL'} |")
    env = res["environment"]
    lines += [
        "",
        f"Environment: {env['cpu']}, {res['cores']} core(s); Python {env['python']}, numpy {env['numpy']}, "
        f"scipy {env['scipy']}, soundfile {env['soundfile']}, zarr {env['zarr']}, numba {env['numba']}, "
        f"librosa {env['librosa']}, audiospec {env['audiospec']}. Load average (1, 5, 15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in res['load_average']['before'])}, after "
        f"{'/'.join(f'{x:.2f}' for x in res['load_average']['after'])} (the run's own load included).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path(".bench/corpora/nsynth"), help="NSynth-layout corpus"
    )
    parser.add_argument(
        "--part", nargs="+", choices=("per-core", "scaling", "storage"),
        default=["per-core", "scaling", "storage"], help="what to measure (default: all)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="rounds, median kept (default 3)")
    parser.add_argument(
        "--n-small", type=int, default=None,
        help="N (default: a third of the corpus, rounded down to a multiple of 128)",
    )  # fmt: skip
    parser.add_argument(
        "--copies", type=int, default=1,
        help="time a corpus holding each file under this many names (hard links): longer, steadier slopes",
    )  # fmt: skip
    parser.add_argument("--core", type=int, default=None, help="core for pinned parts (default: the last)")
    parser.add_argument("--storage-items", type=int, default=1024, help="items per storage layout")
    parser.add_argument("--note", default="", help="a note on the machine's state, printed with the tables")
    parser.add_argument("--work", type=Path, default=Path(".bench/cache_bench"), help="scratch folder")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md (suffix replaced)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["kind"]](spec)))
        return

    if args.copies < 1:
        sys.exit(f"--copies {args.copies} must be at least 1")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    corpus = str(args.corpus.resolve())
    if args.copies > 1:
        shutil.rmtree(work / "corpus", ignore_errors=True)
        corpus = str(replicate_corpus(Path(corpus), work / "corpus", args.copies))
    n_files = len(corpus_listing(corpus, None).items)
    n_small = args.n_small or default_n_small(n_files)
    if 3 * n_small > n_files:
        shutil.rmtree(work / "corpus", ignore_errors=True)
        sys.exit(f"--n-small {n_small}: 3N = {3 * n_small} is more than the {n_files} files of {corpus}")
    if "scaling" in args.part and n_small <= 64:
        shutil.rmtree(work / "corpus", ignore_errors=True)
        sys.exit(f"--n-small {n_small}: the scaling part needs N > 64 (one 64-file task starts no pool)")
    sizes = {"small": n_small, "large": 3 * n_small}
    all_cores = sorted(os.sched_getaffinity(0))
    pinned = {args.core if args.core is not None else all_cores[-1]}
    for path in sorted(Path(corpus).rglob("*.wav")):  # page cache: every variant reads warm files
        path.read_bytes()
    res: dict[str, Any] = {
        "corpus": str(args.corpus), "copies": args.copies, "repeat": args.repeat, "cores": len(all_cores),
        "n_files": n_files, "n_small": n_small, "n_large": 3 * n_small, "targets": [],
    }  # fmt: skip
    load_before = os.getloadavg()
    try:
        if "per-core" in args.part:
            variants = {
                "audiospec build-cache, workers=1 (writing included)": {"kind": "build", "workers": 1},
                LIBROSA: {"kind": "loop", "loop": "librosa"},
                "audiospec load_clip + stft_logmag in memory (ref.)": {"kind": "loop", "loop": "audiospec"},
            }  # fmt: skip
            raw, _ = measure_rounds(variants, sizes, args, corpus, work, pinned)
            rows = slope_rows(raw, n_small, 3 * n_small)
            builds = raw["audiospec build-cache, workers=1 (writing included)"]
            small = statistics.median(r["rss_self_mib"] for r in builds["small"])
            large = statistics.median(r["rss_self_mib"] for r in builds["large"])
            big = builds["large"][0]
            res["per_core"] = {
                "core": next(iter(pinned)), "note": args.note or "the other core's load as it was",
                "rows": rows, "raw": raw,
                "memory": {"small_mib": small, "large_mib": large, "growth": large / small - 1,
                           "after_warmup_mib": statistics.median(
                               r["rss_after_warmup_mib"] for r in builds["large"])},
                "mb_per_1000": big["spectrogram_bytes"] / big["n_valid"] * 1000 / 1e6,
                "cache_mb_per_1000": big["cache_bytes"] / big["n_valid"] * 1000 / 1e6,
            }  # fmt: skip
            build = rows["audiospec build-cache, workers=1 (writing included)"]
            lib = rows[LIBROSA]
            ratio, cpu_ratio = (
                build["files_per_s"] / lib["files_per_s"],
                build["cpu_files_per_s"] / lib["cpu_files_per_s"],
            )
            res["targets"] += [
                {"target": f"build-cache >= {TARGET_PER_CORE:g}x the librosa loop per core (wall time)",
                 "value": f"{build['files_per_s']:,.0f} vs {lib['files_per_s']:,.0f} files/s ({ratio:.2f}x)",
                 "pass": ratio >= TARGET_PER_CORE},
                {"target": "the same in CPU time (user + system, robust to a shared core)",
                 "value": f"{build['cpu_files_per_s']:,.0f} vs {lib['cpu_files_per_s']:,.0f} files/CPU-s "
                          f"({cpu_ratio:.2f}x)", "pass": cpu_ratio >= TARGET_PER_CORE},
                {"target": f"peak RSS flat in the corpus size (< {100 * TARGET_RSS_GROWTH:g} % from N to 3N)",
                 "value": f"{small:.0f} -> {large:.0f} MiB ({100 * (large / small - 1):+.1f} %)",
                 "pass": large / small - 1 < TARGET_RSS_GROWTH},
            ]  # fmt: skip
        if "scaling" in args.part:
            variants = {
                "workers=1": {"kind": "build", "workers": 1, "keep": True},
                "workers=2": {"kind": "build", "workers": 2, "keep": True},
            }
            raw, kept = measure_rounds(variants, sizes, args, corpus, work, None)
            rows = slope_rows(raw, n_small, 3 * n_small)
            for name, r in rows.items():
                r["rss_driver_mib"] = statistics.median(x["rss_self_mib"] for x in raw[name]["large"])
                r["rss_worker_mib"] = statistics.median(x["rss_children_mib"] for x in raw[name]["large"])
            identical = same_arrays(kept["workers=1"], kept["workers=2"])
            speedup = rows["workers=2"]["files_per_s"] / rows["workers=1"]["files_per_s"]
            res["scaling"] = {"rows": rows, "raw": raw, "identical": identical,
                              "note": args.note or "the cores' load as it was"}  # fmt: skip
            res["targets"] += [
                {"target": f"2 workers >= {TARGET_SCALING:g}x one (slopes, 2 idle cores)",
                 "value": f"{rows['workers=2']['files_per_s']:,.0f} vs "
                          f"{rows['workers=1']['files_per_s']:,.0f} files/s ({speedup:.2f}x)",
                 "pass": speedup >= TARGET_SCALING},
                {"target": "1- and 2-worker caches identical", "value": ", ".join(
                    f"{k}: {'equal' if v else 'DIFFERENT'}" for k, v in identical.items()),
                 "pass": all(identical.values())},
            ]  # fmt: skip
        if "storage" in args.part:
            spec = {"kind": "storage", "corpus": corpus, "out": str(work / "storage"),
                    "n_items": args.storage_items, "batches": 20, "repeat": args.repeat}  # fmt: skip
            res["storage"] = {"rows": run_child(spec, pinned), "n_items": args.storage_items,
                              "core": next(iter(pinned))}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res["environment"] = environment("audiospec", "numpy", "scipy", "soundfile", "zarr", "librosa", "numba")
    res["load_average"] = {"before": load_before, "after": os.getloadavg()}
    write_results(res, markdown(res), args.out)


if __name__ == "__main__":
    main()
