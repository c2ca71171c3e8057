"""Training health of finished GAAE runs before and after a standing refit of the average's E_s whitening.

For each run, the newest checkpoint is loaded into a trainer rebuilt from the run's ``config.json`` (its
own cache, seed and labelled subset), :meth:`GAAETrainer.health` is measured on the held batch as trained,
then again after :meth:`GAAETrainer.stand_whitening` refits the average's whitening to its codes of ``N``
training items outside the held batch (``train.whiten_standing_items``). Section 16 of
``benchmarks/README.md``.

With ``--test-cache``, it also reads the test accuracy of the average and of the live networks before
and after their batch-norm statistics (C's ``c_norm``; E has none) are recomputed as cumulative
averages over the same items' codes (SWA's ``update_bn``; section 17)::

    python benchmarks/standing_health.py RUN [RUN...] [--items 512] [--test-cache TEST.zarr]
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
from gaae_models.training.loop import build_trainer, cache_accuracy

KEYS = ("s_std_mean", "s_mean_abs", "s_two_sample_acc", "s_eff_rank", "sat_prior", "c_acc_gen")


def _trainer(run_dir: str, items: int):
    """The run's trainer with its newest checkpoint loaded, and the checkpoint's step."""
    with open(os.path.join(run_dir, "config.json")) as f:
        record = json.load(f)
    model_config = ModelConfig.from_stored(record["model"])
    train = TrainConfig.from_stored(record["train"]).replace(whiten_standing_items=items)
    data = prepare_data(record["data"]["cache"], train)
    trainer = build_trainer(model_config, train, data, device=torch.device("cpu"))
    step = int(load_checkpoint(resume_checkpoint(run_dir), modules=trainer.modules())["step"])
    return trainer, step


def standing_health(trainer, step: int) -> tuple[dict[str, float], dict[str, float]]:
    """``(as trained, after the refit)`` health of a loaded run (keys ``health/*``)."""
    before = trainer.health(step)
    trainer.stand_whitening()
    return before, trainer.health(step)


@torch.no_grad()
def standing_c_norm(trainer, test_cache: str) -> dict[str, tuple[float, float]]:
    """``{"average"|"live": (test accuracy as trained, after recomputing the batch norms)}`` of a loaded
    run (C reads z, which E_s's whitening does not touch, so it may run after :func:`standing_health`).

    Not ``torch.optim.swa_utils.update_bn``: it puts the whole network in training mode, where the
    spectral norms of E's trunk would run their power iteration and change the weights used."""
    x, cpu, out = trainer.standing_batch(), torch.device("cpu"), {}
    for name, predict, (encoder, classifier) in (
        ("average", trainer.predict, (trainer.ema_encoder, trainer.ema_classifier)),
        ("live", trainer.predict_live, (trainer.model.encoder, trainer.model.classifier)),
    ):
        before = cache_accuracy(predict, test_cache, device=cpu, batch_size=64)
        norms = [
            m
            for m in (*encoder.modules(), *classifier.modules())
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        ]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the chunks
            m.train()
        for i in range(0, len(x), 64):
            classifier(encoder.encode_z(x[i : i + 64]))
        encoder.eval()
        classifier.eval()
        out[name] = (before, cache_accuracy(predict, test_cache, device=cpu, batch_size=64))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--items", type=int, default=512, help="training items of the refit [512]")
    parser.add_argument("--test-cache", help="also the accuracy before / after recomputing C's batch norm")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print("| run | | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---:|" * len(KEYS))
    accuracy = {}
    for run_dir in args.runs:
        trainer, step = _trainer(run_dir, args.items)  # loaded once for both tables
        name = os.path.basename(os.path.normpath(run_dir))
        for tag, health in zip(("as trained", "standing"), standing_health(trainer, step), strict=True):
            values = " | ".join(f"{health['health/' + k]:.3f}" for k in KEYS)
            print(f"| {name} | {tag} | {values} |")
        if args.test_cache:
            accuracy[name] = standing_c_norm(trainer, args.test_cache)
    if accuracy:
        print("\n| run | average as trained | average, C's norm recomputed | live | live, recomputed |")
        print("|---|---:|---:|---:|---:|")
        for name, acc in accuracy.items():
            cells = " | ".join(f"{a:.3f}" for k in ("average", "live") for a in acc[k])
            print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
