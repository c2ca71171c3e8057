"""Crash-safe checkpoints: weights and optimiser state as safetensors, the rest as JSON.

A checkpoint is a folder ``RUN/checkpoints/step-000500/`` with

* ``model.safetensors``: every module's state dict, keys prefixed by the module name
  (``encoder.trunk...``, ``decoder...``, ``ema_decoder...``);
* ``optim.safetensors`` + ``optim.json``: each optimiser's tensors and its scalar state and
  hyper-parameters (no pickles anywhere);
* ``meta.json``: format version, step, the run's resolved config and library versions;
* ``checksums.json``: the SHA-256 of each file above, written last.

Every load verifies the checkpoint first (:func:`verify_checkpoint`): the checksums where the folder
has them, and for every folder the safetensors headers against the file sizes and the JSON files'
syntax, so a truncated, emptied or corrupted file is a :class:`~gaae_models.errors.CheckpointError`
naming the file, never a half-loaded model. :func:`resume_checkpoint` picks the newest intact
checkpoint of a run and warns about each newer one it skips.

It is written to a temporary folder and renamed into place, then ``RUN/checkpoints/latest`` (a text
file, also replaced atomically) names it; a crash at any point leaves the previous checkpoint intact.
Random draws are functions of (seed, step) (see :func:`gaae_models.data.step_generator`), so no RNG
state needs saving for an exact resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import warnings
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from audiospec.atomic import atomic_dir, atomic_write_text
from gaae_models.errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "CheckpointWarning",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "verify_checkpoint",
    "resume_checkpoint",
]

CHECKPOINT_FORMAT_VERSION = 1

#: The files of a checkpoint folder, in the order they are written; ``checksums.json`` comes last.
CHECKPOINT_FILES: tuple[str, ...] = ("model.safetensors", "optim.safetensors", "optim.json", "meta.json")
_CHECKSUMS = "checksums.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointWarning(UserWarning):
    """A damaged checkpoint (or ``latest`` pointer) was skipped for an older intact one."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_safetensors(path: str) -> None:
    """Raise CheckpointError unless ``path`` has a whole safetensors header and exactly its data."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is truncated ({size} bytes, no safetensors header)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise CheckpointError(f"{path} is truncated (header of {n} bytes, file of {size})")
        try:
            header = json.loads(f.read(n))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise CheckpointError(f"{path} has a corrupt safetensors header") from None
    expected = 8 + n + max(ends, default=0)
    if size != expected:
        raise CheckpointError(f"{path} holds {size} bytes but its header describes {expected}")


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON (truncated or corrupt: {exc})") from None


def verify_checkpoint(path: str) -> dict[str, Any]:
    """Check that a checkpoint folder is whole and uncorrupted; returns its ``meta.json``.

    Parameters
    ----------
    path : str
        A checkpoint folder (``RUN/checkpoints/step-NNNNNNN``).

    Returns
    -------
    dict
        The parsed ``meta.json``.

    Raises
    ------
    CheckpointError
        If a file is missing, truncated, not valid JSON or safetensors, of another format version,
        or (for checkpoints written with ``checksums.json``) differs from its recorded SHA-256. The
        message names the file.
    """
    if not os.path.isdir(path):
        raise CheckpointError(f"{path} is not a checkpoint folder")
    for name in CHECKPOINT_FILES:
        if not os.path.isfile(os.path.join(path, name)):
            raise CheckpointError(f"{path} is not a complete checkpoint (no {name})")
    sums_path = os.path.join(path, _CHECKSUMS)
    if os.path.exists(sums_path):  # checkpoints written before checksums existed have none
        sums = _read_json(sums_path)
        if not isinstance(sums, dict) or set(sums) != set(CHECKPOINT_FILES):
            raise CheckpointError(f"{sums_path} is corrupt: it must list {', '.join(CHECKPOINT_FILES)}")
        for name in CHECKPOINT_FILES:
            if _sha256(os.path.join(path, name)) != sums[name]:
                raise CheckpointError(
                    f"{os.path.join(path, name)} is corrupt: its SHA-256 differs from {_CHECKSUMS}"
                )
    for name in ("model.safetensors", "optim.safetensors"):
        _check_safetensors(os.path.join(path, name))
    if not isinstance(_read_json(os.path.join(path, "optim.json")), dict):
        raise CheckpointError(f"{os.path.join(path, 'optim.json')} is corrupt: not a JSON object")
    meta = _read_json(os.path.join(path, "meta.json"))
    if not isinstance(meta, dict):
        raise CheckpointError(f"{os.path.join(path, 'meta.json')} is corrupt: not a JSON object")
    if meta.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format_version={meta.get('format_version')!r}; "
            f"this gaae_models reads version {CHECKPOINT_FORMAT_VERSION}"
        )
    if not isinstance(meta.get("step"), int):
        raise CheckpointError(f"{os.path.join(path, 'meta.json')} is corrupt: no integer step")
    return meta


def resume_checkpoint(run_dir: str) -> str | None:
    """The newest intact checkpoint of a run, skipping damaged ones with a warning.

    Parameters
    ----------
    run_dir : str
        A run folder; its checkpoints are the ``checkpoints/step-*`` folders.

    Returns
    -------
    str or None
        The folder of the checkpoint with the highest step that passes :func:`verify_checkpoint`,
        or None when the run has no checkpoint at all (a fresh start).

    Raises
    ------
    CheckpointError
        When checkpoints exist but none is intact; the message lists each one and what is wrong.

    Warns
    -----
    CheckpointWarning
        For each newer checkpoint skipped (naming it and the reason), and for a damaged ``latest``
        pointer.
    """
    root = os.path.join(run_dir, "checkpoints")
    steps = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            match = _STEP_DIR.match(name)
            if match and os.path.isdir(os.path.join(root, name)):
                steps.append((int(match.group(1)), name))
    pointer = os.path.join(root, "latest")
    if os.path.lexists(pointer):
        try:
            with open(pointer, encoding="utf-8") as f:
                named = f.read().strip()
        except (OSError, UnicodeDecodeError):
            named = None
        if named not in {name for _, name in steps}:
            warnings.warn(
                f"{pointer} is damaged (it names {named!r}, which is not a checkpoint folder); "
                f"looking for the newest intact checkpoint instead",
                CheckpointWarning,
                stacklevel=2,
            )
    if not steps:
        if os.path.lexists(pointer):
            raise CheckpointError(f"{root} has a latest pointer but no checkpoint folder; start a new run")
        return None
    problems = []
    for _, name in sorted(steps, reverse=True):
        path = os.path.join(root, name)
        try:
            verify_checkpoint(path)
        except CheckpointError as exc:
            problems.append(f"{name}: {exc}")
            continue
        for problem in problems:
            warnings.warn(
                f"skipping damaged checkpoint {problem}; resuming from {name}",
                CheckpointWarning,
                stacklevel=2,
            )
        return path
    raise CheckpointError(
        f"no intact checkpoint in {root} ({'; '.join(problems)}); "
        "remove the run folder (or pass another --out) to start again"
    )


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
    weights = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            weights[f"{name}.{key}"] = value.detach().cpu().contiguous()
    opt_tensors, opt_meta = {}, {}
    for name, opt in optimizers.items():
        tensors, info = _optimizer_to_flat(name, opt)
        opt_tensors.update(tensors)
        opt_meta[name] = info
    with atomic_dir(final) as tmp:
        save_file(weights, os.path.join(tmp, "model.safetensors"))
        save_file(opt_tensors or {"_empty": torch.zeros(1)}, os.path.join(tmp, "optim.safetensors"))
        with open(os.path.join(tmp, "optim.json"), "w") as f:
            json.dump(opt_meta, f)
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({"format_version": CHECKPOINT_FORMAT_VERSION, "step": step, **meta}, f, indent=2)
        sums = {name: _sha256(os.path.join(tmp, name)) for name in CHECKPOINT_FILES}
        with open(os.path.join(tmp, _CHECKSUMS), "w") as f:
            json.dump(sums, f, indent=2)
    atomic_write_text(os.path.join(root, "latest"), os.path.basename(final))
    return final


def latest_checkpoint(run_dir: str) -> str | None:
    """The folder named by ``RUN/checkpoints/latest``, or None when the run has no checkpoint."""
    pointer = os.path.join(run_dir, "checkpoints", "latest")
    if not os.path.exists(pointer):
        return None
    try:
        with open(pointer, encoding="utf-8") as f:
            name = f.read().strip()
    except UnicodeDecodeError:
        raise CheckpointError(f"{pointer} is corrupt (not text)") from None
    path = os.path.join(run_dir, "checkpoints", name)
    if not name or not _STEP_DIR.match(name) or not os.path.isdir(path):
        raise CheckpointError(f"{pointer} names {name!r}, which does not exist")
    return path


def _load_tensors(path: str, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        return load_file(path, device=str(map_location))
    except Exception as exc:  # safetensors raises its own SafetensorError for damaged files
        if type(exc).__name__ != "SafetensorError":
            raise
        raise CheckpointError(f"{path} is corrupt: {exc}") from None


def load_checkpoint(
    path: str,
    *,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load weights (and optimiser state) from a checkpoint folder; returns its ``meta.json``.

    The folder is verified first (:func:`verify_checkpoint`), so a damaged checkpoint raises
    :class:`~gaae_models.errors.CheckpointError` before any module is touched.
    """
    if not os.path.isfile(os.path.join(path, "meta.json")):
        raise CheckpointError(f"{path} is not a checkpoint (no meta.json)")
    meta = verify_checkpoint(path)
    weights = _load_tensors(os.path.join(path, "model.safetensors"), map_location)
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
        tensors = _load_tensors(os.path.join(path, "optim.safetensors"), map_location)
        opt_meta = _read_json(os.path.join(path, "optim.json"))
        for name, opt in optimizers.items():
            if name not in opt_meta:
                raise CheckpointError(f"{path} holds no state for the optimiser {name!r}")
            _optimizer_from_flat(name, opt, tensors, opt_meta[name])
    return meta
