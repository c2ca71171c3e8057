"""``torch.compile`` for the GAAE training step, with one spectral-norm power iteration per step.

Why the plain ``torch.compile`` of the networks fails
-----------------------------------------------------
Every spectral-norm layer (:func:`torch.nn.utils.parametrizations.spectral_norm`, built by
:func:`gaae_models.models.layers.sn_conv2d` / :func:`~gaae_models.models.layers.sn_linear`) updates its
power-iteration vectors ``_u`` and ``_v`` *in place* in every training-mode forward. Eager PyTorch clones
them before use, so that several forwards may precede one backward (``D(real)``, ``D(fake)``, then the
loss). A compiled graph (AOT autograd's functionalization) in effect drops those clones: it saves the
buffers themselves for the backward and writes the new vectors back into them at the end of each call.
D_x runs three times before the D step's backward, so the second call bumps the version of buffers that
the first one saved, and the backward fails with "one of the variables needed for gradient computation
has been modified by an inplace operation".

The fix here
------------
The power iteration leaves the compiled graphs:

* :func:`power_iterate` runs the iteration of every spectral-norm parametrization of a module,
  eagerly and under :func:`torch.no_grad`, outside any compiled graph;
* :func:`frozen_spectral_norm` makes the parametrizations' forward read-only (it reads ``_u``, ``_v``
  and computes ``sigma = u^T W v``, nothing else), in training mode too;
* :func:`per_step_spectral_norm` patches a :class:`~gaae_models.training.GAAETrainer` so that each
  ``train_step`` first calls :func:`power_iterate` on the five networks, then runs the original
  step with the spectral norms frozen;
* :func:`compile_gaae` does that and compiles the networks in place (:meth:`torch.nn.Module.compile`).

This changes the spectral norm from **one power iteration per training forward** (D_x runs 5 times
per step, so its vectors advance 5 iterations per step in eager training) to **one per step**, the
same for every forward of the step. The vectors start converged (15 iterations at initialisation)
and the weights move little per step, so the estimate of the largest singular value stays close;
but the eager and the per-step variants are not bit-identical, and a run should not switch between
them halfway if exact reproducibility matters.

Freezing: ``train_step`` calls ``model.train()`` first, which would undo an eval mode set on the
parametrizations, so :func:`frozen_spectral_norm` sets each parametrization's
``n_power_iterations`` to 0 for the duration instead (its training-mode forward then runs an empty
power loop). Batch norms keep updating their running statistics as usual.

What is compiled, what is not
-----------------------------
:func:`compile_targets`: ``decoder``, ``classifier``, ``d_x`` and ``d_latent`` whole, and the
encoder by parts (``trunk``, ``head_z``, ``head_s``), because the E/G/C step also calls
``encoder.encode_z``, which a compiled ``Encoder.forward`` would not cover. A
:class:`~gaae_models.models.layers.Whitening` (the end of ``head_s`` with ``s_norm="whiten"``, the default) is
left eager, and so is the forward of the module that holds it (a ``Sequential`` that calls it);
only its linear layer is compiled. In training mode it updates float64 running statistics in
place, takes ``int()`` / ``float()`` of buffers and calls :func:`torch.linalg.eigh` on an
``s_dim x s_dim`` matrix: compiled alone, it gave the same values but broke its graph at every
``float()`` and compiled 8 graphs in 3 calls (torch 2.13), for a negligible share of the step.
The tiny test configuration gives 15 graphs for the rest and no graph breaks.

Health steps (``step % health_every == 0`` and the last step) back-propagate the E/G/C objective once
per loss term with ``retain_graph=True``, which AOT autograd's donated buffers forbid; the patched
step therefore compiles without them (``torch._functorch.config.donated_buffer=False``, set for the
duration of each step only).

Compiling in place keeps every module object and every state-dict key (checkpoints load and save
as before); ``copy.deepcopy`` of a compiled module gives an uncompiled copy.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from gaae_models.models.layers import Whitening

if TYPE_CHECKING:
    from gaae_models.training import GAAETrainer

__all__ = [
    "spectral_norm_parametrizations",
    "power_iterate",
    "frozen_spectral_norm",
    "per_step_spectral_norm",
    "compile_targets",
    "compile_gaae",
]

#: The power-iteration count of each parametrization frozen by :func:`frozen_spectral_norm`.
_FROZEN: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()

#: Attribute set on a trainer whose ``train_step`` :func:`per_step_spectral_norm` has patched.
_PATCHED = "_per_step_spectral_norm"


def _is_spectral_norm(p: nn.Module) -> bool:
    # the parametrization class is private (torch.nn.utils.parametrizations._SpectralNorm)
    return type(p).__name__ == "_SpectralNorm"


def spectral_norm_parametrizations(module: nn.Module) -> list[tuple[nn.Module, str, int]]:
    """Every spectral-norm parametrization in ``module`` (itself included, each layer once).

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    list of (layer, tensor_name, index)
        The parametrized layer, the name of the parametrized tensor (``"weight"``) and the position
        of the spectral norm in ``layer.parametrizations[tensor_name]``. Only parametrizations of
        tensors with more than one dimension are listed (a vector's norm is exact, without ``u``
        and ``v``).
    """
    out = []
    for layer in module.modules():
        if not parametrize.is_parametrized(layer):
            continue
        for name, plist in layer.parametrizations.items():
            for index, p in enumerate(plist):
                if _is_spectral_norm(p) and hasattr(p, "_u"):
                    out.append((layer, name, index))
    return out


@torch.no_grad()
def power_iterate(module: nn.Module, n_iterations: int | None = None) -> int:
    """Advance the power iteration of every spectral-norm parametrization in ``module``, in place.

    Runs ``_power_method`` of each parametrization on its current (unnormalised) weight, updating
    its ``_u`` and ``_v`` buffers in place, eagerly and without gradient. Call it outside compiled
    code, before the forward passes that should see the new vectors.

    Parameters
    ----------
    module : torch.nn.Module
    n_iterations : int >= 1, optional
        Iterations per parametrization. Default: each parametrization's own ``n_power_iterations``
        (1 for every layer of :mod:`gaae_models.models.layers`), also while :func:`frozen_spectral_norm` has
        set it to 0.

    Returns
    -------
    int
        The number of parametrizations updated.
    """
    if n_iterations is not None and (isinstance(n_iterations, bool) or n_iterations < 1):
        raise ValueError(f"n_iterations={n_iterations!r} must be a positive integer")
    found = spectral_norm_parametrizations(module)
    for layer, name, index in found:
        plist = layer.parametrizations[name]
        weight = plist.original
        for p in list(plist)[:index]:  # parametrizations before the spectral norm, if any
            weight = p(weight)
        sn = plist[index]
        count = n_iterations if n_iterations is not None else _FROZEN.get(sn, sn.n_power_iterations)
        sn._power_method(sn._reshape_weight_to_matrix(weight), count)
    return len(found)


@contextlib.contextmanager
def frozen_spectral_norm(module: nn.Module) -> Iterator[nn.Module]:
    """Make the spectral-norm parametrizations in ``module`` read-only for the duration.

    Sets each parametrization's ``n_power_iterations`` to 0, so that its forward, in training mode
    as in eval mode, only reads ``_u`` and ``_v`` (``W / (u^T W v)``) and mutates nothing; the
    counts are restored on exit. Unlike putting the parametrizations in eval mode, this survives
    a ``module.train()`` inside the block (``GAAETrainer.train_step`` starts with one). Nested
    blocks are fine (the outermost restores); :func:`power_iterate` still uses the real counts.

    Parameters
    ----------
    module : torch.nn.Module

    Yields
    ------
    torch.nn.Module
        ``module``.
    """
    frozen_here = []
    for layer, name, index in spectral_norm_parametrizations(module):
        sn = layer.parametrizations[name][index]
        if sn not in _FROZEN:
            _FROZEN[sn] = sn.n_power_iterations
            sn.n_power_iterations = 0
            frozen_here.append(sn)
    try:
        yield module
    finally:
        for sn in frozen_here:
            sn.n_power_iterations = _FROZEN.pop(sn)


def per_step_spectral_norm(trainer: GAAETrainer) -> GAAETrainer:
    """Patch ``trainer.train_step``: one power iteration per step, then the step with frozen norms.

    The patched step is ``power_iterate(trainer.model)``, then the original ``train_step`` inside
    ``frozen_spectral_norm(trainer.model)``; every forward pass of the step then uses the same
    ``u`` and ``v`` and no forward mutates them, which is what lets :func:`torch.compile` trace the
    networks. Without compilation it is the "eager, per-step spectral norm" reference. Patching
    twice is a no-op. The EMA copies (of G, E and C; not trained) are left alone, eager.

    Graphs that :func:`torch.compile` builds during the step are built without AOT autograd's
    donated buffers (``torch._functorch.config.donated_buffer=False``, for the step only): on
    health steps the E/G/C objective is back-propagated once per loss term with
    ``retain_graph=True`` (:func:`gaae_models.health.gradient_shares`), which a backward with
    donated buffers refuses. Without them, a backward reuses less memory; it computes the same.

    Parameters
    ----------
    trainer : gaae_models.training.GAAETrainer

    Returns
    -------
    GAAETrainer
        ``trainer``, patched in place (an instance attribute ``train_step`` shadows the method).
    """
    if getattr(trainer, _PATCHED, False):
        return trainer
    original: Callable[[int], dict[str, float]] = trainer.train_step

    @functools.wraps(original)
    def train_step(step: int) -> dict[str, float]:
        power_iterate(trainer.model)
        with frozen_spectral_norm(trainer.model), torch._functorch.config.patch(donated_buffer=False):
            return original(step)

    trainer.train_step = train_step
    setattr(trainer, _PATCHED, True)
    return trainer


def _compile_units(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """``module`` if it holds no :class:`Whitening`, else its children's units (Whitening skipped)."""
    if isinstance(module, Whitening):
        return
    if not any(isinstance(m, Whitening) for m in module.modules()):
        yield prefix, module
        return
    for name, child in module.named_children():
        yield from _compile_units(child, f"{prefix}.{name}")


