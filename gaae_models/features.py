"""Pretrained GAAE models and features (z, s) from raw audio: the public names in one place.

This module gathers the names that scripts and the README import from ``gaae_models.features``;
each lives in the module of its concern:

* :mod:`gaae_models.hub_files`: the files of a pretrained model (``config.json``,
  ``model.safetensors``), finding them in a folder or Hub repository, :func:`read_hub_config`;
* :mod:`gaae_models.hub_mixin`: :class:`HubModelMixin` (``save_pretrained`` / ``from_pretrained``)
  and :class:`EncoderHubMixin` (``embed``, ``spectrograms``, ``encode_batch``);
* :mod:`gaae_models.models.fused`: the inference form of an encoder;
* :mod:`gaae_models.pipeline`: windows, the threaded extraction pipeline, :func:`extract_features`;
* :mod:`gaae_models.feature_sets`: :class:`Embedding`, :class:`FeatureSet`, :func:`save_features`;
* :mod:`gaae_models.validation`: the argument checks, :data:`PRECISIONS`.
"""

from __future__ import annotations

from gaae_models.feature_sets import Embedding, FeatureSet, save_features
from gaae_models.hub_files import (
    CONFIG_NAME,
    HUB_FORMAT_VERSION,
    HUB_TAGS,
    LIBRARY_NAME,
    PAPER_URL,
    PICKLE_SUFFIXES,
    WEIGHTS_NAME,
    read_hub_config,
)
from gaae_models.hub_mixin import EncoderHubMixin, HubModelMixin
from gaae_models.pipeline import extract_features, list_audio_files, window_starts
from gaae_models.validation import PRECISIONS

__all__ = [
    "HUB_FORMAT_VERSION",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "PICKLE_SUFFIXES",
    "PRECISIONS",
    "LIBRARY_NAME",
    "PAPER_URL",
    "HUB_TAGS",
    "HubModelMixin",
    "EncoderHubMixin",
    "Embedding",
    "FeatureSet",
    "window_starts",
    "list_audio_files",
    "extract_features",
    "save_features",
    "read_hub_config",
]
