"""The exception hierarchy of :mod:`gaae_models`."""

from __future__ import annotations

__all__ = ["GaaeError", "ConfigError", "CheckpointError"]


class GaaeError(Exception):
    """Base class of every error gaae_models raises on purpose."""


class ConfigError(GaaeError, ValueError):
    """A model or training option has a value outside its documented range."""


class CheckpointError(GaaeError):
    """A checkpoint or run directory is missing, corrupt, of an unknown format or mismatched."""
