"""Training the GAAE and its baselines from audiospec caches.

One concern per module:

* :mod:`~gaae_models.training.losses`: the losses as pure functions returning named losses, and the
  GAAE objective's weights as one dict keyed like the log (``loss/gen``, ``loss/rec``, ...);
* :mod:`~gaae_models.training.gaae`: the five GAAE networks and their trainer (D step, E/G/C step, EMA);
* :mod:`~gaae_models.training.baselines`: the simple CNN, the BigGANs and the BiGAN;
* :mod:`~gaae_models.training.loop`: :func:`fit`, the loop that drives any trainer and writes its run;
* :mod:`~gaae_models.training.run_folder`: the run folder (config record, JSONL log, plots);
* :mod:`~gaae_models.training.common`: the autocast context and the EMA every trainer shares.

Every random draw of step t comes from generators seeded by (seed, t, stream, rank), so runs are
deterministic on CPU and ``--resume`` continues exactly.

Examples
--------
>>> from gaae_models.training import fit  # doctest: +SKIP
>>> fit("train.zarr", "runs/gaae", model_config=model_config("small"), train=TrainConfig())  # doctest: +SKIP
"""

from gaae_models.batches import TrainingData, prepare_data, spec_augment
from gaae_models.training.baselines import BiGANTrainer, BigGANTrainer, CNNTrainer
from gaae_models.training.gaae import GAAE, GAAETrainer
from gaae_models.training.loop import build_trainer, fit
from gaae_models.training.losses import gaae_loss_weights, hinge_d, labelled_weight
from gaae_models.training.run_folder import RUN_FORMAT_VERSION

__all__ = [
    "GAAE",
    "TrainingData",
    "prepare_data",
    "GAAETrainer",
    "CNNTrainer",
    "BigGANTrainer",
    "BiGANTrainer",
    "build_trainer",
    "fit",
    "spec_augment",
    "hinge_d",
    "labelled_weight",
    "gaae_loss_weights",
    "RUN_FORMAT_VERSION",
]
