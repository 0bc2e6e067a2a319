"""Labels, injection and HDF5 training sets."""

import hashlib

import h5py
import numpy as np
import pytest

from dla_cnn import grid
from dla_cnn.sightline import Sightline
from dla_cnn.training import (
    RECIPE_VERSION,
    BuildConfig,
    InjectionConfig,
    absorber_centre,
    build_training_set,
    draw_injections,
    inject_into_sightline,
    make_labels,
    pixel_to_z,
    read_attrs,
)

START = 35500


def _z_at(pixel):
    return float(pixel_to_z(pixel, START))


def test_single_absorber_labels_pixel_by_pixel():
    z = _z_at(700.3)
    cls, off, nhi = make_labels(START, [z], [20.8])
    assert absorber_centre(z, START) == pytest.approx(700.3)
    pos = np.flatnonzero(cls == 1)
    np.testing.assert_array_equal(pos, np.arange(641, 761))  # |i - 700.3| <= 60
    np.testing.assert_allclose(off[pos], 700.3 - pos, atol=1e-4)
    np.testing.assert_allclose(nhi[pos], 20.8)
    assert (off[cls != 1] == 0).all() and (nhi[cls != 1] == 0).all()
    # 61-120 px away: ignored; beyond: negative (except the Ly-beta region)
    assert (cls[581:641] == -1).all() and (cls[761:821] == -1).all()
    assert cls[579] == 0 and cls[822] == 0
    lyb = absorber_centre(z, START, grid.LYB_REST)
    assert lyb < 0  # Ly-beta falls off the blue edge for this absorber
    z2 = _z_at(1500.0)
    cls2, _, _ = make_labels(START, [z2], [21.0])
    lyb2 = absorber_centre(z2, START, grid.LYB_REST)
    assert 0 < lyb2 < 1748
    i = int(round(lyb2))
    assert (cls2[i - 59: i + 60] == -1).all()


def test_absorber_near_window_edges_is_clipped():
    for centre, expect in ((20.0, np.arange(0, 81)), (1740.5, np.arange(1681, 1748)), (-30.0, np.arange(0, 31))):
        cls, off, _ = make_labels(START, [_z_at(centre)], [21.0])
        pos = np.flatnonzero(cls == 1)
        np.testing.assert_array_equal(pos, expect)
        np.testing.assert_allclose(off[pos], centre - pos, atol=1e-3)
        assert cls[-1] != 1 or centre > 1600  # no wrap-around to the other edge
        assert cls[0] != 1 or centre < 100


def test_overlapping_pair_uses_nearest_centre():
    a, b = 800.0, 860.0
    cls, off, nhi = make_labels(START, [_z_at(a), _z_at(b)], [20.5, 21.5])
    pos = np.flatnonzero(cls == 1)
    np.testing.assert_array_equal(pos, np.arange(740, 921))
    for i in pos:
        nearest = a if abs(i - a) <= abs(i - b) else b
        assert off[i] == pytest.approx(nearest - i, abs=1e-3)
        assert nhi[i] == pytest.approx(20.5 if nearest == a else 21.5)


def test_weak_and_ambiguous_absorbers():
    cls, _, _ = make_labels(START, [_z_at(900.0)], [18.0])  # an LLS: a negative
    assert (cls == 0).all()
    cls, _, _ = make_labels(START, [_z_at(900.0)], [19.1])  # ambiguous: ignored, not positive
    assert (cls[780:1021] == -1).all() and (cls == 1).sum() == 0


def test_draw_injections_respects_path_and_config():
    rng = np.random.default_rng(0)
    cfg = InjectionConfig()
    counts = []
    for _ in range(500):
        z, n, b = draw_injections(rng, 2.1, 2.9, cfg)
        counts.append(len(z))
        assert ((z >= 2.1) & (z <= 2.9)).all()
        assert ((n >= 19.3) & (n <= 22.5)).all() and ((b >= 20) & (b <= 40)).all()
    counts = np.array(counts)
    assert 0.15 < (counts == 0).mean() < 0.25
    assert counts.max() == 3


def test_injection_into_real_spectrum_restores_variance():
    rng = np.random.default_rng(1)
    n = 3000
    sigma = 0.5
    flux = 10.0 + sigma * rng.standard_normal(n)
    sl = Sightline("1-2-0003", 2.8, 35600, flux, np.full(n, 1 / sigma**2))
    z = float(10 ** ((35600 + 1500) * 1e-4) / grid.LYA_REST - 1)
    out = inject_into_sightline(sl, [z], [21.5], [30.0], rng)
    core = slice(1490, 1511)
    assert abs(np.mean(out.flux[core])) < 0.3  # saturated: flux ~ 0
    assert np.std(out.flux[core] - np.mean(out.flux[core])) == pytest.approx(sigma, rel=0.4)
    np.testing.assert_array_equal(out.ivar, sl.ivar)
    np.testing.assert_allclose(out.flux[2900:], flux[2900:], rtol=0.01)  # far red of the absorber
    assert np.abs(out.flux[:200]).mean() < 0.5  # below its Lyman limit (pixel ~253) no flux is left
    assert sl.flux is flux  # the input is untouched


