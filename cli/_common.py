"""Shared CLI plumbing: turning library errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import click

__all__ = [
    "friendly_errors",
    "check_overwrite",
    "check_empty_dir",
    "default_threads",
    "set_threads",
    "resolve_device",
    "threads_option",
    "option_group",
    "card_options",
    "window_options",
    "hub_model_options",
    "file_output_options",
    "EXIT_USAGE",
    "OneLineErrorGroup",
    "skip_line",
    "label_name",
]

EXIT_USAGE = 2


class OneLineErrorGroup(click.Group):
    """A click group whose usage errors print one ``Error: ...`` line (and a pointer to --help), exit 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the group; in standalone mode, turn click's three-line usage errors into one line."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(0)


def skip_line(path: str, reason: str, *, root: str | None = None) -> str:
    """``"PATH: REASON"`` with the path said once: its quoted mentions inside ``reason`` are dropped."""
    names = {str(path), os.path.abspath(os.path.join(root, path)) if root else os.path.abspath(path)}
    for name in names:
        reason = reason.replace(f" {name!r}", "")
    return f"{path}: {reason}"


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    click.echo(f"Warning: {message}", err=True)


def default_threads() -> int:
    """The CPU thread count a command uses without ``--threads``.

    ``OMP_NUM_THREADS`` when it is set; otherwise the CPUs this process may run on, less those the
    rest of the machine keeps busy now (:func:`busy_cpus`: /proc/stat over 0.1 s; the one-minute
    load average where that is unavailable, which lags: right after the test suite it still read
    ~2 on idle cores and chose 1 thread, 2.15 s per step against 1.45 with 2), at least 1. On an
    idle machine that is every core; on a shared one torch's threads no longer spin against other
    jobs (a ``gaae fit`` step took 8-36 s with torch's default on 2 busy cores, 1.7-2.7 s with 1
    thread).
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    busy = busy_cpus()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
    return max(1, cpus - int(busy + 0.5))


def _cpu_times(path: str) -> tuple[int, int]:
    """(total, idle + iowait) jiffies of all CPUs from the first line of /proc/stat."""
    with open(path) as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values), values[3] + (values[4] if len(values) > 4 else 0)


def busy_cpus(interval: float = 0.1, *, path: str = "/proc/stat") -> float | None:
    """CPUs busy right now (0 .. cpu_count), from two readings of ``path`` ``interval`` s apart;
    None where the file cannot be read (not Linux)."""
    try:
        total0, idle0 = _cpu_times(path)
        time.sleep(interval)
        total1, idle1 = _cpu_times(path)
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1.0 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is available, else ``"cpu"``; other names unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def set_threads(n: int | None) -> int:
    """Give torch ``n`` CPU threads (``None``: :func:`default_threads`); returns the count used."""
    import torch  # only commands that compute pay for it

    n = default_threads() if n is None else n
    torch.set_num_threads(n)
    return n


def threads_option(func: Callable) -> Callable:
    """Add ``--threads N`` to a command that computes with torch and apply it before the command runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, threads: int | None = None, **kwargs: Any) -> Any:
        set_threads(threads)
        return func(*args, **kwargs)

    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="CPU threads for torch [default: $OMP_NUM_THREADS, else the CPUs less the load average].",
    )(wrapper)


def int_option(
    *decls: str, minimum: int = 1, default: int | None = None, help: str | None = None
) -> Callable:
    """``click.option(*decls)`` taking an integer >= ``minimum``; a ``default`` is shown in ``--help``."""
    return click.option(
        *decls, type=click.IntRange(min=minimum), default=default, show_default=default is not None, help=help
    )


#: ``--device``: where torch computes (``auto``: CUDA when available).
device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)


def option_group(*decorators: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """One decorator that applies ``decorators`` as if stacked in this order above a command."""

    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


#: The model-card and content options shared by ``gaae export`` and ``gaae push``.
card_options = option_group(
    click.option("--with-decoder", is_flag=True, help="Also include the decoder G(s, y) (in decoder/)."),
    click.option(
        "--report",
        "report_dir",
        type=click.Path(exists=True, file_okay=False),
        default=None,
        help="A `gaae evaluate` report folder: quote this run's numbers in the model card.",
    ),
    click.option("--checkpoint", default=None, help="Checkpoint folder or name [default: the latest]."),
    click.option(
        "--license", "license_id", default="mit", show_default=True, help="License id for the card."
    ),
    click.option(
        "--dataset",
        "datasets",
        multiple=True,
        metavar="DATASET_ID",
        help="Hub dataset id the model was trained on, for the card metadata (repeatable).",
    ),
)

#: How audio is cut and batched, and where the network runs (``gaae features``, ``gaae predict``).
window_options = option_group(
    click.option(
        "--hop",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help="Seconds between window starts [default: one window, 1.024 s for the default transform].",
    ),
    int_option("--batch-size", default=64, help="Windows per forward pass."),
    device_option,
)

#: Where a pretrained model is read from on the Hub.
hub_model_options = option_group(
    click.option("--revision", default=None, help="Hub revision of --model [default: main]."),
    click.option(
        "--token", default=None, metavar="TOKEN", help="Hub token for a private model. Never printed."
    ),
)

#: Writing one output file with a progress bar.
file_output_options = option_group(
    click.option("--overwrite", is_flag=True, help="Replace an existing --out file."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
)


def friendly_errors(*error_types: type[BaseException]) -> Callable:
    """Decorate a click command so that the given exception types print 'Error: ...' and exit 2.

    Warnings raised while the command runs print as one ``Warning: ...`` line each.
    """

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                try:
                    return func(*args, **kwargs)
                except error_types as exc:
                    click.echo(f"Error: {exc}", err=True)
                    raise SystemExit(EXIT_USAGE) from None

        return wrapper

    return decorate


def check_overwrite(path: str, overwrite: bool) -> None:
    """Refuse to replace an existing output unless ``--overwrite`` was given."""
    if os.path.exists(path) and not overwrite:
        click.echo(f"Error: {path} already exists; pass --overwrite to replace it", err=True)
        raise SystemExit(EXIT_USAGE)


def check_empty_dir(path: str, overwrite: bool) -> None:
    """Refuse to write into a non-empty output folder unless ``--overwrite`` was given."""
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        click.echo(f"Error: {path} is not empty; pass --overwrite to write into it", err=True)
        raise SystemExit(EXIT_USAGE)


def label_name(cache: Any, label: int) -> str:
    """The name of ``label`` in a cache's ``label_names``, or ``"unlabelled"`` (-1 or out of range)."""
    return cache.label_names[label] if 0 <= label < len(cache.label_names) else "unlabelled"