def compile_targets(model: nn.Module) -> dict[str, nn.Module]:
    """The submodules of a :class:`~gaae_models.training.GAAE` that :func:`compile_gaae` compiles.

    ``decoder``, ``classifier``, ``d_x`` and ``d_latent`` whole (unless they hold a
    :class:`~gaae_models.models.layers.Whitening`); the encoder by children (``trunk``, ``head_z``,
    ``head_s``), so that ``encode_z`` runs compiled too; any module that holds a ``Whitening`` is
    replaced by its children, recursively, and the ``Whitening`` itself stays eager.

    Parameters
    ----------
    model : gaae_models.training.GAAE

    Returns
    -------
    dict of str to torch.nn.Module
        Dotted name (relative to ``model``) -> module, e.g. ``{"encoder.trunk": ...,
        "encoder.head_s.0": ..., "decoder": ...}``.
    """
    out: dict[str, nn.Module] = {}
    for name, child in model.encoder.named_children():
        out.update(_compile_units(child, f"encoder.{name}"))
    for name in ("decoder", "classifier", "d_x", "d_latent"):
        out.update(_compile_units(getattr(model, name), name))
    return out


def compile_gaae(
    trainer: GAAETrainer,
    *,
    enabled: bool = True,
    backend: str | Callable[..., Any] = "inductor",
    mode: str | None = None,
    dynamic: bool | None = False,
    fullgraph: bool = False,
) -> GAAETrainer:
    """Make a GAAE trainer's ``train_step`` compiled: per-step spectral norm + compiled networks.

    Applies :func:`per_step_spectral_norm` (one power iteration per training step instead of one
    per training forward; see the module docstring) and compiles every module of
    :func:`compile_targets` in place with :meth:`torch.nn.Module.compile` (the module objects and
    state-dict keys stay the same, so checkpoints, ``modules()`` and ``optimizers()`` work
    unchanged). :class:`~gaae_models.models.layers.Whitening` stays eager. Compilation happens lazily, in the
    first step: each module compiles one graph per distinct (batch shape, grad mode,
    ``requires_grad`` of its parameters, train / eval mode) that it meets; the tiny test
    configuration compiles 15 graphs for its 7 modules, all in step 1. Eval-mode calls
    (``predict``, ``generate``, the health measurements) compile their own graphs the first time.

    Parameters
    ----------
    trainer : gaae_models.training.GAAETrainer
        Patched and compiled in place.
    enabled : bool
        ``False`` applies the per-step spectral norm only (the eager reference of the compiled step).
    backend, mode, fullgraph : optional
        Passed to :func:`torch.compile` (``"inductor"``, default mode, graph breaks allowed).
    dynamic : bool or None
        Passed to :func:`torch.compile`. Default ``False``: static shapes (a training run meets a
        few fixed batch sizes; each new one compiles once, up to ``torch._dynamo.config.recompile_limit``
        graphs per module, after which that module runs eagerly). ``None`` is torch's default
        (dynamic batch after the second size).

    Returns
    -------
    GAAETrainer
        ``trainer``.
    """
    per_step_spectral_norm(trainer)
    if enabled:
        for module in compile_targets(trainer.model).values():
            if module._compiled_call_impl is None:
                module.compile(backend=backend, mode=mode, dynamic=dynamic, fullgraph=fullgraph)
    return trainer
