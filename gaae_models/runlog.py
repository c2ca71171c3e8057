"""A run's ``log.jsonl`` as pictures people look at: loss and training-health curves, TensorBoard events.

``gaae fit`` writes one JSON object per line: ``step`` and named numbers (``loss/*``, ``acc/*``,
``grad/*``, ``health/*``, ``eval/*``, ``time/*``, ...); a step may have several lines (the losses,
then the health measurement). :func:`plot_log` draws one panel per group of names (the part before
the ``/``) against the step, with a moving average over noisy per-step series and the target of
each health number where it has one (E_s std 1, two-sample accuracy 0.5, ...).
:func:`write_tensorboard` turns the same numbers into TensorBoard event files (needs the optional
``tensorboard`` package).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict

import numpy as np

from audiospec.atomic import atomic_path
from gaae_models.errors import CheckpointError, ConfigError

__all__ = ["LOG_NAME", "read_log", "plot_log", "write_tensorboard"]

LOG_NAME: str = "log.jsonl"

#: Reference lines of the health numbers: what a healthy run approaches.
_TARGETS: dict[str, float] = {
    "health/s_std_mean": 1.0,
    "health/s_mean_abs": 0.0,
    "health/s_two_sample_acc": 0.5,
}
#: Groups that do not go in the figure.
_SKIP_GROUPS = ("time",)


def _log_path(run_dir: str | os.PathLike) -> str:
    run_dir = os.fspath(run_dir)
    path = run_dir if os.path.isfile(run_dir) else os.path.join(run_dir, LOG_NAME)
    if not os.path.isfile(path):
        raise CheckpointError(f"run_dir={run_dir!r} holds no {LOG_NAME}; pass a folder written by gaae fit")
    return path


def read_log(run_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every logged number of a run as a series.

    Parameters
    ----------
    run_dir : path-like
        A ``gaae fit`` run folder (or its ``log.jsonl``).

    Returns
    -------
    dict of str to (steps, values)
        For each name, ``steps`` (int64) and ``values`` (float64), shape (n,), in log order;
        non-numeric and non-finite entries are left out. A truncated last line (a run being
        written) is ignored.

    Raises
    ------
    CheckpointError
        No ``log.jsonl``, or a line other than the last is not JSON.
    """
    path = _log_path(run_dir)
    series: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    with open(path) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the run is writing this line
            raise CheckpointError(f"{path}: line {number} is not JSON") from None
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                if math.isfinite(value):
                    series[key][0].append(step)
                    series[key][1].append(float(value))
    return {k: (np.asarray(s, np.int64), np.asarray(v, np.float64)) for k, (s, v) in sorted(series.items())}


