"""The markdown of the reports: ``gaae evaluate``'s ``report.md`` and the numbers of the model cards.

:func:`fmt` writes a number, a ``{"mean", "std"}`` pair or a missing value the one way both use;
:func:`markdown_table` a GitHub table; :func:`evaluation_report` the whole ``report.md`` from the
content of ``results.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gaae_models.kinds import KINDS

__all__ = ["fmt", "markdown_table", "evaluation_report"]


def fmt(value: Any, digits: int = 3) -> str:
    """``value`` for a table: ``n/a`` if missing, ``mean ± std`` for a dict, a float to ``digits`` places."""
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        mean, std = value.get("mean"), value.get("std")
        if mean is None:
            return "n/a"
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def evaluation_report(results: dict[str, Any], out_dir: str) -> str:
    """The ``report.md`` of a ``gaae evaluate`` folder from its ``results.json`` content (markdown)."""
    runs = results["runs"]
    ref = results["reference"]
    settings = results["settings"]
    lines = [
        "# GAAE evaluation report",
        "",
        f"Test cache: `{results['test_cache']}` (labels: {', '.join(results['label_names']) or 'none'}). "
        f"Created {results['created']} in {results['seconds']:.0f} s. Every number is in `results.json`.",
        "",
        "## Runs",
        "",
        markdown_table(
            ["run", "model", "labels used", "step", "seed", "training time (s)"],
            [
                [
                    r["name"],
                    r["model_kind"],
                    _fraction_entry(r),
                    str(r["step"]),
                    str(r["seed"]),
                    fmt(r["train_seconds"], 0),
                ]
                for r in runs
            ],
        ),
        "",
        "## Classifier accuracy on the test split (paper tables VII-VIII)",
        "",
    ]
    classified = [r for r in runs if r["accuracy"] is not None]
    if classified:
        lines.append(
            markdown_table(
                ["run", "classifier", "labels used", "test accuracy"],
                [
                    [r["name"], _classifier_name(r["model_kind"]), _fraction_entry(r), fmt(r["accuracy"], 4)]
                    for r in classified
                ],
            )
        )
        fractions = sorted({r["labelled_fraction"] for r in classified if r["labelled_fraction"] is not None})
        kinds = sorted({r["model_kind"] for r in classified})
        if len(fractions) > 1:
            lines += [
                "",
                "Accuracy by labelled fraction (mean over runs of the same model and fraction):",
                "",
            ]
            rows = []
            for kind in kinds:
                row = [_classifier_name(kind)]
                for frac in fractions:
                    accs = [
                        r["accuracy"]
                        for r in classified
                        if r["model_kind"] == kind and r["labelled_fraction"] == frac
                    ]
                    row.append(fmt(float(np.mean(accs)), 4) if accs else "-")
                rows.append(row)
            lines.append(markdown_table(["model"] + [f"{100 * f:g} %" for f in fractions], rows))
    else:
        lines.append("No run has a classifier.")
    lines += ["", "## Generation quality: IS and FID with the metric model (paper tables II-III)", ""]
    if ref:
        lines += [
            f"Metric model: `{ref['metric_model']}` (test accuracy {ref['metric_model_test_accuracy']:.4f}). "
            f"IS of the real test split: {fmt(ref['real_test_inception_score'], 2)}; FID between "
            f"{ref['n_train_for_fid']} real training items and the test split: {ref['real_train_fid']:.3f} "
            "(the floor a perfect generator would reach at this sample size).",
            "",
        ]
        generated = [r for r in runs if r["inception_score"] is not None]
        if generated:
            lines.append(
                markdown_table(
                    [
                        "run",
                        "model",
                        "labels used",
                        "IS (higher is better)",
                        "FID (lower is better)",
                        "samples x seeds",
                    ],
                    [
                        [
                            r["name"],
                            r["model_kind"],
                            _fraction_entry(r),
                            fmt(r["inception_score"], 2),
                            fmt(r["fid"], 2),
                            f"{r['n_generated']} x {len(r['seeds'])}",
                        ]
                        for r in generated
                    ],
                )
            )
        else:
            lines.append("No run generates samples.")
    else:
        lines.append(
            "Skipped: no metric model. Train one with `gaae fit TRAIN --model cnn --out CNN_RUN` "
            "(every label) "
            "and pass `--metric-model CNN_RUN`."
        )
    lines += ["", "## Classification accuracy score: CNNs trained on generated data (paper tables IV-V)", ""]
    cas = [r for r in runs if r["cas"] is not None]
    if cas:
        lines.append(
            f"Each CNN trains for {settings['cas_steps']} steps "
            f"(batch {settings['cas_batch_size']}, SpecAugment) "
            "and is tested on the real test split.\n"
        )
        lines.append(
            markdown_table(
                ["generator", "real only", "generated only", "real + generated"],
                [
                    [
                        r["name"],
                        fmt(r["cas"]["real"], 4),
                        fmt(r["cas"]["generated"], 4),
                        fmt(r["cas"]["real_plus_generated"], 4),
                    ]
                    for r in cas
                ],
            )
        )
    else:
        lines.append("No label-conditional generator evaluated (or CAS disabled with --cas-steps 0).")
    lines += ["", "## Representations: linear probes and t-SNE (paper V-E)", ""]
    probed = [r for r in runs if r["probes"]]
    if probed:
        rows = []
        for r in probed:
            for target, per_repr in r["probes"].items():
                for key, res in per_repr.items():
                    rows.append(
                        [
                            r["name"],
                            key,
                            target,
                            fmt(res["accuracy"], 4),
                            fmt(res["balanced_accuracy"], 4),
                            fmt(res["majority_baseline"], 4),
                            f"{res['n_train']} / {res['n_test']} ({res['source']})",
                        ]
                    )
        lines.append(
            markdown_table(
                ["run", "representation", "target", "accuracy", "balanced acc.", "majority", "train / test"],
                rows,
            )
        )
        lines += [
            "",
            "z is the guided latent (E_z, read by C) and s the style latent (E_s); e is the BiGAN feature "
            "extractor's output; profile is the time-averaged spectrogram (F values), which nothing learned: "
            "the baseline a learned representation should beat. A target that training never used (an "
            "attribute, not the label) shows what the representation learned by itself.",
        ]
    else:
        lines.append("No run has an encoder.")
    for r in runs:
        for target, reason in r.get("probes_skipped", {}).items():
            lines.append(f"\nProbe of {target} on {r['name']}: {reason}.")
    lines += ["", "## Figures and audio", ""]
    for r in runs:
        if not r["figures"] and not r["audio"]:
            continue
        lines.append(f"### {r['name']}")
        lines.append("")
        for key, path in r["figures"].items():
            lines.append(f"![{r['name']} {key}]({path})")
            lines.append("")
        if r["audio"]:
            lines.append(
                "Audio: " + ", ".join(f"[{a['label']} {i}]({a['wav']})" for i, a in enumerate(r["audio"]))
            )
            lines.append("")
    return "\n".join(lines) + "\n"


def _fraction_entry(entry: dict) -> str:
    kind = KINDS.get(entry["model_kind"])
    if kind is not None and not kind.uses_labels:
        return "none"
    if entry["labelled_fraction"] is None:
        return f"{entry['n_labelled']} (labelled cache)"
    return f"{100 * entry['labelled_fraction']:g} % ({entry['n_labelled']})"


def _classifier_name(kind: str) -> str:
    entry = KINDS.get(kind)
    return entry.classifier_name or kind if entry is not None else kind
