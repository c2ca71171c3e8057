"""The inference form of a GAAE encoder: the same function as its forward, with fewer FLOPs.

:func:`build_inference_plan` copies an encoder's trunk and the requested heads into an
:class:`InferencePlan` (``(B, 1, F, T) -> {name: (B, dim)}``). With ``fused=True`` spectral norms
are folded into plain weights (:func:`bake`), each downsampling :class:`~gaae_models.models.layers.DownBlock`
with a 1x1 shortcut becomes a :class:`FusedDownBlock` (3x3 conv + 2x2 average pooling = one 4x4
stride-2 conv; the shortcut's pooling moved before its 1x1 conv) and the plan runs channels-last.
It equals the module's own forward up to float rounding (about 1e-6 relative); blocks that
:func:`is_fusable` refuses are kept as they are.
"""

from __future__ import annotations

import copy
import weakref
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from gaae_models.models.layers import DownBlock

if TYPE_CHECKING:
    from gaae_models.hub_mixin import EncoderHubMixin

__all__ = ["FusedDownBlock", "InferencePlan", "is_fusable", "bake", "build_inference_plan"]


class FusedDownBlock(nn.Module):
    """A :class:`~gaae_models.models.layers.DownBlock` (downsampling, 1x1 shortcut) computed with fewer FLOPs.

    ``avg_pool2x2(conv3x3(h))`` is one 4x4 stride-2 convolution whose kernel is the 3x3 kernel
    spread over the four pooling offsets and divided by 4; ``avg_pool2x2(conv1x1(x))`` is
    ``conv1x1(avg_pool2x2(x))``. Both identities are exact in real arithmetic.
    """

    def __init__(self, block: DownBlock) -> None:
        super().__init__()
        self.preactivation = block.preactivation
        self.conv1 = block.conv1
        conv2 = block.conv2
        out_ch, in_ch = conv2.weight.shape[:2]
        self.conv2 = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=conv2.bias is not None)
        with torch.no_grad():
            kernel = torch.zeros(out_ch, in_ch, 4, 4, dtype=conv2.weight.dtype)
            for a in (0, 1):
                for b in (0, 1):
                    kernel[:, :, a : a + 3, b : b + 3] += conv2.weight
            self.conv2.weight.copy_(kernel * 0.25)
            if conv2.bias is not None:
                self.conv2.bias.copy_(conv2.bias)
        self.conv_sc = block.conv_sc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h), inplace=True))
        return h.add_(self.conv_sc(F.avg_pool2d(x, 2)))


def is_fusable(block: nn.Module) -> bool:
    """Whether ``block`` is a downsampling DownBlock with 3x3 convs and a 1x1 shortcut."""
    return (
        isinstance(block, DownBlock)
        and block.downsample
        and block.conv_sc is not None
        and tuple(block.conv2.kernel_size) == (3, 3)
        and tuple(block.conv2.padding) == (1, 1)
        and tuple(block.conv2.stride) == (1, 1)
        and tuple(block.conv_sc.kernel_size) == (1, 1)
    )


def _plain_layer(layer: nn.Conv2d | nn.Linear) -> nn.Module:
    """A plain Conv2d / Linear holding the current value of a parametrized layer's weight."""
    weight = layer.weight  # the parametrization's value (no power iteration in eval mode)
    if isinstance(layer, nn.Conv2d):
        plain: nn.Module = nn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
            bias=layer.bias is not None,
            padding_mode=layer.padding_mode,
        )
    else:
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    plain = plain.to(device=weight.device, dtype=weight.dtype)
    plain.weight.copy_(weight)
    if layer.bias is not None:
        plain.bias.copy_(layer.bias)
    return plain


def _replace_parametrized(parent: nn.Module) -> None:
    for name, child in list(parent.named_children()):
        if parametrize.is_parametrized(child) and isinstance(child, (nn.Conv2d, nn.Linear)):
            setattr(parent, name, _plain_layer(child))
        else:
            _replace_parametrized(child)


@torch.no_grad()
def bake(module: nn.Module) -> nn.Module:
    """A copy in eval mode whose spectrally normalised layers are plain layers holding W / sigma.

    (``parametrize.remove_parametrizations`` is not used: it edits the parametrized class, which a
    deep copy shares with the original module.)
    """
    module = copy.deepcopy(module).eval()
    if parametrize.is_parametrized(module) and isinstance(module, (nn.Conv2d, nn.Linear)):
        return _plain_layer(module)
    _replace_parametrized(module)
    return module


class InferencePlan(nn.Module):
    """Trunk + selected heads: ``(B, 1, F, T) -> {name: (B, dim)}``."""

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


#: model -> (key, plan) of its most recent inference plan; the key holds every tensor's version
#: counter, so an in-place change of any weight or buffer (an optimiser step, ``load_state_dict``)
#: makes the next call build a new plan.
_PLANS: weakref.WeakKeyDictionary[Any, tuple[tuple, InferencePlan]] = weakref.WeakKeyDictionary()


def _plan_key(model: nn.Module, which: tuple[str, ...], device: torch.device, fused: bool) -> tuple:
    tensors = [*model.parameters(), *model.buffers()]
    return (which, str(device), fused, tuple((id(t), t._version) for t in tensors))


def build_inference_plan(
    model: EncoderHubMixin, which: tuple[str, ...], device: torch.device, fused: bool
) -> InferencePlan:
    """An eval-mode copy of ``model``'s trunk and the heads in ``which`` on ``device`` (fused if asked).

    Building the fused form (folding spectral norm and pooling into the convolutions) costs about
    as much as encoding a few clips, so the last plan of each model is kept and returned again
    while none of the model's tensors has changed (their version counters say so): repeated
    ``encode_batch`` / ``embed`` calls on a fixed model build it once.
    """
    key = _plan_key(model, tuple(which), device, fused)  # type: ignore[arg-type]
    cached = _PLANS.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    plan = _build_plan(model, which, device, fused)
    _PLANS[model] = (key, plan)
    return plan


def _build_plan(
    model: EncoderHubMixin, which: tuple[str, ...], device: torch.device, fused: bool
) -> InferencePlan:
    heads = model.latent_heads()
    if not fused:
        plan = InferencePlan(copy.deepcopy(model.trunk), {k: copy.deepcopy(heads[k]) for k in which})
        return plan.eval().to(device)
    trunk = bake(model.trunk)
    blocks = getattr(trunk, "blocks", None)
    if isinstance(blocks, nn.ModuleList):
        for i, block in enumerate(blocks):
            if is_fusable(block):
                blocks[i] = FusedDownBlock(block)
    plan = InferencePlan(trunk, {k: bake(heads[k]) for k in which}).eval()
    return plan.to(device=device, memory_format=torch.channels_last)
