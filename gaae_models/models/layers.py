"""Building blocks of the GAAE networks, following BigGAN-PyTorch (ajbrock/BigGAN-PyTorch @9845943).

Shapes use ``B`` for the batch, ``C`` for channels, ``F`` for frequency rows (the image height)
and ``T`` for time frames (the width); label vectors ``y`` are one-hot or soft, shape ``(B, K)``.

* :func:`sn_conv2d`, :func:`sn_linear`: layers with spectral norm (one power iteration per training
  forward) through :func:`torch.nn.utils.parametrizations.spectral_norm`, or plain ones.
* :class:`ConditionalBatchNorm2d` (``x_hat * (1 + gain(y)) + bias(y)``) and :class:`BatchNorm2d`,
  which share the ``forward(x, y)`` signature so that blocks switch between them.
* :class:`UpBlock` (BigGAN GBlock), :class:`DownBlock` (BigGAN DBlock), :class:`SelfAttention`
  (BigGAN's non-local block, computed with ``scaled_dot_product_attention``).
* :class:`Whitening`: ZCA whitening of latent codes with running statistics (E_s's head).
* :func:`init_weights` (orthogonal init) and :func:`global_sum_pool`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = [
    "SN_EPS",
    "sn_conv2d",
    "sn_linear",
    "is_spectral_normed",
    "ConditionalBatchNorm2d",
    "BatchNorm2d",
    "UpBlock",
    "DownBlock",
    "SelfAttention",
    "Whitening",
    "RunningStandardize",
    "init_weights",
    "global_sum_pool",
    "scale_grad",
]

#: Default epsilon of the spectral-norm power iteration (BigGAN-PyTorch's ``SN_eps``).
SN_EPS: float = 1e-12


def _spectral_norm(module: nn.Module, eps: float) -> nn.Module:
    return spectral_norm(module, n_power_iterations=1, eps=eps)


def sn_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    padding: int = 0,
    bias: bool = True,
    sn: bool = True,
    sn_eps: float = SN_EPS,
) -> nn.Conv2d:
    """A ``Conv2d`` (stride 1), spectrally normalised unless ``sn=False``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input ``(B, in_channels, F, T)`` and the output ``(B, out_channels, F', T')``.
    kernel_size : int
        Square kernel size (1 or 3 in these networks).
    padding : int
        Zero padding on each side; ``kernel_size // 2`` keeps ``(F, T)``.
    bias : bool
        Whether the convolution has a bias.
    sn : bool
        Wrap the weight in a spectral-norm parametrization (1 power iteration per training forward).
    sn_eps : float
        Epsilon of the power iteration's normalisations.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
    return _spectral_norm(conv, sn_eps) if sn else conv


def sn_linear(
    in_features: int, out_features: int, *, bias: bool = True, sn: bool = True, sn_eps: float = SN_EPS
) -> nn.Linear:
    """A ``Linear`` mapping ``(B, in_features)`` to ``(B, out_features)``, spectrally normalised unless
    ``sn=False`` (see :func:`sn_conv2d`)."""
    linear = nn.Linear(in_features, out_features, bias=bias)
    return _spectral_norm(linear, sn_eps) if sn else linear


def is_spectral_normed(module: nn.Module) -> bool:
    """Whether ``module.weight`` is computed by a spectral-norm parametrization."""
    if not parametrize.is_parametrized(module, "weight"):
        return False
    return any(type(p).__name__ == "_SpectralNorm" for p in module.parametrizations["weight"])


