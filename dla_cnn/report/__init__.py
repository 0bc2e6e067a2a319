"""Static HTML reports of a catalog (``dla-cnn report``): they open from disk with no server.

:func:`write_report` writes an index page (provenance, counts by status and type, the
searched path, histograms and dN/dz with Poisson intervals, and with a truth table the
vetting metrics and figures), a sortable, filterable, paged absorber table, a sightline
table, and one page per sightline (its spectrum, the model's curves and the absorbers'
profiles when the spectra are given; the parameters with their errors always), linked
both ways with the tables.  Layout: :mod:`dla_cnn.report.names`.
"""

from dla_cnn.report.build import PAGE_MODES, ReportResult, write_report

__all__ = ["PAGE_MODES", "ReportResult", "write_report"]
