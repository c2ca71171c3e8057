"""Where does the encoder keep speaker gender? Linear probes on each trunk block's output, pooled two ways.

For a trained GAAE run, every block's output (after ReLU) is pooled either over frequency *and*
time (the paper's global sum pool) or over time only (frequency rows kept, channel-major), and the
project's :func:`gaae_models.probes.linear_probe` is fitted on the training cache's ``gender``
attribute and scored (balanced accuracy) on a test cache, e.g. the gender-balanced set of
``balanced_gender_split.py``. Section 11 of ``benchmarks/README.md``::

    python benchmarks/probe_pooling.py RUN TRAIN.zarr TEST.zarr [--attribute gender]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import read_all

from audiospec.cache import open_cache
from gaae_models.probes import linear_probe
from gaae_models.runs import load_run


@torch.no_grad()
def block_features(trunk: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """``{"block k sum" | "block k time": (N, features)}`` for blocks 3-6 of ``trunk``."""
    per_block: list[list[torch.Tensor]] = [[] for _ in trunk.blocks]
    for i in range(0, len(x), 64):
        h = torch.from_numpy(np.asarray(x[i : i + 64], dtype=np.float32))
        h = h[:, None] if h.ndim == 3 else h
        for k, block in enumerate(trunk.blocks):
            h = block(h)
            if k == 0 and trunk.attention is not None:
                h = trunk.attention(h)
            per_block[k].append(h)
    out = {}
    for k in range(2, len(per_block)):
        m = torch.cat(per_block[k]).relu()
        out[f"block {k + 1} summed"] = m.sum((2, 3)).numpy()
        out[f"block {k + 1} time-averaged"] = m.mean(3).flatten(1).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("train_cache")
    parser.add_argument("test_cache")
    parser.add_argument("--attribute", default="gender")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = open_cache(args.train_cache), open_cache(args.test_cache)
    y_train, y_test = train.attribute(args.attribute)[0], test.attribute(args.attribute)[0]
    trunk = load_run(args.run).modules["encoder"].trunk.eval()
    f_train, f_test = block_features(trunk, read_all(train)), block_features(trunk, read_all(test))
    print(f"| {args.attribute} from | balanced accuracy |\n|---|---:|")
    for name in f_train:
        score = linear_probe(f_train[name], y_train, f_test[name], y_test)["balanced_accuracy"]
        print(f"| {name} | {score:.3f} |")


if __name__ == "__main__":
    main()
