"""The GAAE networks and the baselines' extra networks, built from a :class:`ModelConfig`.

Architecture of Haque, Rana & Schuller, "High-Fidelity Audio Generation and Representation Learning
with Guided Adversarial Autoencoder" (IEEE Access 2020), appendix A, with the BigGAN-PyTorch layer
conventions of :mod:`gaae_models.models.layers`. Spectrograms are ``(B, 1, F, T)`` = ``(B, 1, 256, 128)``
tensors in [-1, 1] (frequency = height, time = width); labels are one-hot or soft float vectors
``y`` of shape ``(B, K)``; z is the guided latent (head E_z, read by C) and s the style latent
(head E_s, decoded by G, matched to N(0, I) by D_latent).

* :class:`Trunk`: x -> h (B, 16ch), the body shared by E, D_x and the BiGAN networks (XIII, XX).
* :class:`~gaae_models.models.encoders.Encoder`: x -> (z, s) (Table XX); :class:`GuidedEncoder` (E_z,
  also the BiGAN feature extractor of Table XVIII) and :class:`StyleEncoder` (E_s) are its
  single-head parts. They are pretrained models too (Hub mixin), so they live in
  :mod:`gaae_models.models.encoders`.
* :class:`Decoder`: (s, y) -> x (Table XXI; XII and XVI for the BigGAN baselines).
* :class:`Classifier`: z -> K logits (Table XXII).
* :class:`SampleDiscriminator`: (x, y) -> score (B,) (Table XIII; XVII unconditional).
* :class:`LatentDiscriminator`: s -> score (B,) (Table XXIII).
* :class:`BiGANDiscriminator`: (x, e) -> score (B,) (Table XIX).
* :class:`SimpleCNN`: x -> K logits (Table XXIV).

Every constructor takes architecture hyperparameters only and initialises the layers it builds with
:func:`init_weights` (orthogonal weights, zero biases; the trunk initialises itself); optimisers
and losses live in the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gaae_models import models
from gaae_models.config import N_RESAMPLINGS, ModelConfig, check_model_config
from gaae_models.errors import ConfigError
from gaae_models.models.layers import (
    BatchNorm2d,
    DownBlock,
    RunningStandardize,
    SelfAttention,
    UpBlock,
    global_sum_pool,
    init_weights,
    sn_conv2d,
    sn_linear,
)

__all__ = [name for name in models.__all__ if name not in models._ENCODERS]

#: Width of the hidden dense layers of C, D_latent and the BiGAN joint head (Tables XIX, XXII, XXIII).
HIDDEN_FEATURES: int = 128

#: Added to the time variance before the square root of ``Trunk(freq_pool_std=True)``.
STD_EPS: float = 1e-8


def _check_shape(name: str, tensor: torch.Tensor, expected: Sequence[int | None]) -> None:
    """Raise ValueError unless ``tensor.shape`` matches ``expected`` (None = any size)."""
    shape = tuple(tensor.shape)
    if len(shape) != len(expected) or any(
        e is not None and s != e for s, e in zip(shape, expected, strict=True)
    ):
        want = "(" + ", ".join("B" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} has shape {shape}; expected {want}")


def _check_batch(x: torch.Tensor, other: torch.Tensor, names: str) -> None:
    if x.shape[0] != other.shape[0]:
        raise ValueError(f"{names} have different batch sizes {x.shape[0]} and {other.shape[0]}")


class Trunk(nn.Module):
    """The residual down-sampling body shared by E, D_x and the BiGAN networks.

    ``(B, 1, F, T)`` -> DownBlock(1 -> ch, no pre-activation) at F/2 x T/2 -> non-local block
    (if ``config.attention``) -> DownBlocks to ``ch``, ``2ch``, ``4ch``, ``8ch``, ``16ch`` -> ReLU ->
    global sum pool -> ``(B, 16ch)``. All six blocks downsample, reaching the 4 x 2 bottom from
    256 x 128 (the paper's tables omit the "D" of the second block, but 4 x 2 needs six).

    Parameters
    ----------
    config : ModelConfig
    sn : bool
        Spectral norm on every conv (always for discriminators; ``config.encoder_sn`` for E).
    channels : sequence of 6 ints, optional
        Output widths of the six blocks; default ``config.trunk_channels`` (the encoder's). The
        discriminators pass ``config.d_trunk_channels``.
    freq_pool_block : int, optional
        Concatenate block ``k``'s output after ReLU, averaged over time only and flattened
        (channel-major), to the global sum pool (``config.freq_pool_block`` for the encoders;
        the discriminators pool globally only).
    freq_pool_std : bool
        Also concatenate that map's standard deviation over time, ``sqrt(var + STD_EPS)``
        (population variance, channel-major; the epsilon keeps the gradient finite where a ReLU
        map is constant), after its time average (``config.freq_pool_std`` for the encoders).

    Attributes
    ----------
    out_features : int
        The width of the pooled features: the last width (``16 * config.ch`` by default), plus
        ``width_k * F / 2**k`` with ``freq_pool_block`` (twice that with ``freq_pool_std``).

    Shapes
    ------
    x : (B, 1, F, T) with (F, T) = config.input_shape -> (B, out_features)
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        sn: bool = True,
        channels: Sequence[int] | None = None,
        freq_pool_block: int | None = None,
        freq_pool_std: bool = False,
    ) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        widths = (1, *(config.trunk_channels if channels is None else channels))
        self.blocks = nn.ModuleList(
            DownBlock(widths[i], widths[i + 1], preactivation=i > 0, sn=sn, sn_eps=config.sn_eps)
            for i in range(N_RESAMPLINGS)
        )
        self.attention = SelfAttention(widths[1], sn=sn, sn_eps=config.sn_eps) if config.attention else None
        if freq_pool_block is not None and (
            not isinstance(freq_pool_block, int)
            or isinstance(freq_pool_block, bool)
            or not 1 <= freq_pool_block <= N_RESAMPLINGS
        ):
            raise ConfigError(
                f"freq_pool_block={freq_pool_block!r} must be None or an integer from 1 to {N_RESAMPLINGS}"
            )
        if freq_pool_std and freq_pool_block is None:
            raise ConfigError("freq_pool_std=True needs a freq_pool_block")
        self.freq_pool_block = freq_pool_block
        self.freq_pool_std = bool(freq_pool_std)
        extra = (
            0
            if freq_pool_block is None
            else (1 + self.freq_pool_std)
            * widths[freq_pool_block]
            * (config.input_shape[0] // 2**freq_pool_block)
        )
        self.out_features = widths[-1] + extra
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_shape("x", x, (None, 1, *self.config.input_shape))
        h = self.blocks[0](x)
        if self.attention is not None:
            h = self.attention(h)
        k = self.freq_pool_block
        profile = h if k == 1 else None
        for i, block in enumerate(self.blocks[1:], start=2):
            h = block(h)
            if i == k:
                profile = h
        pooled = global_sum_pool(h)
        if profile is None:
            return pooled
        profile = F.relu(profile)
        parts = [pooled, profile.mean(dim=3).flatten(1)]
        if self.freq_pool_std:
            parts.append((profile.var(dim=3, correction=0) + STD_EPS).sqrt().flatten(1))
        return torch.cat(parts, dim=1)


class Decoder(nn.Module):
    """The decoder / generator G(s, y) (Table XXI; Tables XII and XVI for the BigGAN baselines).

    SN Linear(s_dim -> w0 * F0 * T0), reshaped to ``(B, w0, F0, T0)`` with
    ``(F0, T0) = config.bottom_shape`` (4 x 2) -> five :class:`UpBlock` up to F/2 x T/2 ->
    non-local block (if ``config.attention``) -> a sixth UpBlock to F x T -> BatchNorm -> ReLU ->
    SN Conv3x3(w6 -> 1) -> tanh, with widths ``w0 ... w6 = config.decoder_channels`` (the paper:
    16ch six times, then ch). Class embeddings of the conditional batch norms are spectrally
    normalised only when ``config.cbn_sn``.

    Parameters
    ----------
    config : ModelConfig
    conditional : bool
        Condition every up block on ``y`` through :class:`ConditionalBatchNorm2d` (GAAE and the
        supervised BigGAN). ``False`` gives plain batch norms and ``y`` is ignored (the
        unsupervised BigGAN and BiGAN baselines).

    Shapes
    ------
    s : (B, s_dim); y : (B, K) float (ignored, may be None, when unconditional)
    -> (B, 1, F, T) in [-1, 1]
    """

    def __init__(self, config: ModelConfig, *, conditional: bool = True) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        self.conditional = conditional
        widths = config.decoder_channels
        f0, t0 = config.bottom_shape
        self.linear = sn_linear(config.s_dim, widths[0] * f0 * t0, sn_eps=config.sn_eps)
        block = dict(
            n_classes=config.n_classes if conditional else None,
            cbn_sn=config.cbn_sn,
            bn_eps=config.bn_eps,
            bn_momentum=config.bn_momentum,
            sn_eps=config.sn_eps,
        )
        self.blocks = nn.ModuleList(UpBlock(widths[i], widths[i + 1], **block) for i in range(N_RESAMPLINGS))
        self.attention = SelfAttention(widths[-2], sn_eps=config.sn_eps) if config.attention else None
        self.out_bn = BatchNorm2d(widths[-1], eps=config.bn_eps, momentum=config.bn_momentum)
        self.out_conv = sn_conv2d(widths[-1], 1, 3, padding=1, sn_eps=config.sn_eps)
        init_weights(self)

    def forward(self, s: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _check_shape("s", s, (None, self.config.s_dim))
        if self.conditional:
            if y is None:
                raise ValueError("this Decoder is conditional: pass labels y of shape (B, n_classes)")
            _check_shape("y", y, (None, self.config.n_classes))
            _check_batch(s, y, "s and y")
        else:
            y = None
        h = self.linear(s).view(s.shape[0], -1, *self.config.bottom_shape)
        for block in self.blocks[:-1]:
            h = block(h, y)
        if self.attention is not None:
            h = self.attention(h)
        h = self.blocks[-1](h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class Classifier(nn.Module):
    """The classifier C on the guided latent: Linear(z_dim, 128) -> ReLU -> Linear(128, K) (Table XXII).

    Plain (not spectrally normalised) layers. z is first standardised per dimension (the paper
    does not): with ``config.c_norm="batch"`` (the default) by a batch norm without affine
    parameters (statistics of each batch in training, running statistics in eval mode); with
    ``"running"`` by running statistics that only :meth:`update_statistics` moves
    (:class:`~gaae_models.models.layers.RunningStandardize`; the GAAE's trainer feeds it the real
    unlabelled codes of each step), so C is trained through the map it is evaluated through;
    ``"none"``: the paper's.

    Parameters
    ----------
    config : ModelConfig

    Shapes
    ------
    z : (B, z_dim) -> logits (B, K)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        self.norm: nn.Module = nn.Identity()
        if config.c_norm == "batch":
            self.norm = nn.BatchNorm1d(
                config.z_dim, affine=False, eps=config.bn_eps, momentum=config.bn_momentum
            )
        elif config.c_norm == "running":
            self.norm = RunningStandardize(config.z_dim, momentum=config.bn_momentum, eps=config.bn_eps)
        self.hidden = nn.Linear(config.z_dim, HIDDEN_FEATURES)
        self.out = nn.Linear(HIDDEN_FEATURES, config.n_classes)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_shape("z", z, (None, self.config.z_dim))
        return self.out(F.relu(self.hidden(self.norm(z))))

    def update_statistics(self, z: torch.Tensor) -> None:
        """Add codes ``z`` (B, z_dim) of real items to the running statistics of ``c_norm="running"``
        (a no-op for the other norms, whose statistics follow every training-mode call)."""
        if isinstance(self.norm, RunningStandardize):
            self.norm.update(z)


class SampleDiscriminator(nn.Module):
    """The sample discriminator D_x(x, y) with a projection head (Table XIII; XVII unconditional).

    ``h = Trunk(x)`` (spectrally normalised), then
    ``out = linear(h) + sum(embed(y) * h, dim=1)`` with ``linear`` = SN Linear(16ch, 1) and
    ``embed`` = SN Linear(K, 16ch, bias=False) (a class embedding for one-hot ``y``).

    Parameters
    ----------
    config : ModelConfig
    conditional : bool
        Add the projection term; ``False`` keeps only ``linear(h)`` and ignores ``y``.

    Shapes
    ------
    x : (B, 1, F, T); y : (B, K) float (ignored, may be None, when unconditional) -> (B,)
    """

    def __init__(self, config: ModelConfig, *, conditional: bool = True) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        self.conditional = conditional
        self.trunk = Trunk(config, sn=True, channels=config.d_trunk_channels)
        self.linear = sn_linear(self.trunk.out_features, 1, sn_eps=config.sn_eps)
        self.embed = (
            sn_linear(config.n_classes, self.trunk.out_features, bias=False, sn_eps=config.sn_eps)
            if conditional
            else None
        )
        init_weights(self.linear)
        if self.embed is not None:
            init_weights(self.embed)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("this SampleDiscriminator is conditional: pass y of shape (B, n_classes)")
            _check_shape("y", y, (None, self.config.n_classes))
            _check_batch(x, y, "x and y")
        h = self.trunk(x)
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + torch.sum(self.embed(y) * h, dim=1)
        return out


class LatentDiscriminator(nn.Module):
    """The latent discriminator D_latent(s) (Table XXIII), all layers spectrally normalised.

    Linear(s_dim, 128) -> ReLU -> Linear(128, 128) -> ReLU -> Linear(128, 1).

    Parameters
    ----------
    config : ModelConfig

    Shapes
    ------
    s : (B, s_dim) -> (B,)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        self.fc1 = sn_linear(config.s_dim, HIDDEN_FEATURES, sn_eps=config.sn_eps)
        self.fc2 = sn_linear(HIDDEN_FEATURES, HIDDEN_FEATURES, sn_eps=config.sn_eps)
        self.out = sn_linear(HIDDEN_FEATURES, 1, sn_eps=config.sn_eps)
        init_weights(self)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        _check_shape("s", s, (None, self.config.s_dim))
        h = F.relu(self.fc2(F.relu(self.fc1(s))))
        return self.out(h).squeeze(1)


class BiGANDiscriminator(nn.Module):
    """The BiGAN baseline's joint discriminator D(x, e) (Table XIX).

    ``h = Trunk(x)`` (spectrally normalised) is concatenated with the latent ``e`` -> SN
    Linear(16ch + z_dim, 128) -> ReLU -> SN Linear(128, 1). Real pairs are ``(x, E(x))`` with the
    feature extractor ``E`` = :class:`GuidedEncoder` (z_dim outputs); fake pairs ``(G(e), e)``
    need an unconditional :class:`Decoder` with ``s_dim == z_dim`` (both 128 in the paper).

    Parameters
    ----------
    config : ModelConfig

    Shapes
    ------
    x : (B, 1, F, T); e : (B, z_dim) -> (B,)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        self.trunk = Trunk(config, sn=True, channels=config.d_trunk_channels)
        self.joint = sn_linear(self.trunk.out_features + config.z_dim, HIDDEN_FEATURES, sn_eps=config.sn_eps)
        self.out = sn_linear(HIDDEN_FEATURES, 1, sn_eps=config.sn_eps)
        init_weights(self.joint)
        init_weights(self.out)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        _check_shape("e", e, (None, self.config.z_dim))
        _check_batch(x, e, "x and e")
        h = torch.cat([self.trunk(x), e], dim=1)
        return self.out(F.relu(self.joint(h))).squeeze(1)


class SimpleCNN(nn.Module):
    """The paper's simple classifier (appendix A-E, Table XXIV), used as a baseline and for IS/FID.

    Four stages of [Conv3x3 (padding 1, no bias) -> BatchNorm -> ReLU -> MaxPool 2x2] with
    ``channels`` = 32, 64, 128, 256, then global average pooling (the penultimate features),
    optional dropout, and Linear(256, K). Not spectrally normalised.

    Parameters
    ----------
    n_classes : int >= 2
        Number of outputs K.
    channels : sequence of int >= 1
        Widths of the conv stages. Default ``(32, 64, 128, 256)``.
    input_shape : tuple of two ints
        Spectrogram shape ``(F, T)``, each at least ``2 ** len(channels)``. Default ``(256, 128)``.
    dropout : float in [0, 1)
        Dropout probability before the last linear layer. Default 0.

    Raises
    ------
    ConfigError
        For an out-of-range argument.

    Shapes
    ------
    x : (B, 1, F, T) -> logits (B, K); :meth:`features` -> (B, channels[-1])
    """

    def __init__(
        self,
        n_classes: int,
        *,
        channels: Sequence[int] = (32, 64, 128, 256),
        input_shape: tuple[int, int] = (256, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ConfigError(f"n_classes={n_classes!r} must be an integer >= 2")
        channels = tuple(channels) if isinstance(channels, Sequence) else channels
        if (
            not isinstance(channels, tuple)
            or not channels
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)
        ):
            raise ConfigError(f"channels={channels!r} must be a non-empty sequence of positive integers")
        minimum = 2 ** len(channels)
        input_shape = tuple(input_shape) if isinstance(input_shape, Sequence) else input_shape
        if (
            not isinstance(input_shape, tuple)
            or len(input_shape) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= minimum for n in input_shape)
        ):
            raise ConfigError(
                f"input_shape={input_shape!r} must be a pair (F, T) of integers >= {minimum} "
                f"(2 ** len(channels) = 2 ** {len(channels)})"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout!r} must be a number in [0, 1)")
        self.n_classes = n_classes
        self.channels = channels
        self.input_shape = input_shape
        widths = (1, *channels)
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            for i in range(len(channels))
        )
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(channels[-1], n_classes)
        init_weights(self)

    @property
    def out_features(self) -> int:
        """Width of :meth:`features`, ``channels[-1]``."""
        return self.channels[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (global average pool of the last stage), ``(B, channels[-1])``."""
        _check_shape("x", x, (None, 1, *self.input_shape))
        h = x
        for stage in self.stages:
            h = stage(h)
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))
