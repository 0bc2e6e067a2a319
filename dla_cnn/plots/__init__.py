"""Figures.

* :mod:`dla_cnn.plots.sightline` -- one sightline with its absorbers and the model's
  per-pixel view (:func:`plot_sightline`), a catalog summary
  (:func:`plot_catalog_summary`);
* :mod:`dla_cnn.plots.vet` -- the figures of a vetting report (:func:`vet_plots`).

Each module is imported when one of its functions is first asked for: the sightline
figures select matplotlib's Agg backend on import, the vetting figures do not use
pyplot at all, and ``dla_cnn.vet`` reaches :func:`vet_plots` from here without
loading the others.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dla_cnn.plots.sightline import plot_catalog_summary, plot_sightline
    from dla_cnn.plots.vet import vet_plots

_HOME = {
    "plot_catalog_summary": "dla_cnn.plots.sightline",
    "plot_sightline": "dla_cnn.plots.sightline",
    "vet_plots": "dla_cnn.plots.vet",
}

__all__ = ["plot_catalog_summary", "plot_sightline", "vet_plots"]


def __getattr__(name: str) -> Any:
    """A figure function, imported from its module when first asked for."""
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported figure functions included."""
    return sorted(set(globals()) | set(__all__))
