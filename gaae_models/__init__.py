"""gaae_models: the Guided Adversarial Autoencoder and its baselines, trained on audiospec caches.

The networks, training loop, evaluation and Hub publishing are being built (see the project's
issues); this release provides the package's error hierarchy only.
"""

from __future__ import annotations

from gaae_models.errors import CheckpointError, ConfigError, GaaeError

__version__ = "0.1.0"

__all__ = ["__version__", "GaaeError", "ConfigError", "CheckpointError"]
