"""Crash-safe checkpoints: weights and optimiser state as safetensors, the rest as JSON.

A checkpoint is a folder ``RUN/checkpoints/step-000500/`` with

* ``model.safetensors``: every module's state dict, keys prefixed by the module name
  (``encoder.trunk...``, ``decoder...``, ``ema_decoder...``);
* ``optim.safetensors`` + ``optim.json``: each optimiser's tensors and its scalar state and
  hyper-parameters (no pickles anywhere);
* ``meta.json``: format version, step, the run's resolved config and library versions.

It is written to a temporary folder and renamed into place, then ``RUN/checkpoints/latest`` (a text
file, also replaced atomically) names it; a crash at any point leaves the previous checkpoint intact.
Random draws are functions of (seed, step) (see :func:`gaae_models.data.step_generator`), so no RNG
state needs saving for an exact resume.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from audiospec._atomic import atomic_write_text
from gaae_models.errors import CheckpointError

__all__ = ["CHECKPOINT_FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "latest_checkpoint"]

CHECKPOINT_FORMAT_VERSION = 1


def _optimizer_to_flat(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_flat(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, _, field = key[len(prefix) :].partition(".")
            state.setdefault(int(pid), {})[field] = value
    for pid, fields in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(fields)
    # JSON turned tuples (Adam's betas) into lists; the optimiser expects what it saved
    groups = [
        {k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in group.items()}
        for group in meta["param_groups"]
    ]
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    run_dir: str,
    step: int,
    *,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
) -> str:
    """Write a checkpoint for ``step`` atomically and point ``latest`` at it; returns its folder."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step:07d}")
    tmp = os.path.join(root, f".tmp-step-{step:07d}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    weights = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            weights[f"{name}.{key}"] = value.detach().cpu().contiguous()
    save_file(weights, os.path.join(tmp, "model.safetensors"))
    opt_tensors, opt_meta = {}, {}
    for name, opt in optimizers.items():
        tensors, info = _optimizer_to_flat(name, opt)
        opt_tensors.update(tensors)
        opt_meta[name] = info
    save_file(opt_tensors or {"_empty": torch.zeros(1)}, os.path.join(tmp, "optim.safetensors"))
    with open(os.path.join(tmp, "optim.json"), "w") as f:
        json.dump(opt_meta, f)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"format_version": CHECKPOINT_FORMAT_VERSION, "step": step, **meta}, f, indent=2)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(os.path.join(root, "latest"), os.path.basename(final))
    return final


def latest_checkpoint(run_dir: str) -> str | None:
    """The folder named by ``RUN/checkpoints/latest``, or None when the run has no checkpoint."""
    pointer = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.exists(pointer):
        return None
    with open(pointer) as f:
        name = f.read().strip()
    path = os.path.join(run_dir, "checkpoints", name)
    if not os.path.isdir(path):
        raise CheckpointError(f"{pointer} names {name!r}, which does not exist")
    return path


def load_checkpoint(
    path: str,
    *,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load weights (and optimiser state) from a checkpoint folder; returns its ``meta.json``."""
    meta_path = os.path.join(path, "meta.json")
    if not os.path.isfile(meta_path):
        raise CheckpointError(f"{path} is not a checkpoint (no meta.json)")
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format_version={meta.get('format_version')!r}; "
            f"this gaae_models reads version {CHECKPOINT_FORMAT_VERSION}"
        )
    weights = load_file(os.path.join(path, "model.safetensors"), device=str(map_location))
    for name, module in modules.items():
        prefix = f"{name}."
        own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        if not own:
            raise CheckpointError(f"{path} holds no weights for {name!r}")
        try:
            module.load_state_dict(own, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: the weights of {name!r} do not fit the model: {exc}") from None
    if optimizers:
        tensors = load_file(os.path.join(path, "optim.safetensors"), device=str(map_location))
        with open(os.path.join(path, "optim.json")) as f:
            opt_meta = json.load(f)
        for name, opt in optimizers.items():
            if name not in opt_meta:
                raise CheckpointError(f"{path} holds no state for the optimiser {name!r}")
            _optimizer_from_flat(name, opt, tensors, opt_meta[name])
    return meta
