"""What every trainer shares: its autocast context and the EMA of a network."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gaae_models.train_config import TrainConfig

__all__ = ["autocast", "update_ema", "average_into", "polyak_decay", "clip_gradients"]


def autocast(train: TrainConfig, device: torch.device) -> torch.autocast:
    """The autocast context of a trainer: bf16 for ``amp="bf16"``, or ``"auto"`` on CUDA; else off.

    Parameters
    ----------
    train : TrainConfig
        Reads ``amp`` (``"auto"``, ``"bf16"`` or ``"off"``).
    device : torch.device
        The device the trainer computes on.

    Returns
    -------
    torch.autocast
        Reusable: a trainer enters the same context in every step.
    """
    use_bf16 = train.amp == "bf16" or (train.amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, source: torch.nn.Module, train: TrainConfig, step: int) -> None:
    """Move ``ema``'s weights towards ``source``'s after ``step``.

    A plain copy before ``train.ema_start``, then ``ema = decay * ema + (1 - decay) * source`` with
    ``decay = train.ema_decay``; integer buffers (batch-norm counters) are copied.

    Parameters
    ----------
    ema, source : torch.nn.Module
        Two networks of the same architecture (the EMA copy of G and G).
    train : TrainConfig
        Reads ``ema_start`` and ``ema_decay``.
    step : int
        The step just taken.
    """
    average_into(ema, source, train.ema_decay if step >= train.ema_start else 0.0)


@torch.no_grad()
def average_into(
    ema: torch.nn.Module, source: torch.nn.Module, decay: float, *, exclude: Sequence[str] = ()
) -> None:
    """``ema = decay * ema + (1 - decay) * source`` over every floating-point parameter and buffer;
    integer buffers (counters) are copied.

    Parameters
    ----------
    ema, source : torch.nn.Module
        Two networks of the same architecture.
    decay : float in [0, 1]
        0 copies ``source``.
    exclude : sequence of str
        Prefixes of state-dict names (``"head_s.1."``) left as they are in ``ema``: statistics the
        caller tracks on ``ema``'s own outputs.
    """
    values = source.state_dict()
    for name, target in ema.state_dict().items():
        if any(name.startswith(prefix) for prefix in exclude):
            continue
        if target.dtype.is_floating_point:
            target.mul_(decay).add_(values[name], alpha=1.0 - decay)
        else:
            target.copy_(values[name])


def clip_gradients(parameters: list[torch.nn.Parameter], max_norm: float | None) -> float:
    """The global L2 norm of the gradients of ``parameters``, clipped to ``max_norm`` in place.

    Parameters
    ----------
    parameters : list of torch.nn.Parameter
        One optimiser's parameters (those without a gradient are skipped).
    max_norm : float or None
        Scale the gradients down so that their global norm is at most this; None measures only.

    Returns
    -------
    float
        The norm before clipping (``inf`` or ``nan`` when a gradient is not finite).
    """
    grads = [p for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    limit = float("inf") if max_norm is None else float(max_norm)
    return float(torch.nn.utils.clip_grad_norm_(grads, limit))


def polyak_decay(decay: float, step: int) -> float:
    """The decay of the Polyak averages of E and C and of the CNN after ``step``:
    ``min(decay, (1 + step) / (10 + step))``, so that the first steps do not linger."""
    return min(decay, (1.0 + step) / (10.0 + step))
