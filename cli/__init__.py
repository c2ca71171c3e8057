"""Command-line interfaces: the ``audiospec`` and ``gaae`` click groups (installed as gaae_cli)."""