class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional batch norm (BigGAN ``ccbn``): ``x_hat * (1 + gain(y)) + bias(y)``.

    ``x_hat`` is ``x`` batch-normalised without an affine transform (running statistics in eval
    mode); ``gain`` and ``bias`` are ``Linear(K, C, bias=False)`` layers (so a one-hot ``y``
    selects a column, like an embedding). They are plain linears by default, as BigGAN-PyTorch
    keeps its class embedding ("seems to randomly cripple G" with spectral norm); ``sn=True``
    spectrally normalises them (the project's format-1 networks, which capped the class
    modulation).

    Parameters
    ----------
    num_features : int
        Channels ``C``.
    n_classes : int
        Size ``K`` of the label vectors.
    eps, momentum : float
        Batch-norm epsilon and running-statistics momentum.
    sn : bool
        Spectrally normalise ``gain`` and ``bias``. Default False.
    sn_eps : float
        Epsilon of the spectral norm of ``gain`` and ``bias``.

    Shapes
    ------
    x : (B, C, F, T); y : (B, K), one-hot or soft, float -> (B, C, F, T)
    """

    def __init__(
        self,
        num_features: int,
        n_classes: int,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        sn: bool = False,
        sn_eps: float = SN_EPS,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.n_classes = n_classes
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = sn_linear(n_classes, num_features, bias=False, sn=sn, sn_eps=sn_eps)
        self.bias = sn_linear(n_classes, num_features, bias=False, sn=sn, sn_eps=sn_eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("ConditionalBatchNorm2d needs the labels y of shape (B, n_classes)")
        gain = (1.0 + self.gain(y)).view(y.shape[0], -1, 1, 1)
        bias = self.bias(y).view(y.shape[0], -1, 1, 1)
        return self.bn(x) * gain + bias

    def extra_repr(self) -> str:
        return f"{self.num_features}, n_classes={self.n_classes}"


class BatchNorm2d(nn.BatchNorm2d):
    """A plain (affine) ``BatchNorm2d`` whose ``forward(x, y=None)`` ignores ``y``.

    It stands in for :class:`ConditionalBatchNorm2d` in unconditional networks (the unsupervised
    BigGAN baseline, the decoder's output norm). Shapes: ``(B, C, F, T) -> (B, C, F, T)``.
    """

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


def _norm(
    num_features: int,
    n_classes: int | None,
    *,
    eps: float,
    momentum: float,
    cbn_sn: bool,
    sn_eps: float,
) -> nn.Module:
    if n_classes is None:
        return BatchNorm2d(num_features, eps=eps, momentum=momentum)
    return ConditionalBatchNorm2d(
        num_features, n_classes, eps=eps, momentum=momentum, sn=cbn_sn, sn_eps=sn_eps
    )


class UpBlock(nn.Module):
    """Residual up block (BigGAN GBlock; the paper's Tables X / XIV), doubling ``F`` and ``T``.

    ``h = conv2(relu(bn2(conv1(up(relu(bn1(x, y)))), y)))``, ``out = h + conv_sc(up(x))``, with
    nearest-neighbour x2 upsampling, spectrally normalised 3x3 convs and a 1x1 shortcut conv
    (always present, since the block upsamples).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and the output.
    n_classes : int or None
        Conditional batch norms on ``y`` of size ``K = n_classes``; ``None`` gives plain batch norms
        that ignore ``y``.
    cbn_sn : bool
        Spectral norm on the conditional batch norms' class embeddings. Default False.
    bn_eps, bn_momentum : float
        Batch-norm epsilon and momentum.
    sn_eps : float
        Spectral-norm epsilon.

    Shapes
    ------
    x : (B, in_channels, F, T); y : (B, K) or None -> (B, out_channels, 2F, 2T)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_classes: int | None = None,
        cbn_sn: bool = False,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        sn_eps: float = SN_EPS,
    ) -> None:
        super().__init__()
        norm = dict(eps=bn_eps, momentum=bn_momentum, cbn_sn=cbn_sn, sn_eps=sn_eps)
        self.bn1 = _norm(in_channels, n_classes, **norm)
        self.conv1 = sn_conv2d(in_channels, out_channels, 3, padding=1, sn_eps=sn_eps)
        self.bn2 = _norm(out_channels, n_classes, **norm)
        self.conv2 = sn_conv2d(out_channels, out_channels, 3, padding=1, sn_eps=sn_eps)
        self.conv_sc = sn_conv2d(in_channels, out_channels, 1, sn_eps=sn_eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.bn1(x, y))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h, y)))
        return h + self.conv_sc(x)


