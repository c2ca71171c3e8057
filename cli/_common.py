"""Shared CLI plumbing: turning library errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

__all__ = ["friendly_errors", "check_overwrite", "check_empty_dir", "EXIT_USAGE"]

EXIT_USAGE = 2


def friendly_errors(*error_types: type[BaseException]) -> Callable:
    """Decorate a click command so that the given exception types print 'Error: ...' and exit 2."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
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
