"""Figures.

* :mod:`dla_cnn.plots.sightline` -- one sightline with its absorbers and the model's
  per-pixel view (:func:`plot_sightline`, or :func:`sightline_figure` for the figure
  itself; :func:`absorber_model` is the absorbers' model drawn over the data), a
  catalog summary (:func:`plot_catalog_summary`);
* :mod:`dla_cnn.plots.vet` -- the figures of a vetting report (:func:`vet_plots`).

Each module is imported when one of its functions is first asked for, so that
``dla_cnn.vet`` reaches :func:`vet_plots` from here without loading the others.  The
figures are drawn on bare matplotlib figures with the Agg canvas, without pyplot: they
neither change the matplotlib backend nor keep figures open.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dla_cnn.plots.sightline import absorber_model, plot_catalog_summary, plot_sightline, sightline_figure
    from dla_cnn.plots.vet import vet_plots

_HOME = {
    "absorber_model": "dla_cnn.plots.sightline",
    "plot_catalog_summary": "dla_cnn.plots.sightline",
    "plot_sightline": "dla_cnn.plots.sightline",
    "sightline_figure": "dla_cnn.plots.sightline",
    "vet_plots": "dla_cnn.plots.vet",
}

__all__ = ["absorber_model", "plot_catalog_summary", "plot_sightline", "sightline_figure", "vet_plots"]


def __getattr__(name: str) -> Any:
    """A figure function, imported from its module when first asked for."""
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported figure functions included."""
    return sorted(set(globals()) | set(__all__))
