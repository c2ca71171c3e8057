"""PNG pictures of spectrograms (matplotlib, headless Agg backend)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from audiospec._validation import valid_config
from audiospec.atomic import atomic_path
from audiospec.config import SpectrogramConfig
from audiospec.errors import ParameterError

__all__ = ["plot_spectrogram", "plot_spectrogram_grid"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _extent(shape: tuple[int, int], config: SpectrogramConfig) -> list[float]:
    n_bins, n_frames = shape
    seconds = n_frames * config.hop_length / config.sample_rate
    top_khz = n_bins * config.sample_rate / config.n_fft / 1000.0
    return [0.0, seconds, 0.0, top_khz]


def _save(fig, path: str | os.PathLike) -> None:
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ParameterError(f"path={path!r} must end in .png")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)


def plot_spectrogram(
    spectrogram: np.ndarray,
    path: str | os.PathLike,
    *,
    config: SpectrogramConfig | None = None,
    title: str | None = None,
    colorbar_label: str = "log-magnitude (nepers)",
) -> None:
    """Write one spectrogram (n_bins, n_frames) as a PNG with time (s) and frequency (kHz) axes."""
    config = valid_config(config)
    s = np.asarray(spectrogram)
    if s.ndim != 2:
        raise ParameterError(f"spectrogram must have shape (n_bins, n_frames) (got {s.shape})")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    im = ax.imshow(s, origin="lower", aspect="auto", cmap="magma", extent=_extent(s.shape, config))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, label=colorbar_label)
    fig.tight_layout()
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def plot_spectrogram_grid(
    spectrograms: np.ndarray,
    path: str | os.PathLike,
    *,
    titles: Sequence[str] | None = None,
    config: SpectrogramConfig | None = None,
    n_cols: int | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    suptitle: str | None = None,
    colorbar_label: str | None = "log-magnitude",
) -> None:
    """Write a labelled grid of spectrograms (n, n_bins, n_frames) as one PNG.

    All panels share one colour scale (``vmin``/``vmax``, default the data's range), so that
    levels compare across panels; one colour bar labelled ``colorbar_label`` shows it (``None``:
    no colour bar). ``suptitle`` is a line of text above the grid.
    """
    config = valid_config(config)
    s = np.asarray(spectrograms)
    if s.ndim != 3 or s.shape[0] == 0:
        raise ParameterError(
            f"spectrograms must have shape (n, n_bins, n_frames) with n >= 1 (got {s.shape})"
        )
    if titles is not None and len(titles) != s.shape[0]:
        raise ParameterError(f"titles has {len(titles)} entries for {s.shape[0]} spectrograms")
    n = s.shape[0]
    n_cols = n_cols or min(n, 4)
    n_rows = math.ceil(n / n_cols)
    vmin = float(s.min()) if vmin is None else vmin
    vmax = float(s.max()) if vmax is None else vmax
    plt = _pyplot()
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    extent = _extent(s.shape[1:], config)
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        image = ax.imshow(
            s[k], origin="lower", aspect="auto", cmap="magma", extent=extent, vmin=vmin, vmax=vmax
        )
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=9)
        ax.set_xlabel("s", fontsize=7)
        ax.set_ylabel("kHz", fontsize=7)
        ax.tick_params(labelsize=7)
    if suptitle:
        import textwrap

        lines = textwrap.wrap(suptitle, width=max(40, int(16 * 3.2 * n_cols)))
        fig.suptitle("\n".join(lines), fontsize=8)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.12 * len(lines) / max(n_rows, 1)))
    else:
        fig.tight_layout()
    if colorbar_label is not None:  # after the layout: the bar takes its room from the panels
        fig.colorbar(image, ax=axes.ravel().tolist(), label=colorbar_label, shrink=0.9, pad=0.01)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)