class DownBlock(nn.Module):
    """Residual down block (BigGAN DBlock; the paper's Tables XI / XV).

    ``h = pool(conv2(relu(conv1(relu(x)))))`` with 3x3 convs and 2x2 average pooling; the first
    block of a network (``preactivation=False``) skips the leading ReLU, because its input is the
    raw spectrogram. The shortcut is a 1x1 conv (when the channels change or the block downsamples)
    followed by pooling, except without pre-activation, where it pools first and then convolves
    (BigGAN's order, which is cheaper at full resolution).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and the output (the hidden width is ``out_channels``).
    downsample : bool
        Average-pool by 2 at the end (and in the shortcut).
    preactivation : bool
        Apply ReLU to the input first; False for the first block of a network.
    sn : bool
        Spectral norm on the convs.
    sn_eps : float
        Spectral-norm epsilon.

    Shapes
    ------
    x : (B, in_channels, F, T) -> (B, out_channels, F/2, T/2), or (B, out_channels, F, T)
    without ``downsample``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        downsample: bool = True,
        preactivation: bool = True,
        sn: bool = True,
        sn_eps: float = SN_EPS,
    ) -> None:
        super().__init__()
        self.downsample = downsample
        self.preactivation = preactivation
        self.conv1 = sn_conv2d(in_channels, out_channels, 3, padding=1, sn=sn, sn_eps=sn_eps)
        self.conv2 = sn_conv2d(out_channels, out_channels, 3, padding=1, sn=sn, sn_eps=sn_eps)
        self.learnable_sc = in_channels != out_channels or downsample
        self.conv_sc = (
            sn_conv2d(in_channels, out_channels, 1, sn=sn, sn_eps=sn_eps) if self.learnable_sc else None
        )

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.preactivation:
            if self.conv_sc is not None:
                x = self.conv_sc(x)
            return self._pool(x)
        x = self._pool(x)
        return self.conv_sc(x) if self.conv_sc is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        return self._pool(h) + self._shortcut(x)


def _as_head(h: torch.Tensor, width: int) -> torch.Tensor:
    """``(B, C, F, T) -> (B, 1, F*T, width)``, zero-padded along the channels, in a fresh tensor with
    unit channel stride (the fused attention kernels check strides, also of size-1 dimensions)."""
    b, c, f, t = h.shape
    out = h.new_zeros(b, 1, f * t, width)
    out[:, 0, :, :c] = h.flatten(2).transpose(1, 2)
    return out


class SelfAttention(nn.Module):
    """BigGAN's non-local block (``layers.Attention``), the paper's "Non-local block".

    ``theta``, ``phi`` (1x1 convs ``C -> max(C // 8, 1)``) and ``g`` (``C -> max(C // 2, 1)``), all
    without bias; ``phi`` and ``g`` are max-pooled 2x2, so every one of the ``F*T`` positions
    attends to ``F*T/4`` keys with ``softmax(theta^T phi)`` (no ``1/sqrt(d)`` scaling, as in
    BigGAN); ``o`` is a 1x1 conv back to ``C`` and the output is ``x + gamma * o`` with a learnable
    scalar ``gamma`` initialised to 0, so the block starts as the identity.

    The attention runs through :func:`torch.nn.functional.scaled_dot_product_attention` with
    ``scale=1.0``, so fused kernels keep memory linear in ``F*T`` (the decoder's block at
    128 x 64 has 8192 queries and 2048 keys per sample). To make those kernels eligible, the
    query/key channels are zero-padded to the value width (which leaves ``theta^T phi``
    unchanged), and on CUDA all three to a multiple of 8.

    Parameters
    ----------
    channels : int
        Channels ``C`` of the input.
    sn : bool
        Spectral norm on the four 1x1 convs.
    sn_eps : float
        Spectral-norm epsilon.

    Shapes
    ------
    x : (B, C, F, T), F and T even -> (B, C, F, T)
    """

    def __init__(self, channels: int, *, sn: bool = True, sn_eps: float = SN_EPS) -> None:
        super().__init__()
        self.channels = channels
        self.qk_channels = max(channels // 8, 1)
        self.v_channels = max(channels // 2, 1)
        self.theta = sn_conv2d(channels, self.qk_channels, 1, bias=False, sn=sn, sn_eps=sn_eps)
        self.phi = sn_conv2d(channels, self.qk_channels, 1, bias=False, sn=sn, sn_eps=sn_eps)
        self.g = sn_conv2d(channels, self.v_channels, 1, bias=False, sn=sn, sn_eps=sn_eps)
        self.o = sn_conv2d(self.v_channels, channels, 1, bias=False, sn=sn, sn_eps=sn_eps)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, f, t = x.shape
        width = self.v_channels
        if x.device.type == "cuda":
            width = -(-width // 8) * 8
        # one attention head: queries (B, 1, F*T, width), keys and values (B, 1, F*T/4, width)
        q = _as_head(self.theta(x), width)
        k = _as_head(F.max_pool2d(self.phi(x), 2), width)
        v = _as_head(F.max_pool2d(self.g(x), 2), width)
        attn = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        attn = attn[:, 0, :, : self.v_channels].transpose(1, 2).reshape(b, self.v_channels, f, t)
        return x + self.gamma * self.o(attn)

    def extra_repr(self) -> str:
        return f"{self.channels}"


class Whitening(nn.Module):
    """ZCA whitening of codes with running statistics: ``(x - mean) @ W``, ``W = C^(-1/2)``.

    A scale- and correlation-free output for a latent head: whatever the encoder's features look
    like (sum-pooled ReLU features, like the spectrograms themselves, vary mostly along one or two
    directions), the code has about zero mean and identity covariance over the recent data, the
    first two moments of N(0, I), and D_latent is left to match the rest. Batch norm cannot do
    this: it standardises each dimension but leaves them correlated (measured: an effective rank of
    about 2 in 128 dimensions, and a two-sample test that tells E_s(x) from N(0, I) every time),
    and a minibatch of 8 cannot estimate a 128 x 128 covariance. So the statistics are running
    estimates, updated by every training batch (cumulative average of the batch means and
    unbiased covariances for the first ``1 / momentum`` batches, exponential after: about
    ``2 / momentum`` batches behind the estimate), and ``W`` is recomputed from them after each
    update; no gradient flows into the statistics. Eval mode applies the last ``W`` without
    updating. Statistics refitted to an encoder that changes between fits were measured to fail
    (the whitened code drifts back to rank 1-2 within a few steps); tracking every batch follows it.

    Parameters
    ----------
    num_features : int
        Code size D.
    momentum : float in (0, 1]
        Weight of a new batch once the cumulative average has reached it. Default 0.04.
    eps : float > 0
        Eigenvalues are floored at ``eps`` times their median, which caps how much a direction of
        tiny variance is amplified (at most ``eps ** -0.5`` times the typical direction). The
        median, not the mean: one dominant direction (overall loudness) can hold almost all the
        variance, and a floor relative to the mean would leave every other direction unwhitened
        (measured on a trained encoder: median / mean eigenvalue 1e-4, smallest / mean 1e-13).
        Default 1e-2. While the statistics have seen fewer items than dimensions (the first 16
        batches of 8 for 128 dimensions) the estimate is rank-deficient, its median eigenvalue is
        numerically zero and the directions no batch has shown yet are amplified enormously. That
        is deliberate, measured: it pushes the encoder's first updates into the directions its
        features lack (at initialisation they vary along one), and on instruments and speech the
        code reached a two-sample accuracy of ~0.6 and an effective rank of ~57 of 128 by step 50
        (seed 0), where scaling those first batches isotropically left it at 1.0 and 3-11. The
        price: G's batch-norm running statistics see huge s in those first steps and need ~20-30
        steps (momentum 0.1) to recover, so a G trained for only a few steps ignores s in eval
        mode. A second price, found in the tenth session: the gradients of those first steps reach
        a global norm of ~1e14 (E, G and C) against 1e2-1e3 from step ~12 on, and Adam's second
        moment (beta2 0.999) keeps them for thousands of steps, so that E's trunk moved by 0.1-0.3 %
        of its weights in a 300-step run (``cpu`` preset, instruments). ``train.grad_clip`` and
        ``train.grad_clip_d`` bound what the moment stores.

    Shapes
    ------
    x : (B, D), B >= 2 in training -> (B, D)
    """

    def __init__(self, num_features: int, *, momentum: float = 0.04, eps: float = 1e-2) -> None:
        super().__init__()
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer("running_cov", torch.eye(num_features, dtype=torch.float64))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))
        self.register_buffer("items_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("whitening", torch.eye(num_features))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Add a batch ``x`` (B, D), B >= 2, to the running statistics and recompute ``W``."""
        if x.ndim != 2 or x.shape[1] != self.num_features or x.shape[0] < 2:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (B, {self.num_features}) with at least 2 items "
                "per training batch"
            )
        xd = x.detach().double()
        if not bool(torch.isfinite(xd).all()):
            # a non-finite code (an overflow upstream) would poison the running statistics for good:
            # leave them, and W, as they are; the loss of this step is non-finite and says so.
            return
        mean = xd.mean(dim=0)
        centred = xd - mean
        cov = centred.T @ centred / (xd.shape[0] - 1)
        self.num_batches_tracked += 1
        weight = max(1.0 / float(self.num_batches_tracked), self.momentum)
        self.running_mean.lerp_(mean, weight)
        self.running_cov.lerp_(cov, weight)
        self.items_seen += xd.shape[0]
        self._set_map()

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Set the statistics to the mean and unbiased covariance of a whole sample ``x`` (N, D),
        N >= 2, and recompute ``W`` (standing statistics for a network that no longer changes).

        The running estimate lags an encoder that moves: about ``2 / momentum`` steps behind, which
        for a trunk that learns is a mean offset of 0.5-1.3 (whitened units) per dimension at the end
        of a run and a two-sample test near 1.0, where refitting on 512 training codes gives ~0.6.
        Later :meth:`update` calls continue from these statistics with weight ``momentum``.
        """
        if x.ndim != 2 or x.shape[1] != self.num_features or x.shape[0] < 2:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (N, {self.num_features}) with N >= 2")
        xd = x.detach().double()
        if not bool(torch.isfinite(xd).all()):
            return  # as update(): a non-finite code leaves the statistics as they are
        self.running_mean.copy_(xd.mean(dim=0))
        self.running_cov.copy_(torch.cov(xd.T))
        # past the cumulative phase: the next update() weighs its batch by `momentum`
        self.num_batches_tracked.clamp_(min=math.ceil(1.0 / self.momentum))
        self.items_seen.clamp_(min=xd.shape[0])
        self._set_map()

    def _set_map(self) -> None:
        """``mean`` and ``W = V diag(max(lambda, floor))^(-1/2) V^T`` from the running statistics."""
        # LAPACK on the CPU: CUDA's eigensolver fails to converge ("ill-conditioned") on the
        # rank-deficient estimates of the first batches (seen on an H200, paper preset, batch 64);
        # a D x D float64 matrix (D <= 512) takes milliseconds on the CPU.
        device = self.running_cov.device
        eigenvalues, vectors = torch.linalg.eigh(self.running_cov.cpu())
        eigenvalues, vectors = eigenvalues.to(device), vectors.to(device)
        floor = self.eps * float(eigenvalues.clamp_min(0).median()) + 1e-30
        inv_sqrt = (vectors * eigenvalues.clamp_min(floor).rsqrt()) @ vectors.T
        self.mean.copy_(self.running_mean.float())
        self.whitening.copy_(inv_sqrt.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.update(x)
        return ((x.float() - self.mean) @ self.whitening).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class RunningStandardize(nn.Module):
    """Per-dimension standardisation by running statistics only: ``(x - mean) / sqrt(var + eps)``.

    Unlike a batch norm it never uses the statistics of the batch it is given, in training or in
    eval mode, and its statistics change only through :meth:`update`: its owner decides which
    data define them (the GAAE's classifier updates them with the real unlabelled codes of each
    step, not with the few labelled items or the generated samples it is also trained on). So
    the map a network is trained through is the map it is evaluated through. No gradient flows
    into the statistics.

    Parameters
    ----------
    num_features : int
        Feature size D.
    momentum : float in (0, 1]
        ``stat = (1 - momentum) * stat + momentum * batch_stat`` per :meth:`update`. Default 0.1.
    eps : float > 0
        Added to the variance. Default 1e-5.

    Shapes
    ------
    x : (B, D) -> (B, D)
    """

    def __init__(self, num_features: int, *, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Move the statistics towards the mean and unbiased variance of a batch ``x`` (B, D), B >= 2.

        A batch with a non-finite value leaves them as they are (its step's loss says so).
        """
        if x.ndim != 2 or x.shape[1] != self.num_features or x.shape[0] < 2:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (B, {self.num_features}) with at least 2 items"
            )
        xf = x.detach().float()
        if not bool(torch.isfinite(xf).all()):
            return
        self.running_mean.mul_(1.0 - self.momentum).add_(xf.mean(0), alpha=self.momentum)
        self.running_var.mul_(1.0 - self.momentum).add_(xf.var(0), alpha=self.momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


@torch.no_grad()
def _refresh_spectral_norm(module: nn.Module, n_iterations: int = 15) -> None:
    """Re-estimate the power-iteration vectors ``u``, ``v`` after the weight was re-initialised,
    as the parametrization itself does on creation (15 iterations)."""
    original = module.parametrizations["weight"].original
    for p in module.parametrizations["weight"]:
        if type(p).__name__ == "_SpectralNorm" and hasattr(p, "_u"):
            p._power_method(p._reshape_weight_to_matrix(original), n_iterations)


@torch.no_grad()
def init_weights(module: nn.Module) -> nn.Module:
    """Initialise a network the BigGAN way, in place, and return it.

    Every ``Conv2d``, ``Linear`` and ``Embedding`` weight (the parametrization's ``original`` when
    spectrally normalised) gets :func:`torch.nn.init.orthogonal_` and every bias becomes zero;
    the spectral-norm vectors are then re-estimated for the new weights. Batch norms and the
    attention ``gamma`` keep their own initialisation (1 / 0 and 0).
    """
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            continue
        if parametrize.is_parametrized(m, "weight"):
            nn.init.orthogonal_(m.parametrizations["weight"].original)
            _refresh_spectral_norm(m)
        else:
            nn.init.orthogonal_(m.weight)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    return module


def global_sum_pool(h: torch.Tensor) -> torch.Tensor:
    """``ReLU`` then sum over frequency and time (BigGAN's D pooling): ``(B, C, F, T) -> (B, C)``."""
    return torch.sum(F.relu(h), dim=(2, 3))


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient flowing back through it by ``factor``.

    ``factor=1`` returns ``x`` itself; ``0`` is ``x.detach()``. Written as
    ``x * factor + x.detach() * (1 - factor)`` (no custom autograd function), so that
    ``torch.compile`` traces it.
    """
    if factor == 1.0:
        return x
    return x * factor + x.detach() * (1.0 - factor)
