"""A library-grade package (issue 13): LICENSE, card metadata = the package, librosa habits that guide."""

import os
import tomllib

import numpy as np
import pytest

import audiospec
from audiospec.errors import ParameterError
from gaae_models.card import INSTALL_LINE
from gaae_models.features import LIBRARY_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_license_file_matches_the_metadata():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["license"] == {"text": "MIT"}  # setuptools ships LICENSE* files by default
    text = open(os.path.join(ROOT, "LICENSE")).read()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    # the model card's library_name and install line name the package that loads the models
    assert LIBRARY_NAME == project["name"] and INSTALL_LINE.startswith(f"pip install {project['name']}")


def test_librosa_keywords_say_what_to_write(tmp_path):
    with pytest.raises(ParameterError, match=r"load_audio\(path, sample_rate=22050\)"):
        audiospec.load_audio(tmp_path / "x.wav", sr=22050)
    with pytest.raises(ParameterError, match=r"no mono=: audio is always averaged to mono"):
        audiospec.load_audio(tmp_path / "x.wav", mono=True)
    y = np.zeros(16384, np.float32)
    with pytest.raises(ParameterError, match=r"stft\(y, config=audiospec.SpectrogramConfig\(n_fft=1024\)\)"):
        audiospec.stft(y, n_fft=1024)
    with pytest.raises(ParameterError, match=r"SpectrogramConfig\(n_fft=1024, hop_length=256\)"):
        audiospec.stft_logmag(y, n_fft=1024, hop_length=256)
    with pytest.raises(ParameterError, match=r"no center="):
        audiospec.stft(y, center=False)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'colour'"):
        audiospec.stft(y, colour=1)
    # what the message suggests works
    assert audiospec.stft(y, config=audiospec.SpectrogramConfig(n_fft=1024)).shape[-1] == 128
