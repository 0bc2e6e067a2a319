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


def test_column_helpers_find_aliases_and_fill_masks():
    import numpy as np
    from astropy.table import MaskedColumn

    from dla_cnn.columns import filled, find_name

    names = ["PLATE", "Z_VI", "fiberID"]
    assert find_name(names, ["fiber", "fiberid"]) == "fiberID"
    assert find_name(names, ["z-vi"]) is None and find_name(names, ["z-vi"], fuzzy=True) == "Z_VI"
    col = MaskedColumn([1, 2, 3], mask=[False, True, False])
    assert filled(col, -1).tolist() == [1, -1, 3]
    out = filled(col, np.nan, float)
    assert np.isnan(out[1]) and out[2] == 3.0
    assert filled(np.array([4, 5]), -1).tolist() == [4, 5]
