"""Does training put an attribute into the latents? Linear probes on h, s and z at every checkpoint of a run.

For each GAAE run and each of its step checkpoints (``RUN/checkpoints/step-*``), the encoder's pooled
trunk features h (what both heads read), the style latent s and the guided latent z of the training
cache and of a test cache are probed for an attribute training never used (default ``gender``) with
the project's :func:`gaae_models.probes.linear_probe` (balanced accuracy on the test cache, e.g. the
gender-balanced set of ``balanced_gender_split.py``). Two references with no learning in them come
first: the spectral profile (the time-averaged spectrogram) and, with ``--init-seeds K``, the same
encoder architecture untrained (K random initialisations; BatchNorm at its initial statistics). A
learned h that reads no better than an untrained one has learned nothing about the attribute.
Section 12 of ``benchmarks/README.md``::

    python benchmarks/probe_latents.py TRAIN.zarr TEST.zarr RUN [RUN...] [--attribute gender] [--init-seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
from _common import read_all

from audiospec.cache import open_cache
from gaae_models.models.encoders import Encoder
from gaae_models.probes import linear_probe, spectral_profile
from gaae_models.runs import load_run


@torch.no_grad()
def latent_features(encoder: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """``{"h": (N, pooled), "s": (N, s_dim), "z": (N, z_dim)}`` of an :class:`Encoder` in eval mode."""
    out: dict[str, list[np.ndarray]] = {"h": [], "s": [], "z": []}
    for i in range(0, len(x), 128):
        xb = torch.from_numpy(np.asarray(x[i : i + 128], dtype=np.float32))
        h = encoder.trunk(xb[:, None] if xb.ndim == 3 else xb)
        out["h"].append(h.numpy())
        out["s"].append(encoder.head_s(h).numpy())
        out["z"].append(encoder.head_z(h).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _eval_at(run_dir: str, step: int) -> float:
    """The run's own test accuracy of C logged at ``step`` (NaN when none was)."""
    values = [float("nan")]
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        for line in f:
            entry = json.loads(line)
            if entry.get("step") == step and "eval/accuracy" in entry:
                values.append(entry["eval/accuracy"])
    return values[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("train_cache")
    parser.add_argument("test_cache")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--attribute", default="gender")
    parser.add_argument("--init-seeds", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = open_cache(args.train_cache), open_cache(args.test_cache)
    y_train, y_test = train.attribute(args.attribute)[0], test.attribute(args.attribute)[0]
    x_train, x_test = read_all(train), read_all(test)

    def probe(a: np.ndarray, b: np.ndarray) -> float:
        return linear_probe(a, y_train, b, y_test)["balanced_accuracy"]

    profile = probe(spectral_profile(x_train), spectral_profile(x_test))
    print(f"spectral profile -> {args.attribute}: {profile:.3f}\n")
    print("| run | step | C (test) | " + " | ".join(f"{k} -> {args.attribute}" for k in "hsz") + " |")
    print("|---|---:|---:|---:|---:|---:|")
    config = load_run(args.runs[0]).model_config
    for seed in range(args.init_seeds):
        torch.manual_seed(seed)
        encoder = Encoder(config).eval()
        a, b = latent_features(encoder, x_train), latent_features(encoder, x_test)
        cells = " | ".join(f"{probe(a[k], b[k]):.3f}" for k in ("h", "s", "z"))
        print(f"| untrained (init seed {seed}) | 0 | | {cells} |", flush=True)
    for run_dir in args.runs:
        names = sorted(n for n in os.listdir(os.path.join(run_dir, "checkpoints")) if n.startswith("step-"))
        for name in names:
            encoder = load_run(run_dir, checkpoint=name).modules["encoder"].eval()
            a, b = latent_features(encoder, x_train), latent_features(encoder, x_test)
            step = int(name.split("-")[1])
            cells = " | ".join(f"{probe(a[k], b[k]):.3f}" for k in ("h", "s", "z"))
            name = os.path.basename(os.path.normpath(run_dir))
            print(f"| {name} | {step} | {_eval_at(run_dir, step):.3f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
