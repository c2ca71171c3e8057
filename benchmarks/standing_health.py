"""Training health of finished GAAE runs before and after a standing refit of the average's E_s whitening.

For each run, the newest checkpoint is loaded into a trainer rebuilt from the run's ``config.json`` (its
own cache, seed and labelled subset), :meth:`GAAETrainer.health` is measured on the held batch as trained,
then again after :meth:`GAAETrainer.stand_whitening` refits the average's whitening to its codes of ``N``
training items outside the held batch (``train.whiten_standing_items``). Section 16 of
``benchmarks/README.md``::

    python benchmarks/standing_health.py RUN [RUN...] [--items 512]
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from gaae_models.checkpoint import load_checkpoint, resume_checkpoint
from gaae_models.config import ModelConfig
from gaae_models.train_config import TrainConfig
from gaae_models.training import prepare_data
from gaae_models.training.loop import build_trainer

KEYS = ("s_std_mean", "s_mean_abs", "s_two_sample_acc", "s_eff_rank", "sat_prior", "c_acc_gen")


def standing_health(run_dir: str, items: int) -> tuple[dict[str, float], dict[str, float]]:
    """``(as trained, after the refit)`` health of a run's newest checkpoint (keys ``health/*``)."""
    with open(os.path.join(run_dir, "config.json")) as f:
        record = json.load(f)
    model_config = ModelConfig.from_stored(record["model"])
    train = TrainConfig.from_stored(record["train"]).replace(whiten_standing_items=items)
    data = prepare_data(record["data"]["cache"], train)
    trainer = build_trainer(model_config, train, data, device=torch.device("cpu"))
    step = int(load_checkpoint(resume_checkpoint(run_dir), modules=trainer.modules())["step"])
    before = trainer.health(step)
    trainer.stand_whitening()
    return before, trainer.health(step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--items", type=int, default=512, help="training items of the refit [512]")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print("| run | | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---:|" * len(KEYS))
    for run_dir in args.runs:
        pair = standing_health(run_dir, args.items)
        for name, health in zip(("as trained", "standing"), pair, strict=True):
            values = " | ".join(f"{health['health/' + k]:.3f}" for k in KEYS)
            print(f"| {os.path.basename(os.path.normpath(run_dir))} | {name} | {values} |")


if __name__ == "__main__":
    main()
