"""dla-cnn: find and measure damped Lyman-alpha absorbers in quasar spectra with a CNN.

The data flow is::

    io (readers) -> Sightline -> simulate / training (inject, label, HDF5)
                 -> model (Keras 3 CNN) -> scan (per-pixel -> absorbers -> catalog) -> vet
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dla-cnn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

from dla_cnn.sightline import Sightline  # noqa: E402

__all__ = ["Sightline", "__version__"]
