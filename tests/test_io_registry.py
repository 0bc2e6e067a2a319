"""The spectrum format registry: a format added by registration is sniffed and read by
the dispatcher, identifiers are tried by priority, and unregistering restores the rest."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dla_cnn.exceptions import ConfigError, UnknownFormatError
from dla_cnn.io import (
    FORMATS,
    iter_spectra,
    read_spectrum,
    register_format,
    register_identifier,
    registered_formats,
    sniff_format,
    unregister_format,
    write_boss_spec,
)
from dla_cnn.sightline import Sightline

START = 35563


@contextlib.contextmanager
def registered(name, identify, read, priority, **kw):
    """Register a format for the duration of a block, and always unregister it."""
    register_format(name, identify, read, priority, **kw)
    try:
        yield
    finally:
        unregister_format(name)


def _toy_sightline(path: str, name: str, z: float) -> Sightline:
    n = 400
    return Sightline(name, z, START, np.ones(n), np.ones(n), np.zeros(n, bool),
                     provenance={"file": path, "format": name})


def _reader(name: str):
    def read(source, z_qso, zmap, engine):
        yield _toy_sightline(source.path, name, 2.7 if z_qso is None else float(z_qso))

    return read


def _is_toy(source) -> bool:
    return source.head.startswith(b"TOYSPEC")


def test_registered_toy_format_is_sniffed_and_read(tmp_path):
    path = tmp_path / "spec-7001-57001-0012.fits"  # a misleading name: content decides
    path.write_bytes(b"TOYSPEC v1\n1 2 3\n")
    with pytest.raises(UnknownFormatError, match="text that is not an ECSV/CSV spectrum table"):
        sniff_format(path)
    assert registered_formats() == FORMATS

    with registered("toy", _is_toy, _reader("toy"), priority=5, fits=False, aliases=("Toy-Spectrum",)):
        assert registered_formats() == FORMATS + ("toy",)
        assert sniff_format(path) == "toy"
        (sl,) = read_spectrum(path)
        assert sl.sightline_id == "toy" and sl.provenance["format"] == "toy" and sl.z_qso == pytest.approx(2.7)
        (sl,) = read_spectrum(path, format="toy-spectrum", z_qso=3.1)
        assert sl.z_qso == pytest.approx(3.1)
        assert [s.sightline_id for s in iter_spectra([path])] == ["toy"]
        with pytest.raises(ConfigError, match=r"choose from .*npz, toy$"):
            read_spectrum(path, format="nonsense")
        # a non-FITS format is never asked about FITS content, and vice versa
        boss = write_boss_spec(_toy_sightline("x", "7001-57001-0012", 3.0), tmp_path / "boss.fits")
        assert sniff_format(boss) == "boss-spec"

    assert registered_formats() == FORMATS
    with pytest.raises(UnknownFormatError, match="text that is not an ECSV/CSV spectrum table"):
        read_spectrum(path)
    with pytest.raises(ConfigError, match="unknown spectrum format 'toy'"):
        read_spectrum(path, format="toy")


def test_identifiers_are_tried_in_priority_order(tmp_path):
    boss = write_boss_spec(_toy_sightline("x", "7001-57001-0012", 3.0), tmp_path / "boss.fits")
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((3, 3))).writeto(image)
    csv = tmp_path / "table.csv"
    Table({"loglam": (START + np.arange(50)) * 1e-4, "flux": np.ones(50), "ivar": np.ones(50)}).write(
        csv, format="ascii.csv")
    asked = []

    def any_fits(source) -> bool:
        asked.append(source.path)
        return source.hdul is not None

    # boss-spec (priority 20) comes before a format at 45; an unclaimed file reaches it
    with registered("toy-late", any_fits, _reader("toy-late"), priority=45):
        assert sniff_format(boss) == "boss-spec"
        assert sniff_format(image) == "toy-late"
        assert read_spectrum(image)[0].sightline_id == "toy-late"
        assert sniff_format(csv) == "table-csv"
        assert str(csv) not in asked  # a FITS format is not asked about other content

        # a format at 15 comes before boss-spec; a tie goes to the one registered first
        register_format("toy-early", any_fits, _reader("toy-early"), priority=15)
        register_format("toy-tie", any_fits, _reader("toy-tie"), priority=15)
        try:
            assert sniff_format(boss) == "toy-early"
            assert read_spectrum(boss)[0].sightline_id == "toy-early"
            unregister_format("toy-early")
            assert sniff_format(boss) == "toy-tie"
        finally:
            for name in ("toy-early", "toy-tie"):
                if name in registered_formats():
                    unregister_format(name)
        assert sniff_format(boss) == "boss-spec"

        # a further identifier lets a format claim files at a second priority
        register_identifier("toy-late", lambda source: "COADD" in source.hdul, priority=1)
        assert sniff_format(boss) == "toy-late"

    assert registered_formats() == FORMATS
    assert sniff_format(boss) == "boss-spec"
    with pytest.raises(UnknownFormatError, match=r"FITS file \(HDUs: PRIMARY\) is not a spectrum format"):
        sniff_format(image)
    with pytest.raises(KeyError):
        unregister_format("toy-late")


def test_registering_a_name_again_replaces_the_format(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"TOYSPEC\n")
    with registered("toy", _is_toy, _reader("first"), priority=5, fits=False):
        register_format("toy", _is_toy, _reader("second"), priority=5, fits=False)
        assert registered_formats().count("toy") == 1
        assert read_spectrum(path)[0].sightline_id == "second"
    assert registered_formats() == FORMATS
