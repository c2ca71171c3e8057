"""What a network is: the GAAE's networks and the baselines', built from a :class:`ModelConfig`.

One concern per module:

* :mod:`~gaae_models.models.layers`: the BigGAN-PyTorch building blocks (spectral-normalised
  convolutions, conditional batch norm, up/down residual blocks, self-attention, the whitening of E_s);
* :mod:`~gaae_models.models.networks`: the networks of the paper's appendix A (trunk, G, C, D_x,
  D_latent, the BiGAN's joint D, the simple CNN);
* :mod:`~gaae_models.models.encoders`: the encoders E, E_z and E_s, which are pretrained models too
  (Hub save/load and ``embed``, from :mod:`gaae_models.hub_mixin`);
* :mod:`~gaae_models.models.fused`: the fused inference form of the encoders' downsampling blocks.

Checkpoints and Hub folders store state dicts keyed by parameter name, never pickled classes, so
where a class lives does not change what loads. The names below are imported on first use.

Examples
--------
>>> from gaae_models.models import Decoder  # doctest: +SKIP
>>> Decoder(model_config("cpu", n_classes=10))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gaae_models.models.encoders import S_NORM_EPS, Encoder, GuidedEncoder, StyleEncoder
    from gaae_models.models.networks import (
        HIDDEN_FEATURES,
        BiGANDiscriminator,
        Classifier,
        Decoder,
        LatentDiscriminator,
        SampleDiscriminator,
        SimpleCNN,
        Trunk,
    )

#: The names from :mod:`~gaae_models.models.encoders`; the others are from :mod:`.networks`.
_ENCODERS = ("Encoder", "GuidedEncoder", "StyleEncoder", "S_NORM_EPS")

__all__ = [
    "Trunk",
    "Encoder",
    "GuidedEncoder",
    "StyleEncoder",
    "Decoder",
    "Classifier",
    "SampleDiscriminator",
    "LatentDiscriminator",
    "BiGANDiscriminator",
    "SimpleCNN",
    "HIDDEN_FEATURES",
    "S_NORM_EPS",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        home = "encoders" if name in _ENCODERS else "networks"
        return getattr(importlib.import_module(f"gaae_models.models.{home}"), name)
    raise AttributeError(f"module 'gaae_models.models' has no attribute {name!r}")
