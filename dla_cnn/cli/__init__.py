"""The ``dla-cnn`` command line: a thin layer that parses options and calls the library.

Every command prints one line per problem and exits non-zero on failure, never a
traceback: run-wide errors (bad options, missing model) stop the command; a bad
spectrum in a batch becomes a one-line error and the other sightlines go on.
"""

from dla_cnn.cli._app import app, main

# Typer lists the commands in the order they are registered: these imports keep
# ``dla-cnn --help`` in workflow order (make data, train, scan, read catalogs, demo).
from dla_cnn.cli import data, training, scanning, reporting, demo  # noqa: F401  isort: skip

__all__ = ["app", "main"]
