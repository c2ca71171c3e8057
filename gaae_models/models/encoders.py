"""The GAAE encoders as pretrained models: E (z and s), E_z (z) and E_s (s).

Each is a network (a :class:`~gaae_models.models.networks.Trunk` and dense heads, Table XX of the paper)
with the Hub mixin of :mod:`gaae_models.hub_mixin`: ``from_pretrained`` / ``save_pretrained`` keep
the architecture, the audiospec transform, the dataset statistics and the label names in
``config.json``, and ``embed`` turns raw audio into latents. :mod:`gaae_models.models.networks` (which
computes only) still gives them by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from audiospec.config import SpectrogramConfig
from audiospec.stats import DatasetStats
from gaae_models.config import ModelConfig, check_model_config
from gaae_models.hub_mixin import EncoderHubMixin
from gaae_models.models.layers import Whitening, init_weights, sn_linear
from gaae_models.models.networks import Trunk

__all__ = ["Encoder", "GuidedEncoder", "StyleEncoder", "S_NORM_EPS"]

#: Epsilon of E_s's standardising batch norm (``config.s_norm``).
S_NORM_EPS: float = 1e-10


class _TrunkEncoder(nn.Module, EncoderHubMixin):
    """Trunk + dense heads (:meth:`_heads`): the construction shared by every encoder."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        audio_config: SpectrogramConfig | None = None,
        stats: DatasetStats | None = None,
        label_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        check_model_config(config)
        self.config = config
        self.trunk = Trunk(
            config,
            sn=config.encoder_sn,
            freq_pool_block=config.freq_pool_block,
            freq_pool_std=config.freq_pool_std,
        )
        for name, head in self._heads(config).items():
            setattr(self, name, head)
        self._init_hub_metadata(audio_config, stats, label_names)

    @staticmethod
    def _heads(config: ModelConfig) -> dict[str, nn.Module]:
        """``{attribute: head}``, built in this order after the trunk."""
        raise NotImplementedError


class _LatentEncoder(_TrunkEncoder):
    """Trunk + one dense head: the shared code of :class:`GuidedEncoder` and :class:`StyleEncoder`."""

    _head_name: str

    @classmethod
    def _from_modules(
        cls,
        config: ModelConfig,
        trunk: Trunk,
        head: nn.Module,
        *,
        audio_config: SpectrogramConfig | None = None,
        stats: DatasetStats | None = None,
        label_names: Sequence[str] | None = None,
    ) -> _LatentEncoder:
        """Wrap existing modules (shared, not copied) without building new ones."""
        obj = cls.__new__(cls)
        nn.Module.__init__(obj)
        obj.config = config
        obj.trunk = trunk
        setattr(obj, cls._head_name, head)
        obj._init_hub_metadata(audio_config, stats, label_names)
        return obj

    def latent_heads(self) -> dict[str, nn.Module]:
        """``{name: head}``: ``{"z": head_z}`` or ``{"s": head_s}``."""
        return {self.outputs[0]: getattr(self, self._head_name)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self._head_name)(self.trunk(x))


def _encoder_head(config: ModelConfig, out_features: int, *, s_norm: str = "none") -> nn.Module:
    """Dense head on the pooled trunk features; E_s's (``s_norm`` = ``config.s_norm``) ends in
    :class:`Whitening` ("whiten") or a batch norm without affine parameters ("batch"):
    ``Sequential(linear, norm)``."""
    linear = init_weights(
        sn_linear(config.pooled_features, out_features, sn=config.encoder_sn, sn_eps=config.sn_eps)
    )
    if s_norm == "none":
        return linear
    if s_norm == "whiten":
        return nn.Sequential(linear, Whitening(out_features))
    # eps far below the head's output variance at initialisation (~1e-4), which bn_eps (1e-5) would
    # shrink by a third: s is meant to have unit variance per dimension from the first step
    norm = nn.BatchNorm1d(out_features, eps=S_NORM_EPS, momentum=config.bn_momentum, affine=False)
    return nn.Sequential(linear, norm)


class GuidedEncoder(_LatentEncoder):
    """E_z: trunk + dense head ``head_z``, ``(B, 1, F, T) -> z (B, z_dim)``.

    Also the BiGAN baseline's feature extractor (Table XVIII: trunk + Dense 128). Its state-dict
    keys (``trunk.*``, ``head_z.*``) are those of :class:`Encoder`, so it loads from an Encoder
    state dict filtered to these prefixes.

    Also a pretrained model (:class:`~gaae_models.hub_mixin.EncoderHubMixin`):
    ``GuidedEncoder.from_pretrained(REPO_OR_DIR)`` loads a repository written from an
    :class:`Encoder` (taking ``trunk.*`` and ``head_z.*``) or from a GuidedEncoder, and
    :meth:`embed` gives z per window of raw audio.

    Parameters
    ----------
    config : ModelConfig
    audio_config : audiospec.SpectrogramConfig, optional
        The transform of the training cache (stored in ``config.json``; needed by :meth:`embed`).
    stats : audiospec.DatasetStats, optional
        The training cache's normalisation statistics (idem).
    label_names : sequence of str, optional
        Names of the classes, in label order.
    """

    _head_name = "head_z"
    _hub_architecture = "GuidedEncoder"
    _hub_loads_from = ("GuidedEncoder", "Encoder")
    _hub_optional_prefixes = ("head_s.",)
    outputs = ("z",)

    @staticmethod
    def _heads(config: ModelConfig) -> dict[str, nn.Module]:
        return {"head_z": _encoder_head(config, config.z_dim)}


