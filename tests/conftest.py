"""Shared fixtures: a seeded rng and the default config."""

from __future__ import annotations

import numpy as np
import pytest

import audiospec


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(440)


@pytest.fixture
def config() -> audiospec.SpectrogramConfig:
    return audiospec.SpectrogramConfig()
