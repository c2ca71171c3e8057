"""Is the few-label classifier limited by its features or by its labels? Readouts of a GAAE run's encoder.

For a trained GAAE run, the average encoder's guided latent z, its pooled trunk features h (what both
heads read) and h plus the spread over time of block ``k``'s map (``--std-block``, what
``model.freq_pool_std`` adds) are read out on the test cache by:

- a linear probe (:func:`gaae_models.probes.linear_probe`) fitted to the run's own labelled items
  (``labelled_indices`` of its ``config.json``: what C had), and one fitted to every training label;
- two transductive readouts of the same labelled items that also see the unlabelled training items:
  label spreading on a k-nearest-neighbour graph and self-training logistic regression
  (scikit-learn), on the first 16 principal components.

Features that read well with every label but not with the run's few labels, whatever the readout,
point at the labels, not the encoder. Section 18 of ``benchmarks/README.md``::

    python benchmarks/probe_readout.py TRAIN.zarr TEST.zarr RUN [RUN...] [--std-block 3]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
from _common import read_all
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from audiospec.cache import open_cache
from gaae_models.probes import linear_probe
from gaae_models.runs import load_run


@torch.no_grad()
def readout_features(encoder: torch.nn.Module, x: np.ndarray, std_block: int) -> dict[str, np.ndarray]:
    """``{"z": (N, z_dim), "h": (N, pooled), "h + std": (N, pooled + width * F / 2**k)}`` in eval mode."""
    out: dict[str, list[torch.Tensor]] = {"z": [], "h": [], "std": []}
    maps: list[torch.Tensor] = []  # block k's output, caught on the one pass through the trunk
    hook = encoder.trunk.blocks[std_block - 1].register_forward_hook(lambda m, i, o: maps.append(o))
    try:
        for i in range(0, len(x), 64):
            xb = torch.from_numpy(np.asarray(x[i : i + 64], dtype=np.float32))[:, None]
            h = encoder.trunk(xb)
            out["h"].append(h)
            out["z"].append(encoder.head_z(h))
            out["std"].append(maps.pop().relu().std(dim=3, correction=0).flatten(1))
    finally:
        hook.remove()
    f = {k: torch.cat(v).numpy() for k, v in out.items()}
    return {"z": f["z"], "h": f["h"], "h + std": np.concatenate([f["h"], f["std"]], axis=1)}


def transductive(train_x: np.ndarray, y_partial: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict:
    """Test accuracy of label spreading (k = 7) and self-training (threshold 0.9) on 16 principal
    components of the standardised features; ``y_partial`` is -1 where a training item is unlabelled."""
    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    pca = PCA(16, random_state=0).fit(a)
    a, b = pca.transform(a), pca.transform(b)
    spread = LabelSpreading(kernel="knn", n_neighbors=7, alpha=0.2, max_iter=200).fit(a, y_partial)
    self_training = SelfTrainingClassifier(LogisticRegression(C=0.1, max_iter=2000), threshold=0.9)
    self_training.fit(a, y_partial)
    return {
        "label spreading": float(np.mean(spread.predict(b) == test_y)),
        "self-training": float(np.mean(self_training.predict(b) == test_y)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("train_cache")
    parser.add_argument("test_cache")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--std-block", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    train, test = open_cache(args.train_cache), open_cache(args.test_cache)
    y_train, y_test = train.labels, test.labels
    x_train, x_test = read_all(train), read_all(test)
    columns = ["run", "features", "dim", "probe, run's labels", "probe, every label"]
    columns += ["label spreading", "self-training"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for run in args.runs:
        with open(os.path.join(run, "config.json")) as f:
            labelled = np.asarray(json.load(f)["labelled_indices"])
        encoder = load_run(run).modules["encoder"].eval()
        f_train = readout_features(encoder, x_train, args.std_block)
        f_test = readout_features(encoder, x_test, args.std_block)
        y_partial = np.full(len(y_train), -1)
        y_partial[labelled] = y_train[labelled]
        for name, a in f_train.items():
            few = linear_probe(a[labelled], y_train[labelled], f_test[name], y_test)["accuracy"]
            every = linear_probe(a, y_train, f_test[name], y_test)["accuracy"]
            t = transductive(a, y_partial, f_test[name], y_test)
            print(
                f"| {os.path.basename(run.rstrip('/'))} | {name} | {a.shape[1]} | {few:.3f} | {every:.3f} | "
                f"{t['label spreading']:.3f} | {t['self-training']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
