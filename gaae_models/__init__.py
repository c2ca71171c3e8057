"""gaae_models: the Guided Adversarial Autoencoder (GAAE) and its baselines, trained on audiospec caches.

Conventions: z is the guided latent (head E_z, read by the classifier C), s the style latent (head
E_s, matched to N(0, I) by D_latent); G(s, y) decodes a style and a label into a normalised
spectrogram (B, 1, 256, 128) in [-1, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gaae_models.config import PRESETS, ModelConfig, model_config
from gaae_models.errors import CheckpointError, ConfigError, GaaeError, HubError
from gaae_models.train_config import TrainConfig

if TYPE_CHECKING:
    from gaae_models.models import (
        BiGANDiscriminator,
        Classifier,
        Decoder,
        Encoder,
        GuidedEncoder,
        LatentDiscriminator,
        SampleDiscriminator,
        SimpleCNN,
        StyleEncoder,
    )


def __getattr__(name: str) -> Any:
    """The network classes, imported from :mod:`gaae_models.models` on first use, so that
    ``import gaae_models`` (and ``gaae --help``) does not pay for importing torch."""
    if name in __all__ and name not in globals():
        from gaae_models import models

        return getattr(models, name)
    raise AttributeError(f"module 'gaae_models' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "__version__",
    "GaaeError",
    "ConfigError",
    "CheckpointError",
    "HubError",
    "ModelConfig",
    "PRESETS",
    "model_config",
    "TrainConfig",
    "Encoder",
    "GuidedEncoder",
    "StyleEncoder",
    "Decoder",
    "Classifier",
    "SampleDiscriminator",
    "LatentDiscriminator",
    "BiGANDiscriminator",
    "SimpleCNN",
]
