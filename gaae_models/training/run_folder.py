"""A training run's folder: its config record, JSONL log, plots and TensorBoard mirror.

A run folder holds ``config.json`` (written once, compared on ``--resume``), ``log.jsonl`` (one JSON
object per line and step), ``log.png`` and ``samples/``; :mod:`gaae_models.checkpoint` writes
``checkpoints/`` beside them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from audiospec.atomic import atomic_write_text
from gaae_models.config import ModelConfig
from gaae_models.distributed import DistInfo, barrier
from gaae_models.errors import CheckpointError, ConfigError
from gaae_models.runlog import plot_log
from gaae_models.train_config import TrainConfig

__all__ = ["RUN_FORMAT_VERSION", "RunFolder", "config_diff", "summary_writer"]

#: 2: configs record the departures from the paper (ModelConfig cbn_sn / s_norm, widths; TrainConfig
#: gen_latent ... dx_labelled_weight); format-1 runs load with their implicit values (from_stored).
#: 3: ModelConfig c_norm, TrainConfig lr_ez / ez_beta1 / s_trunk_grad / loader_workers.
#: 4: ModelConfig c_norm "running", TrainConfig ema_encoder_decay (checkpoints may keep ema_encoder /
#: ema_classifier); format-3 runs load with ema_encoder_decay 0 (from_stored).
#: 5: TrainConfig g4 / pseudo_threshold / pseudo_augment (L_cls,pseudo); format-4 runs load with g4 0.
#: 6: TrainConfig cnn_ema_decay (the CNN's checkpoints may keep ema_cnn); older runs load with 0.
#: 7: TrainConfig grad_clip / grad_clip_d / whiten_standing_items default to 1000 / 50 / 512 (stored
#: in format-6 configs written since they exist; older runs load with None / None / 0).
RUN_FORMAT_VERSION = 7


def summary_writer(log_dir: str) -> Any:
    """A TensorBoard ``SummaryWriter`` on ``log_dir`` (the optional tensorboard package).

    Raises
    ------
    ConfigError
        If tensorboard is not installed (the message says how to install it).
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            f"tensorboard={log_dir!r} needs the tensorboard package: pip install tensorboard "
            "(every run also writes RUN/log.png and RUN/log.jsonl)"
        ) from None
    return SummaryWriter(log_dir=log_dir)


def config_diff(old: dict, new: dict, prefix: str = "") -> str:
    """The differing entries of two nested dicts as ``"a.b: OLD -> NEW; ..."`` (sorted keys).

    Examples
    --------
    >>> config_diff({"model": {"ch": 2}, "seed": 0}, {"model": {"ch": 4}, "seed": 0})
    'model.ch: 2 -> 4'
    """
    parts = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = config_diff(a, b, f"{prefix}{key}.")
            if inner:
                parts.append(inner)
        elif a != b:
            parts.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return "; ".join(parts)


class RunFolder:
    """Run folder, config record, JSONL log and progress shared by all trainers.

    Creating one checks the folder: a new run needs an empty or missing folder; ``resume`` needs a
    run whose comparable config (model kind, model, training, data) equals ``record``'s. The main
    rank then writes ``config.json`` (atomically) if it is missing.

    Parameters
    ----------
    out_dir : str
        The run folder.
    record : dict
        The run's ``config.json``; needs the keys ``model_kind``, ``model``, ``train_compare`` and
        ``data_compare``.
    resume : bool
        Continue the run in ``out_dir``.
    dist_info : DistInfo
        Only the main rank writes.
    tensorboard : str, optional
        A folder that also receives every logged number (needs the tensorboard package).

    Raises
    ------
    CheckpointError
        If ``out_dir`` holds a run and ``resume`` is false, holds no run (or other files) and
        ``resume`` is true, or holds a run with another config.
    """

    def __init__(
        self,
        out_dir: str,
        record: dict[str, Any],
        *,
        resume: bool,
        dist_info: DistInfo,
        tensorboard: str | None = None,
    ) -> None:
        self.dir = os.path.abspath(out_dir)
        self.dist = dist_info
        self._tb = summary_writer(tensorboard) if tensorboard and dist_info.is_main else None
        config_path = os.path.join(self.dir, "config.json")
        comparable = {k: record[k] for k in ("model_kind", "model", "train_compare", "data_compare")}
        if os.path.exists(config_path):
            with open(config_path) as f:
                previous = json.load(f)
            if not resume:
                raise CheckpointError(
                    f"{self.dir} already holds a run; pass --resume to continue it or choose a new --out"
                )
            old = {k: previous.get(k) for k in comparable}
            if previous.get("format_version", 1) < RUN_FORMAT_VERSION:  # fields added since: implied values
                old["model"] = ModelConfig.from_stored(old["model"] or {}).to_dict()
                old["train_compare"] = TrainConfig.from_stored(previous.get("train") or {}).compare_dict()
            if old != comparable:
                diff = config_diff(old, comparable)
                hint = "; ".join(
                    f"--set train.{k}={json.dumps(v)}"
                    for k, v in (old["train_compare"] or {}).items()
                    if comparable["train_compare"].get(k) != v
                )
                raise CheckpointError(
                    f"cannot resume {self.dir}: the config differs from the run's: {diff}"
                    + (f" (to continue it as it was trained, pass {hint})" if hint else "")
                )
        elif resume:
            raise CheckpointError(f"cannot resume: {self.dir} holds no run (no config.json)")
        elif os.path.isdir(self.dir) and os.listdir(self.dir):
            raise CheckpointError(f"{self.dir} exists and is not empty; choose a new --out")
        barrier(dist_info)  # every rank has checked the folder before any rank writes to it
        if dist_info.is_main:
            os.makedirs(os.path.join(self.dir, "samples"), exist_ok=True)
            if not os.path.exists(config_path):
                atomic_write_text(config_path, json.dumps(record, indent=2))
        barrier(dist_info)
        self.log_path = os.path.join(self.dir, "log.jsonl")

    def log(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` (with its ``step``) to ``log.jsonl`` and TensorBoard (main rank only)."""
        if self.dist.is_main:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if self._tb is not None:
                for key, value in entry.items():
                    if key != "step" and isinstance(value, (int, float)):
                        self._tb.add_scalar(key, value, global_step=entry["step"])

    def plot(self) -> None:
        """Draw the log so far as ``RUN/log.png`` (and flush TensorBoard)."""
        if self.dist.is_main:
            plot_log(self.dir)
            if self._tb is not None:
                self._tb.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self._tb is not None:
            self._tb.close()

    def truncate_log(self, step: int) -> None:
        """Drop log lines after ``step`` (written before a crash, after the last checkpoint)."""
        if not self.dist.is_main or not os.path.exists(self.log_path):
            return
        with open(self.log_path) as f:
            lines = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write_text(self.log_path, "".join(lines))
