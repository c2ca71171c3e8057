"""tqdm progress bars that stay readable in logs: redrawn on a terminal, one line per update elsewhere."""

from __future__ import annotations

import sys
from typing import IO, Any

__all__ = ["progress_bar", "LOG_MININTERVAL"]

#: Seconds between two lines when the output is not a terminal (a log file, a CI console).
LOG_MININTERVAL: float = 5.0


class _LineWriter:
    """A file for tqdm that turns each redraw (``\\r`` + bar) into one plain line, without repeats."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        key = line.rsplit("[", 1)[0]  # the count and bar, not the timing (the final redraw repeats it)
        if line and key != self._last:
            self._stream.write(line + "\n")
            self._last = key

    def flush(self) -> None:
        self._stream.flush()


def progress_bar(
    total: int,
    *,
    desc: str,
    unit: str = "file",
    enabled: bool = True,
    stream: IO[str] | None = None,
    initial: int = 0,
) -> Any:
    """A tqdm bar on ``stream`` (stderr by default).

    On a terminal it redraws in place; otherwise (``stream.isatty()`` is false) every update that
    tqdm shows, at most one per :data:`LOG_MININTERVAL` seconds plus the final state, is written
    as one line, so a log holds a few short lines instead of kilobytes of carriage returns.

    Parameters
    ----------
    total : int
        Units of work.
    desc : str
        The label in front of the bar.
    unit : str
        The unit's name.
    enabled : bool
        False gives a disabled bar (every call a no-op).
    stream : text file, optional
        Where to write.
    initial : int
        Units already done (a resumed job).
    """
    from tqdm.auto import tqdm

    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(total=total, initial=initial, disable=True)
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        file=_LineWriter(stream),
        mininterval=LOG_MININTERVAL,
        ascii=True,
        ncols=100,
    )
