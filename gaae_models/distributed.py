"""Data-parallel training under ``torchrun``: process group set-up and gradient averaging.

GAN steps call each network several times and switch gradients on and off between the D and the
E/G/C step, which ``DistributedDataParallel``'s reducer does not follow; like StyleGAN2-ADA, the
trainer therefore averages gradients itself with one ``all_reduce`` per parameter group after each
backward pass. Every rank draws its own minibatch (the sampler's stream includes the rank), holds
identical weights, and applies identical optimiser steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "average_gradients", "barrier"]


@dataclass(frozen=True)
class DistInfo:
    """``rank``, ``world_size`` and ``local_rank`` of this process (0, 1, 0 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (no-op otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def average_gradients(parameters: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Replace each gradient by its mean over all ranks (one flat all_reduce)."""
    if not info.enabled:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if info.enabled:
        dist.barrier()
