"""The ``gaae`` command group (model training and evaluation commands join it as they are built)."""

from __future__ import annotations

import click

import gaae_models

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gaae_models.__version__, prog_name="gaae")
def main() -> None:
    """Guided Adversarial Autoencoder: training, sampling, evaluation and feature extraction."""


if __name__ == "__main__":  # pragma: no cover
    main()
