"""The exception hierarchy of :mod:`gaae_models`."""

from __future__ import annotations

__all__ = ["GaaeError", "ConfigError", "CheckpointError", "HubError"]


class GaaeError(Exception):
    """Base class of every error gaae_models raises on purpose."""


class ConfigError(GaaeError, ValueError):
    """A model or training option has a value outside its documented range."""


class CheckpointError(GaaeError):
    """A checkpoint or run directory is missing, corrupt, of an unknown format or mismatched."""


class HubError(GaaeError):
    """A pretrained model (Hub repository or local folder) is missing, incomplete, unsafe or unreachable.

    Raised for a repository or file that does not exist, a ``config.json`` without a required key
    (the message names it), weights stored only as pickles (never loaded), an offline cache that
    lacks a file, and failed uploads. Messages never contain an access token.
    """
