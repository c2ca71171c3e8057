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
    assert LIBRARY_NAME == project["name"] and INSTALL_LINE.startswith(
        f"pip install '{project['name']}[models]'"
    )
    # audiospec alone installs without torch; gaae_models needs the models extra
    deps = " ".join(project["dependencies"])
    assert "torch" not in deps and "torch>=2.2" in project["optional-dependencies"]["models"]


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


def test_gaae_without_the_models_extra_says_what_to_install(monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from gaae_cli import gaae_cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        gaae_cli.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    result = CliRunner().invoke(gaae_cli.main, ["fit", "x.zarr", "--out", "run"])
    assert result.exit_code == 1
    assert "gaae needs the models extra (torch missing): pip install 'gaae-audio[models]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(gaae_cli.main, ["--help"]).exit_code == 0  # help works without it
