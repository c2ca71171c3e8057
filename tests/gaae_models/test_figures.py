"""Figures (issue 13): numeric legend order, continuous colours with a colour bar, no empty grid panels."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from gaae_models import metrics
from gaae_models.errors import ConfigError
from gaae_models.generation import _columns


@pytest.fixture
def figures(monkeypatch):
    """Every matplotlib Figure saved during the test."""
    saved = []
    original = Figure.savefig

    def record(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def _legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_numeric_classes_are_listed_in_numeric_order(figures, tmp_path, rng):
    names = ["100", "127", "25", "50", "75"]  # NSynth velocities, in the cache's (text) order
    y = rng.integers(0, 5, 60)
    metrics.plot_embedding(rng.standard_normal((60, 2)), y, label_names=names, path=tmp_path / "v.png")
    assert _legend(figures[-1]) == ["25", "50", "75", "100", "127"]
    text = ["guitar", "string", "mallet"]
    metrics.plot_embedding(
        rng.standard_normal((9, 2)), np.arange(9) % 3, label_names=text, path=tmp_path / "t.png"
    )
    assert _legend(figures[-1]) == text  # names keep their order


def test_continuous_attributes_get_a_colour_bar(figures, tmp_path, rng):
    names = [str(p) for p in range(40, 80)]  # MIDI pitch: 40 values
    y = np.concatenate([np.arange(40), -np.ones(3, int)])
    metrics.plot_embedding(
        rng.standard_normal((43, 2)), y, label_names=names, path=tmp_path / "p.png", colour_label="pitch"
    )
    fig = figures[-1]
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "pitch"  # the colour bar
    assert _legend(fig) == ["unknown"]
    assert np.allclose(fig.axes[0].collections[1].get_array(), np.arange(40, 80))
    with pytest.raises(ConfigError, match=r"continuous=True needs numeric label_names"):
        metrics.plot_embedding(
            rng.standard_normal((3, 2)),
            np.arange(3),
            label_names=["a", "b", "c"],
            path=tmp_path / "x.png",
            continuous=True,
        )


@pytest.mark.parametrize(
    ("n", "cols"), [(1, 1), (5, 5), (6, 6), (12, 4), (8, 4), (9, 3), (16, 4), (7 + 6, 5)]
)
def test_grid_columns_leave_no_empty_panel_where_possible(n, cols):
    assert _columns(n) == cols
    if n != 13:
        assert n % cols == 0
