"""``python -m dla_cnn.cli``: the same command line as ``dla-cnn``."""

from dla_cnn.cli import app

if __name__ == "__main__":  # pragma: no cover
    app()