class StyleEncoder(_LatentEncoder):
    """E_s: trunk + dense head ``head_s``, ``(B, 1, F, T) -> s (B, s_dim)``.

    Its state-dict keys (``trunk.*``, ``head_s.*``) are those of :class:`Encoder`.

    Also a pretrained model, like :class:`GuidedEncoder` (``trunk.*`` and ``head_s.*`` of an
    :class:`Encoder` repository); :meth:`embed` gives s per window of raw audio.

    Parameters
    ----------
    config : ModelConfig
    audio_config, stats, label_names : optional
        As for :class:`GuidedEncoder`.
    """

    _head_name = "head_s"
    _hub_architecture = "StyleEncoder"
    _hub_loads_from = ("StyleEncoder", "Encoder")
    _hub_optional_prefixes = ("head_z.",)
    outputs = ("s",)

    @staticmethod
    def _heads(config: ModelConfig) -> dict[str, nn.Module]:
        return {"head_s": _encoder_head(config, config.s_dim, s_norm=config.s_norm)}


class Encoder(_TrunkEncoder):
    """The GAAE encoder E: one trunk and two dense heads, ``x -> (z, s)`` (Table XX).

    The heads ``head_z`` (E_z, the guided latent read by C) and ``head_s`` (E_s, the style latent
    decoded by G and matched to N(0, I)) are spectrally normalised when ``config.encoder_sn``
    (like the trunk), plain ``Linear`` otherwise. With ``config.s_norm="whiten"`` (the default),
    ``head_s`` is ``Sequential(linear, Whitening)``: s has about zero mean and identity
    covariance over the recent training batches (running statistics, updated in training mode);
    ``"batch"`` standardises each dimension with a batch norm
    without affine parameters instead; ``"none"`` is the paper's plain dense head.

    It is also a pretrained model (a huggingface_hub ``PyTorchModelHubMixin``, see
    :mod:`gaae_models.hub_mixin`): ``Encoder.from_pretrained(REPO_OR_DIR)`` and
    ``save_pretrained(DIR)`` keep the architecture, the audiospec transform, the dataset statistics
    and the label names in ``config.json`` (weights in safetensors), and
    :meth:`~gaae_models.hub_mixin.EncoderHubMixin.embed` turns raw audio of any length and rate
    into z and s per 1.024 s window.

    Parameters
    ----------
    config : ModelConfig
    audio_config : audiospec.SpectrogramConfig, optional
        The transform of the training cache (needed to save, publish and :meth:`embed`).
    stats : audiospec.DatasetStats, optional
        The training cache's normalisation statistics (idem; the histogram is dropped).
    label_names : sequence of str, optional
        Names of the classes, in label order.

    Shapes
    ------
    x : (B, 1, F, T) -> z : (B, z_dim), s : (B, s_dim)
    """

    _hub_architecture = "Encoder"
    _hub_loads_from = ("Encoder",)
    outputs = ("z", "s")

    @staticmethod
    def _heads(config: ModelConfig) -> dict[str, nn.Module]:
        return {**GuidedEncoder._heads(config), **StyleEncoder._heads(config)}

    def latent_heads(self) -> dict[str, nn.Module]:
        """``{"z": head_z, "s": head_s}``."""
        return {"z": self.head_z, "s": self.head_s}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(z, s)`` from one pass through the trunk."""
        h = self.trunk(x)
        return self.head_z(h), self.head_s(h)

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        """E_z(x): the guided latent, ``(B, z_dim)``."""
        return self.head_z(self.trunk(x))

    def encode_s(self, x: torch.Tensor) -> torch.Tensor:
        """E_s(x): the style latent, ``(B, s_dim)``."""
        return self.head_s(self.trunk(x))

    def guided_encoder(self) -> GuidedEncoder:
        """E_z as a standalone module that *shares* this encoder's trunk and ``head_z`` (no copy:
        training either trains both; ``copy.deepcopy`` the result for an independent one)."""
        return GuidedEncoder._from_modules(self.config, self.trunk, self.head_z, **self._metadata())

    def style_encoder(self) -> StyleEncoder:
        """E_s as a standalone module sharing this encoder's trunk and ``head_s`` (no copy)."""
        return StyleEncoder._from_modules(self.config, self.trunk, self.head_s, **self._metadata())

    def _metadata(self) -> dict:
        return {"audio_config": self.audio_config, "stats": self.stats, "label_names": self.label_names}
