"""Sightline ids and spec file names are written one way by every stage."""

from dla_cnn.ids import format_sightline_id, parse_sightline_id, sightline_id_prefix, spec_file_name


def test_ids_pad_plate_and_fiber_and_round_trip():
    assert format_sightline_id(266, 51602, 3) == "0266-51602-0003"
    assert parse_sightline_id("0266-51602-0003") == (266, 51602, 3)
    assert parse_sightline_id(" 7001-57001-0012 ") == (7001, 57001, 12)
    assert parse_sightline_id("J1234+5678") is None
    assert spec_file_name(266, 51602, 3) == "spec-0266-51602-0003.fits"
    assert format_sightline_id(266, 51602, 3).startswith(sightline_id_prefix(266, 51602))


def test_every_stage_writes_the_same_id():
    import numpy as np

    from dla_cnn.catalog import format_sightline_id as catalog_format
    from dla_cnn.io._common import sightline_id_from
    from dla_cnn.scan.pipeline import id_from_path
    from dla_cnn.simulate.sightlines import simulate_sightline

    assert catalog_format is format_sightline_id and sightline_id_from is format_sightline_id
    assert id_from_path("/data/spec-0266-51602-0003.fits.gz")[0] == "0266-51602-0003"
    sl, _ = simulate_sightline(np.random.default_rng(0), index=4, seed=1, z_qso=2.5)
    assert sl.sightline_id == format_sightline_id(sl.plate, sl.mjd, sl.fiber)