def _smooth(values: np.ndarray) -> np.ndarray:
    """Centred moving average over ~2 % of the series (at least 5 points), edges shortened."""
    width = max(5, values.size // 50)
    if values.size < 2 * width:
        return values
    kernel = np.ones(width)
    return np.convolve(values, kernel, mode="same") / np.convolve(np.ones_like(values), kernel, mode="same")


def _robust_limits(ax, series: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Y limits from the 1st to 99th percentile after the first 10 % of the steps, when the whole
    range is much wider (early transients of the GAN losses would flatten every later value)."""
    last = max(int(steps[-1]) for steps, _ in series)
    late = np.concatenate([values[steps > 0.1 * last] for steps, values in series])
    data = np.concatenate([values for _, values in series])
    if late.size < 20:
        return
    lo, hi = np.percentile(late, [1, 99])
    span = max(hi - lo, 1e-12)
    if data.max() > hi + span or data.min() < lo - span:
        ax.set_ylim(lo - 0.15 * span, hi + 0.15 * span)
        ax.annotate(
            "y range: 1-99 % after the first 10 % of steps",
            (0.99, 0.01),
            xycoords="axes fraction",
            ha="right",
            va="bottom",
            fontsize=6,
            color="0.4",
        )


def _groups(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for key in series:
        group = key.split("/", 1)[0] if "/" in key else "other"
        if group in _SKIP_GROUPS:
            continue
        if key.endswith("eff_rank"):
            group = "health (effective rank)"
        groups[group].append(key)
    return dict(groups)


def plot_log(
    run_dir: str | os.PathLike,
    path: str | os.PathLike | None = None,
    *,
    keys: list[str] | None = None,
    title: str | None = None,
) -> str:
    """Draw a run's logged numbers against the training step as one PNG.

    Parameters
    ----------
    run_dir : path-like
        A ``gaae fit`` run folder.
    path : path-like, optional
        Output ``.png`` [default: ``RUN/log.png``].
    keys : list of str, optional
        Only these names (e.g. ``["loss/rec", "health/s_std_mean"]``) [default: all but ``time/*``].
    title : str, optional
        [default: the run folder's name and its last step].

    Returns
    -------
    str
        The PNG written (atomically, mode 0644 under umask 022).

    Raises
    ------
    CheckpointError
        No log.
    ConfigError
        ``keys`` names nothing that was logged, or ``path`` does not end in ``.png``.
    """
    series = read_log(run_dir)
    run_name = os.path.basename(os.path.abspath(os.fspath(run_dir)).rstrip(os.sep))
    if keys is not None:
        unknown = [k for k in keys if k not in series]
        if unknown:
            raise ConfigError(f"keys={unknown!r} were never logged; the log has {sorted(series)}")
        series = {k: series[k] for k in keys}
    groups = _groups(series)
    if not groups:
        raise ConfigError(f"the log of {run_name!r} holds no numbers to plot (only {sorted(series)})")
    if path is None:
        path = os.path.join(os.fspath(run_dir), "log.png")
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ConfigError(f"path={path!r} must end in .png")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_cols = 1 if len(groups) == 1 else 2
    n_rows = math.ceil(len(groups) / n_cols)
    fig = Figure(figsize=(6.5 * n_cols, 3.2 * n_rows))
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(n_rows, n_cols, squeeze=False).flat)
    last = max(int(s[-1]) for s, _ in series.values() if s.size)
    for ax, (group, names) in zip(axes, groups.items(), strict=False):
        for key in names:
            steps, values = series[key]
            label = key.split("/", 1)[-1]
            smoothed = _smooth(values)
            if smoothed is not values:
                lines = ax.plot(steps, values, linewidth=0.6, alpha=0.25)
                ax.plot(steps, smoothed, linewidth=1.4, color=lines[0].get_color(), label=label)
            else:
                ax.plot(steps, values, marker="o" if values.size < 30 else None, markersize=3, label=label)
            if key in _TARGETS:
                ax.axhline(_TARGETS[key], color="0.5", linestyle=":", linewidth=1)
        if group == "grad_norm":  # gradient norms span many decades (the first steps' spikes)
            ax.set_yscale("log")
        else:
            _robust_limits(ax, [series[k] for k in names])
        ax.set_title(group, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncols=2 if len(names) > 6 else 1, frameon=False)
    for ax in axes[len(groups) :]:
        fig.delaxes(ax)  # no empty panels
    fig.suptitle(title if title is not None else f"{run_name}: {LOG_NAME} up to step {last}", fontsize=11)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def write_tensorboard(run_dir: str | os.PathLike, log_dir: str | os.PathLike | None = None) -> str:
    """Write a run's logged numbers as TensorBoard scalars (``tensorboard --logdir LOG_DIR``).

    Parameters
    ----------
    run_dir : path-like
        A ``gaae fit`` run folder.
    log_dir : path-like, optional
        Where the event file goes [default: ``RUN/tensorboard``]. Each call writes a new event
        file; the scalar names are the log's (``loss/rec``, ``health/s_std_mean``, ...).

    Returns
    -------
    str
        ``log_dir``.

    Raises
    ------
    ConfigError
        The optional ``tensorboard`` package is not installed (``pip install tensorboard``).
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "TensorBoard export needs the tensorboard package: pip install tensorboard "
            "(or use gaae plot-log RUN for a PNG)"
        ) from None
    series = read_log(run_dir)
    log_dir = os.fspath(log_dir) if log_dir is not None else os.path.join(os.fspath(run_dir), "tensorboard")
    writer = SummaryWriter(log_dir=log_dir)
    try:
        for key, (steps, values) in series.items():
            for step, value in zip(steps.tolist(), values.tolist(), strict=True):
                writer.add_scalar(key, value, global_step=step)
    finally:
        writer.close()
    return log_dir
