"""Crash-safe file and folder writes shared by audiospec, gaae_models and the CLI.

Every writer here follows one recipe: write to a temporary name beside the target (same folder,
so the final rename never crosses a file system), give it the modes of a freshly created file or
folder (``0o666`` / ``0o777`` less the umask: 0644 / 0755 under the usual umask 022, where
:func:`tempfile.mkstemp` would leave 0600 / 0700), then rename it onto the target with
:func:`os.replace`. A write that fails or is killed leaves the target as it was and never a file
that looks complete; a temporary left by a killed process is hidden (its name starts with ``.``)
and contains ``.tmp-`` (see :func:`temporary_name`).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "atomic_write_text",
    "atomic_path",
    "atomic_dir",
    "make_readable",
    "readable_modes",
    "temporary_name",
]


def readable_modes() -> tuple[int, int]:
    """Modes ``(file, folder)`` of freshly created entries under the current umask (0644, 0755 for 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask, 0o777 & ~umask


def make_readable(path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a folder and everything below it) the modes of :func:`readable_modes`."""
    file_mode, dir_mode = readable_modes()
    if not os.path.isdir(path):
        os.chmod(path, file_mode)
        return
    os.chmod(path, dir_mode)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), dir_mode)
        for name in files:
            os.chmod(os.path.join(root, name), file_mode)


def temporary_name(path: str | os.PathLike, *, suffix: str = "") -> str:
    """A fresh hidden name beside ``path``: ``DIR/.NAME.tmp-PID-RANDOM SUFFIX``.

    ``suffix`` keeps an extension for writers that infer the format from it (``".png"``).
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "", fsync: bool = True) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; at the end of the block, move that file onto ``path``.

    Parameters
    ----------
    path : path-like
        The target file; its folder must exist.
    suffix : str
        Extension of the temporary name, for writers that infer the format from it.
    fsync : bool
        Flush the file to disk before the rename (default), so that a crash of the machine
        cannot leave an empty or partial file under the final name.

    Raises
    ------
    FileNotFoundError
        The block ended without writing the temporary file.

    Examples
    --------
    >>> with atomic_path("grid.png", suffix=".png") as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp)
    """
    tmp = temporary_name(path, suffix=suffix)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        make_readable(tmp)
        os.replace(tmp, os.fspath(path))
    finally:
        _remove(tmp)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[str]:
    """Yield a new empty folder beside ``path``; when the block ends, it replaces ``path`` as a whole.

    An existing ``path`` is first moved aside (to a temporary name) and deleted only after the new
    folder is in place, so at every moment either the old or the new folder is complete. Every
    entry of the new tree gets the modes of :func:`readable_modes`.

    Parameters
    ----------
    path : path-like
        The target folder; its parent must exist.
    """
    path = os.path.abspath(os.fspath(path))
    tmp = temporary_name(path)
    os.mkdir(tmp)
    old = None
    try:
        yield tmp
        make_readable(tmp)
        if os.path.lexists(path):
            old = temporary_name(path, suffix=".old")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # put the old folder back
                old = None
                raise
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)
        if old is not None:
            _remove(old)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`, which says what
    ``fsync`` guards against)."""
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
