"""Spectrum readers and writers: every format becomes a :class:`~dla_cnn.sightline.Sightline`.

Formats (see :mod:`dla_cnn.io.dispatch` for how they are recognised, and
:mod:`dla_cnn.io.registry` for adding one):

* BOSS/eBOSS ``spec-PLATE-MJD-FIBER.fits`` -- :func:`read_boss_spec`, :func:`write_boss_spec`
* SDSS-I/II DR7 ``spSpec-MJD-PLATE-FIBER.fit`` -- :func:`read_spspec`
* ``spPlate-PLATE-MJD.fits`` -- :func:`read_spplate` (redshifts from the caller)
* DESI ``coadd-*.fits`` -- :func:`read_desi_coadd` (redshifts from a TARGETID/Z table)
* plain FITS / ECSV / CSV tables and ``.npz`` -- :func:`read_table_spectrum`
* quasar catalogs (DR12Q, DR16Q, DESI redshift tables) -- :func:`read_quasar_catalog`

:func:`read_spectrum` reads any of them; :func:`iter_spectra` walks paths, globs and
directories and yields a Sightline or the :class:`~dla_cnn.exceptions.SightlineError`
in its place, so a batch never stops on one bad file.  Spectra off the SDSS grid are
rebinned with :func:`rebin_to_sdss_grid`.
"""

# Each format module registers its spectrum formats on import; this import order is the
# order they are listed in (FORMATS, error messages).  Sniffing goes by priority.
from dla_cnn.io.boss import read_boss_spec, write_boss_spec
from dla_cnn.io.sdss import read_spplate, read_spspec
from dla_cnn.io.desi import read_desi_coadd
from dla_cnn.io.table import read_table_spectrum
from dla_cnn.io.dispatch import (
    FORMATS,
    expand_inputs,
    iter_sightlines,
    iter_spectra,
    read_spectrum,
    sniff_format,
)
from dla_cnn.io.qsocat import catalog_redshift, read_quasar_catalog, redshift_lookup
from dla_cnn.io.rebin import coadd_on_grid, rebin_to_sdss_grid
from dla_cnn.io.registry import register_format, register_identifier, registered_formats, unregister_format

__all__ = [
    "FORMATS",
    "catalog_redshift",
    "coadd_on_grid",
    "expand_inputs",
    "iter_sightlines",
    "iter_spectra",
    "read_boss_spec",
    "read_desi_coadd",
    "read_quasar_catalog",
    "read_spectrum",
    "read_spplate",
    "read_spspec",
    "read_table_spectrum",
    "rebin_to_sdss_grid",
    "redshift_lookup",
    "register_format",
    "register_identifier",
    "registered_formats",
    "sniff_format",
    "unregister_format",
    "write_boss_spec",
]
