"""The dla-cnn catalog contract: two tables, ``ABSORBERS`` and ``SIGHTLINES``.

A catalog is one FITS file with an empty primary HDU and two binary-table HDUs named
``ABSORBERS`` and ``SIGHTLINES``; each HDU reads on its own with
``Table.read(path, hdu="ABSORBERS")`` and every physical column carries its astropy unit.
On request the same tables are written as two ECSV files, ``NAME.absorbers.ecsv`` and
``NAME.sightlines.ecsv``.

Column units
------------
* ``ra``, ``dec``: ``deg``; ``lambda_obs``: ``Angstrom``.
* Redshifts, S/N, confidence: dimensionless (no unit).
* ``log_nhi`` is log10 of the H I column density in cm^-2 and ``log_nhi_err`` its
  1-sigma error in dex.  Both are stored *without* an astropy unit: a logarithmic unit
  such as ``dex(cm-2)`` has no FITS ``TUNIT`` form and astropy drops it on the way
  through FITS, so the two formats would disagree.  The meaning is written into the
  column descriptions; use :func:`column_density` to get N_HI as a ``Quantity`` in
  cm^-2.
* Ids (``plate``, ``mjd``, ``fiber``, ``thing_id``, ``targetid``): integers, -1 when
  unknown.  ``thing_id`` is the SDSS/BOSS ``THING_ID`` (spAll, or the quasar catalog),
  ``targetid`` the DESI ``TARGETID``; catalogs written before these two columns existed
  read with -1 in them.

Every column carries its description as the astropy ``Column.description``, which
``Table.read`` restores from both formats (FITS: astropy's serialized-columns header
block, plus a ``TCOMMn`` card for other FITS readers; ECSV: the column header).

Sightline status
----------------
``ok``
    The sightline was searched; zero absorbers is a real result.
``skipped``
    A valid spectrum that cannot be searched (no Lyman-alpha forest coverage, too
    few good pixels).
``error``
    The spectrum could not be read or is invalid; ``message`` says why.

A failed sightline never looks like one without absorbers: population statistics
(:func:`searched_path`, :func:`dn_dz`) use the ``ok`` rows only.

Metadata
--------
:func:`write_catalog` takes a ``meta`` dict with the keys below (all optional) and
writes them into the primary header and both table headers (FITS) or into both
files' metadata (ECSV):

=================  ====================================  =========================
meta key           FITS keyword                          meaning
=================  ====================================  =========================
``dlacnn_version`` ``DLACNN_V``                          always the writing version
``model_name``     ``MODEL``                             model name
``model_sha256``   ``MODELSHA``                          sha256 of the model file
``stage2_sha256``  ``STG2SHA``                           sha256 of the absorber-level model
``engine``         ``ENGINE``                            inference engine (keras or onnx)
``created``        ``DATE``                              UTC ISO time (default now)
``command``        ``COMMAND`` (long-string ``CONTINUE``) command line
``thresholds``     ``HIERARCH DLACNN THRESH <name>``     dict of name -> number
other ``key``      ``HIERARCH DLACNN <key>``             scalar extras
=================  ====================================  =========================

Strings written to FITS are reduced to printable ASCII (other characters become
backslash escapes), as FITS requires.
"""

from __future__ import annotations

from dla_cnn.catalog.io import ecsv_paths, read_catalog, write_catalog
from dla_cnn.catalog.schema import (
    ABSORBER_COLUMNS,
    ABSORBER_TYPES,
    ABSORBERS_HDU,  # noqa: F401 - module attribute of the former single-file catalog
    LYA_REST_ANGSTROM,  # noqa: F401 - module attribute of the former single-file catalog
    SIGHTLINE_COLUMNS,
    SIGHTLINES_HDU,  # noqa: F401 - module attribute of the former single-file catalog
    STATUS_VALUES,
    ColumnSpec,
    absorber_table,
    empty_absorber_table,
    empty_sightline_table,
    sightline_table,
)
from dla_cnn.catalog.stats import Incidence, column_density, dn_dz, searched_path
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.ids import format_sightline_id, parse_sightline_id

__all__ = [
    "ABSORBER_COLUMNS",
    "ABSORBER_TYPES",
    "ColumnSpec",
    "DLA_MIN_LOG_NHI",
    "Incidence",
    "SIGHTLINE_COLUMNS",
    "STATUS_VALUES",
    "absorber_table",
    "column_density",
    "dn_dz",
    "ecsv_paths",
    "empty_absorber_table",
    "empty_sightline_table",
    "format_sightline_id",
    "parse_sightline_id",
    "read_catalog",
    "searched_path",
    "sightline_table",
    "write_catalog",
]
