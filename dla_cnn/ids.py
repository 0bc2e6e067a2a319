"""SDSS/BOSS sightline identifiers and spectrum file names, written one way everywhere.

A sightline id is ``PLATE-MJD-FIBER`` with plate and fiber zero-padded to four digits
(``7001-57001-0012``), as SDSS file names write them.  This module sits below every stage
(readers, simulator, scanner, catalogs) so each can use it without importing the others.
"""

from __future__ import annotations

import re

_ID_RE = re.compile(r"^\s*(\d+)-(\d+)-(\d+)\s*$")


def format_sightline_id(plate: int, mjd: int, fiber: int) -> str:
    """The SDSS/BOSS sightline id ``PLATE-MJD-FIBER``, plate and fiber zero-padded to 4.

    Parameters
    ----------
    plate, mjd, fiber : int
        SDSS plate, MJD of the observation and fiber.

    Returns
    -------
    str
        E.g. ``format_sightline_id(7001, 57001, 12) == '7001-57001-0012'``.

    >>> format_sightline_id(7001, 57001, 12)
    '7001-57001-0012'
    """
    return f"{int(plate):04d}-{int(mjd):d}-{int(fiber):04d}"


def parse_sightline_id(sightline_id: str) -> tuple[int, int, int] | None:
    """``(plate, mjd, fiber)`` of a ``PLATE-MJD-FIBER`` id, or None for any other id.

    Parameters
    ----------
    sightline_id : str
        A sightline id (SDSS/BOSS ``PLATE-MJD-FIBER``, a DESI TARGETID, any other name).

    Returns
    -------
    tuple of int or None
        ``(plate, mjd, fiber)``; None when the id is not of the SDSS form.
    """
    m = _ID_RE.match(str(sightline_id))
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def spec_file_name(plate: int, mjd: int, fiber: int, suffix: str = ".fits") -> str:
    """BOSS ``spec-PLATE-MJD-FIBER.fits`` file name of a sightline."""
    return f"spec-{format_sightline_id(plate, mjd, fiber)}{suffix}"


def sightline_id_prefix(plate: int, mjd: int) -> str:
    """The ``PLATE-MJD-`` part shared by the sightline ids of one plate and night."""
    return f"{int(plate):04d}-{int(mjd):d}-"
