"""Summarise a learning proof (``learning_proof.sh`` + ``gaae evaluate``) over seeds: mean +- SE.

Reads ``OUT/report/results.json`` (written by ``gaae evaluate``) and every run's ``log.jsonl``
(final-step health), groups runs by name without their ``_s<seed>`` suffix and prints a Markdown
table (and writes it to ``OUT/summary.md``, the numbers to ``OUT/summary.json``)::

    python benchmarks/proof_summary.py .bench/proof/instruments

Final-step rule: every number is the run's last evaluation, never its best one. The standard
error is the sample standard deviation over seeds divided by sqrt(n_seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections import defaultdict

HEALTH_KEYS = (
    "health/s_std_mean",
    "health/s_two_sample_acc",
    "health/s_eff_rank",
    "health/sat_prior",
    "health/sat_prior_high",
    "health/c_acc_gen",
    "health/rec_ratio",
)


def mean_se(values: list[float]) -> tuple[float, float, int]:
    """Mean, standard error (sample std / sqrt(n); nan for one value) and count."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan"), n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n), n


def fmt(values: list[float], digits: int = 3) -> str:
    if not values:
        return ""
    mean, se, n = mean_se(values)
    if n == 1:
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {se:.{digits}f} ({n} seeds)"


def last_health(run_dir: str) -> dict[str, float]:
    out: dict[str, float] = {}
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        for line in f:
            entry = json.loads(line)
            out.update({k: v for k, v in entry.items() if k.startswith(("health/", "grad/"))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the proof folder (runs/ and report/ inside)")
    a = ap.parse_args()
    with open(os.path.join(a.out, "report", "results.json")) as f:
        results = json.load(f)
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in results["runs"]:
        group = re.sub(r"_s\d+$", "", run["name"])
        g = groups[group]
        if run.get("accuracy") is not None:
            g["accuracy"].append(run["accuracy"])
        for key in ("fid", "inception_score"):
            if run.get(key):
                g[key].append(run[key]["mean"])
        cas = run.get("cas") or {}
        if cas.get("generated") is not None:
            g["cas"].append(cas["generated"])
            g["cas_real"].append(cas["real"])
        for target, by_rep in (run.get("probes") or {}).items():
            for rep, probe in by_rep.items():
                value = probe.get("balanced_accuracy", probe.get("accuracy"))
                if value is not None:
                    g[f"probe/{rep} -> {target}"].append(value)
        run_dir = os.path.join(a.out, "runs", run["name"])
        if os.path.isdir(run_dir):
            for key, value in last_health(run_dir).items():
                g[key].append(value)
    lines = [
        "| run | seeds | test accuracy | FID | IS | CAS: generated only / real only |",
        "|---|---:|---|---|---|---|",
    ]
    for name, g in groups.items():
        n = max((len(v) for v in g.values()), default=0)
        lines.append(
            f"| {name} | {n} | {fmt(g['accuracy'])} | {fmt(g['fid'], 1)} | {fmt(g['inception_score'])} "
            f"| {fmt(g['cas'])}{' / ' + fmt(g['cas_real']) if g['cas_real'] else ''} |"
        )
    lines += ["", "Health at the last step (GAAE runs):", "", "| run | " + " | ".join(HEALTH_KEYS) + " |"]
    lines.append("|---|" + "---|" * len(HEALTH_KEYS))
    for name, g in groups.items():
        if "health/s_std_mean" in g:
            lines.append(f"| {name} | " + " | ".join(fmt(g[k]) for k in HEALTH_KEYS) + " |")
    probes = sorted({k for g in groups.values() for k in g if k.startswith("probe/")})
    if probes:
        lines += [
            "",
            "Probes (balanced accuracy where reported):",
            "",
            "| run | probe | value |",
            "|---|---|---|",
        ]
        for name, g in groups.items():
            for key in probes:
                if g.get(key):
                    lines.append(f"| {name} | {key[6:]} | {fmt(g[key])} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(text)
    summary = {name: {k: mean_se(v) for k, v in g.items() if v} for name, g in groups.items()}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
