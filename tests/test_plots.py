"""Tests of the figures (dla_cnn.plots), made on the figure objects themselves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from astropy.table import Table
from matplotlib.container import ErrorbarContainer

from dla_cnn import grid
from dla_cnn.physics.voigt import transmission
from dla_cnn.plots import absorber_model, plot_sightline, sightline_figure
from dla_cnn.plots.vet import binned_figure
from dla_cnn.scan.detect import Detection
from dla_cnn.sightline import Sightline
from dla_cnn.vet.metrics import binomial_interval

Z_QSO = 3.0
FOREST = 1.5
"""Continuum level of the synthetic forest, in units of the 1420-1480 A median."""


def _detection(z: float, log_nhi: float, kind: str = "DLA", confidence: float = 0.9) -> Detection:
    nan = float("nan")
    return Detection(nan, z, 0.001, log_nhi, 0.1, confidence, kind, grid.LYA_REST * (1 + z), nan, nan, nan, nan)


def _spectrum(absorbers=()) -> tuple[int, np.ndarray]:
    """Start index and noiseless flux: a flat forest at FOREST, a strong Ly-alpha emission line, 1 redward."""
    start = grid.loglam_to_index(np.log10(3550.0))
    lam = 10.0 ** ((start + np.arange(6000)) * grid.DLOGLAM)
    rest = lam / (1 + Z_QSO)
    flux = np.where(rest < grid.LYA_REST, FOREST, 1.0) + 7.0 * np.exp(-0.5 * ((rest - grid.LYA_REST) / 5.0) ** 2)
    for z, log_nhi in absorbers:
        flux = flux * transmission(lam, log_nhi, z, 30.0)
    return start, flux


def _sightline(absorbers=(), seed: int = 1) -> Sightline:
    """:func:`_spectrum` with Gaussian noise."""
    start, flux = _spectrum(absorbers)
    sigma = 0.03
    flux = flux + np.random.default_rng(seed).normal(0.0, sigma, flux.size)
    return Sightline("7001-57001-0001", Z_QSO, start, flux, np.full(flux.size, 1 / sigma**2))


# --------------------------------------------------------------------------- the absorbers' model
def _noiseless(sl: Sightline, absorbers=()) -> np.ndarray:
    """The noiseless flux of :func:`_sightline` on its window, normalised as plotted."""
    start, flux = _spectrum(absorbers)
    return flux[sl.window().start_index - start:][: grid.N_WINDOW] / sl.norm_flux()


def test_model_follows_the_data_up_to_lyman_alpha_emission():
    sl = _sightline([(2.6, 20.8)])
    lam, continuum, model = absorber_model(sl, [_detection(2.6, 20.8)])
    z_min, z_max = sl.search_z_range()
    end = grid.LYA_REST * (1 + z_max)
    on_path = (lam >= grid.LYA_REST * (1 + z_min)) & (lam <= end)
    assert np.isfinite(model[on_path]).all() and np.isnan(model[~on_path]).all()
    # the last 150 A of the path, where an envelope reaching onto the emission line rose
    # several times above the data
    near = (lam > end - 150.0) & (lam <= end)
    data = _noiseless(sl, [(2.6, 20.8)])
    assert np.abs(model[near] / data[near] - 1).max() < 0.15
    away = on_path & (np.abs(lam - grid.LYA_REST * 3.6) > 60.0)
    assert np.abs(continuum[away] / _noiseless(sl)[away] - 1).max() < 0.1
    core = np.abs(lam - grid.LYA_REST * 3.6) < 3.0
    assert model[core].max() < 0.05 * FOREST


def test_model_is_in_the_units_of_the_plotted_flux():
    sl = _sightline()
    win = sl.window()
    _, _, model = absorber_model(sl, [_detection(2.6, 20.8)])
    fig = sightline_figure(sl, [_detection(2.6, 20.8)])
    drawn = next(line for line in fig.axes[0].get_lines() if line.get_gid() == "absorber_model")
    np.testing.assert_allclose(drawn.get_ydata(), model)
    flux = next(line for line in fig.axes[0].get_lines() if line.get_label().startswith("flux"))
    np.testing.assert_allclose(flux.get_ydata(), np.where(win.valid, win.flux, np.nan))


def test_lyb_detections_are_not_modelled():
    sl = _sightline()
    _, continuum, model = absorber_model(sl, [_detection(2.6, 20.8, "LYB")])
    np.testing.assert_allclose(model, continuum)


# --------------------------------------------------------------------------- layout
def _label_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.axes[0].texts if "z=" in t.get_text()]
    return texts, [t.get_window_extent(renderer) for t in texts]


@pytest.mark.parametrize("dz", [0.002, 0.02, 0.05])
def test_labels_of_close_absorbers_do_not_overlap(dz):
    sl = _sightline()
    dets = [_detection(2.6, 20.6), _detection(2.6 + dz, 20.0, "SUBDLA", 0.7), _detection(2.62 + dz, 19.5, "SUBDLA"),
            _detection(2.9, 20.4)]
    fig = sightline_figure(sl, dets, np.zeros(grid.N_WINDOW), np.zeros(grid.N_WINDOW))
    texts, boxes = _label_boxes(fig)
    assert len(texts) == 4
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    title = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    axes_box = fig.axes[0].get_window_extent()
    for box in boxes:
        assert not box.overlaps(title) and box.y0 >= axes_box.y1
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height


def test_distant_absorbers_share_a_label_row():
    fig = sightline_figure(_sightline(), [_detection(2.3, 20.6), _detection(2.9, 20.4)])
    _, boxes = _label_boxes(fig)
    assert boxes[0].y0 == pytest.approx(boxes[1].y0)


def test_model_panel_shares_the_data_x_range():
    sl = _sightline()
    fig = sightline_figure(sl, [_detection(2.6, 20.8)], np.full(grid.N_WINDOW, 0.2), np.zeros(grid.N_WINDOW))
    fig.canvas.draw()
    data, curves = fig.axes
    assert data.get_xlim() == curves.get_xlim()
    assert data.get_shared_x_axes().joined(data, curves)
    win = sl.window()
    lam = 10.0**win.loglam[win.valid]
    lo, hi = data.get_xlim()
    assert lo <= lam.min() and hi >= lam.max() and (hi - lo) < 1.02 * (lam.max() - lam.min())


def test_plot_sightline_writes_the_png(tmp_path):
    path = plot_sightline(_sightline(), tmp_path / "a" / "s.png", [_detection(2.6, 20.8)])
    assert path == tmp_path / "a" / "s.png" and path.read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- vetting figures
def _binned_table() -> Table:
    return Table({
        "lo": [19.0, 19.5, 20.3, 20.6, 21.0], "hi": [19.5, 20.3, 20.6, 21.0, 23.0],
        "n_true": [4, 5, 8, 0, 3],
        "completeness_dla": [0.0, 0.2, 0.875, np.nan, 1.0],
        "completeness_any": [0.25, 0.6, 1.0, np.nan, 1.0],
        "n_pred_dla": [0, 0, 7, 2, 3],
        "purity": [np.nan, np.nan, 6 / 7, 0.5, 1.0],
    })


def _series(ax) -> dict[str, ErrorbarContainer]:
    return {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}


def test_binned_rates_carry_wilson_error_bars():
    table = _binned_table()
    fig = binned_figure(table, "log N_HI", "vs N_HI", dla_min=20.3)
    series = _series(fig.axes[0])
    purity = series["purity"]
    x, y = purity.lines[0].get_data()
    np.testing.assert_allclose(y, [6 / 7, 0.5, 1.0])
    lo, hi = binomial_interval([6, 1, 3], [7, 2, 3])
    segments = np.array(purity.lines[2][0].get_segments())
    np.testing.assert_allclose(segments[:, 0, 1], lo)
    np.testing.assert_allclose(segments[:, 1, 1], hi)
    assert all(lo_ < v <= hi_ for lo_, v, hi_ in zip(lo, y, hi))


def test_sub_dla_bins_are_contamination_not_completeness():
    fig = binned_figure(_binned_table(), "log N_HI", "vs N_HI", dla_min=20.3)
    series = _series(fig.axes[0])
    contamination = next(c for label, c in series.items() if "contamination" in label)
    assert "sub-DLA" in contamination.get_label()
    np.testing.assert_allclose(np.round(contamination.lines[0].get_xdata()), [0, 1])
    np.testing.assert_allclose(np.round(series["completeness (as DLA)"].lines[0].get_xdata()), [2, 4])
    snr = _series(binned_figure(_binned_table(), "S/N", "vs S/N").axes[0])
    assert not any("contamination" in label for label in snr)


def test_completeness_ceiling_is_drawn_in_dla_bins_only():
    table = _binned_table()
    table["completeness_ceiling"] = [np.nan, np.nan, 0.7, np.nan, 0.99]
    ax = binned_figure(table, "log N_HI", "vs N_HI", dla_min=20.3).axes[0]
    line = next(ln for ln in ax.lines if "ideal finder" in ln.get_label())
    x, y = line.get_data()
    np.testing.assert_allclose(np.round(x), [2, 4])
    np.testing.assert_allclose(y, [0.7, 0.99])
    assert not any("ideal finder" in ln.get_label() for ln in binned_figure(_binned_table(), "S/N", "vs S/N").axes[0].lines)


def test_counts_are_shown_and_the_legend_does_not_hide_them():
    fig = binned_figure(_binned_table(), "log N_HI", "vs N_HI", dla_min=20.3)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    counts = [t for ax in fig.axes for t in ax.texts if t.get_gid() == "bin_count"]
    assert sorted(t.get_text() for t in counts) == sorted(str(n) for n in [4, 5, 8, 0, 3, 0, 0, 7, 2, 3])
    legend = fig.legends[0].get_window_extent(renderer)
    for text in counts:
        assert not legend.overlaps(text.get_window_extent(renderer))
    for ax in fig.axes:
        assert not legend.overlaps(ax.get_window_extent(renderer))


def test_empty_binned_table_draws():
    fig = binned_figure(Table(), "S/N", "vs S/N")
    fig.canvas.draw()
    assert not fig.legends