def test_build_is_reproducible_and_labelled(tmp_path):
    cfg = BuildConfig(n_sightlines=70, seed=4, chunk_rows=32)
    a = build_training_set(tmp_path / "a.h5", cfg, workers=1)
    b = build_training_set(tmp_path / "b.h5", cfg, workers=2)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    attrs = read_attrs(a)
    assert attrs["config"]["seed"] == 4 and attrs["n_sightlines"] == 70
    assert attrs["recipe_version"] == attrs["config"]["recipe_version"] == RECIPE_VERSION >= 2
    with h5py.File(a) as f:
        assert f["inputs"].shape == (70, 1748, 2)
        assert f["inputs"].chunks[0] == 64 and f["inputs"].compression == "lzf"
        cls, off = f["label_class"][:], f["label_offset"][:]
        absorbers, start = f["absorbers"][:], f["start_index"][:]
        assert set(np.unique(f["split"][:])) <= {0, 1, 2}
        # every labelled absorber >= 19.3 in the window has positives around its centre
        for row in range(70):
            for z, log_n, _b in absorbers[row][~np.isnan(absorbers[row][:, 0])]:
                c = absorber_centre(z, int(start[row]))
                if log_n >= 19.3 and 0 <= c < 1748:
                    i = int(np.clip(round(c), 0, 1747))
                    assert cls[row, i] == 1
                    assert abs(off[row, i] - (c - i)) < 1.0
        weight = f["inputs"][:, :, 1]
        assert ((weight >= 0) & (weight <= 1)).all()
    c = BuildConfig(n_sightlines=70, seed=5, chunk_rows=32)
    other = build_training_set(tmp_path / "c.h5", c, workers=1)
    assert hashlib.sha256(other.read_bytes()).digest() != hashlib.sha256(a.read_bytes()).digest()


def test_split_is_by_host():
    from dla_cnn.training.dataset import split_of

    assert split_of("7001-57001-0012") == split_of("7001-57001-0012")
    splits = np.array([split_of(f"sim-0-{i}") for i in range(5000)])
    assert np.mean(splits == 0) == pytest.approx(0.8, abs=0.03)
    assert np.mean(splits == 2) == pytest.approx(0.1, abs=0.02)


def test_build_from_real_format_host_files(tmp_path):
    """Hosts read from BOSS spec files; catalogued absorbers exclude their sightlines."""
    from astropy.table import Table

    from dla_cnn.simulate import SIMULATOR_VERSION
    from dla_cnn.simulate.export import simulate_to_directory
    from dla_cnn.training import collect_hosts

    res = simulate_to_directory(tmp_path / "hosts", 4, seed=12)
    ids = sorted(p.name[5:-5] for p in (tmp_path / "hosts").glob("spec-*.fits"))
    Table({"sightline_id": [ids[0]], "z_abs": [2.5], "log_nhi": [20.5]}).write(tmp_path / "known.ecsv")
    hosts, problems = collect_hosts(tmp_path / "hosts", exclude_catalog=tmp_path / "known.ecsv")
    host_ids = {h.host_id for h in hosts}
    assert ids[0] not in host_ids and any(ids[0] in p for p in problems)
    assert host_ids <= set(ids[1:]) and len(host_ids) >= 2
    cfg = BuildConfig(n_sightlines=40, seed=2, source=str(tmp_path / "hosts"), chunk_rows=16)
    out = build_training_set(tmp_path / "real.h5", cfg, hosts=hosts)
    with h5py.File(out) as f:
        assert f["inputs"].shape == (40, 1748, 2)
        assert set(f["host_id"][:].astype(str)) <= host_ids
        # the split follows the host: every row of one host is in the same split
        by_host = {}
        for h, s in zip(f["host_id"][:].astype(str), f["split"][:]):
            by_host.setdefault(h, set()).add(int(s))
        assert all(len(s) == 1 for s in by_host.values())
        assert (f["label_class"][:] == 1).any()
    truth = Table.read(res["truth"])  # DLA-free hosts: only their natural sub-DLAs are in the truth
    assert len(truth) == res["n_truth"]
    assert truth.meta["seed"] == 12 and truth.meta["simulator_version"] == SIMULATOR_VERSION
    assert set(truth["kind"]) <= {"natural"} and ((truth["log_nhi"] >= 19.0) & (truth["log_nhi"] < 20.3)).all()
