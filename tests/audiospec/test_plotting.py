"""Spectrogram figures: one shared colour scale with its colour bar, titles, errors."""

import numpy as np
import pytest

import audiospec.plotting as plotting
from audiospec.errors import ParameterError


@pytest.fixture
def captured(monkeypatch):
    """Keep the figure that would be saved (the axes it holds tell what was drawn)."""
    out = {}

    def save(fig, path):
        out["axes"] = [(ax.get_label(), ax.get_ylabel(), ax.get_title(), ax.axison) for ax in fig.axes]
        out["suptitle"] = fig._suptitle.get_text() if fig._suptitle is not None else None
        out["images"] = [im for ax in fig.axes for im in ax.get_images()]

    monkeypatch.setattr(plotting, "_save", save)
    return out


def test_grid_has_one_shared_colour_bar(captured, tmp_path):
    s = np.linspace(-1, 1, 5 * 256 * 128).reshape(5, 256, 128)
    plotting.plot_spectrogram_grid(
        s, tmp_path / "g.png", titles=list("abcde"), n_cols=3, suptitle="run x", colorbar_label="level"
    )
    bars = [a for a in captured["axes"] if a[0] == "<colorbar>"]
    panels = [a for a in captured["axes"] if a[0] != "<colorbar>"]
    assert len(bars) == 1 and bars[0][1] == "level"
    assert len(panels) == 6 and [a[2] for a in panels[:5]] == list("abcde") and not panels[5][3]
    assert captured["suptitle"] == "run x"
    assert {im.get_clim() for im in captured["images"]} == {(-1.0, 1.0)}  # one scale for all panels


def test_grid_without_colour_bar_and_real_png(tmp_path):
    path = tmp_path / "g.png"
    plotting.plot_spectrogram_grid(np.zeros((2, 256, 128)), path, colorbar_label=None, vmin=-1, vmax=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grid_errors_name_the_argument(tmp_path):
    with pytest.raises(ParameterError, match=r"spectrograms must have shape \(n, n_bins, n_frames\)"):
        plotting.plot_spectrogram_grid(np.zeros((256, 128)), tmp_path / "g.png")
    with pytest.raises(ParameterError, match="titles has 1 entries for 2 spectrograms"):
        plotting.plot_spectrogram_grid(np.zeros((2, 256, 128)), tmp_path / "g.png", titles=["a"])
