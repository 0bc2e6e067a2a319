"""``dla-cnn demo``: the packaged sample sightlines, scanned, catalogued and vetted end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dla_cnn.cli._app import _command_line, _fail, _for_inference, app, out
from dla_cnn.exceptions import DlaCnnError


# --------------------------------------------------------------------------- demo
@app.command()
def demo(
    out_path: Path = typer.Option(Path("catalogs/demo.fits"), "--out", help="Catalog to write."),
    plots: Optional[Path] = typer.Option(Path("catalogs/demo_plots"), "--plots", help="Directory for figures."),
) -> None:
    """Scan the packaged sample sightlines with the packaged model, write a catalog and vet it."""
    _for_inference()
    import time

    from rich.table import Table as RichTable

    from dla_cnn.assets import sample_spectra_dir, sample_truth_path
    from dla_cnn.scan.builder import build_catalog
    from dla_cnn.vet import vet_files, vet_plots

    t0 = time.perf_counter()
    try:
        res = build_catalog(sample_spectra_dir(), out_path, command=_command_line())
        report = vet_files(out_path, sample_truth_path())
    except DlaCnnError as err:
        _fail(err)
    dt = time.perf_counter() - t0
    from dla_cnn.catalog import read_catalog

    absorbers, sightlines, _ = read_catalog(out_path)
    tab = RichTable(title=f"absorbers in the {res['n_sightlines']} packaged sample sightlines")
    for col in ("sightline", "type", "z_abs", "log N_HI", "confidence"):
        tab.add_column(col, justify="right")
    for r in absorbers:
        tab.add_row(str(r["sightline_id"]), str(r["type"]), f"{r['z_abs']:.4f} +- {r['z_abs_err']:.4f}",
                    f"{r['log_nhi']:.2f} +- {r['log_nhi_err']:.2f}", f"{r['confidence']:.2f}")
    out.print(tab)
    out.print(f"wrote {res['path']} ({res['n_ok']} sightlines searched, {res['n_dla']} DLAs, "
              f"{res['n_subdla']} sub-DLAs) in {dt:.1f} s")
    out.print(f"against the simulated truth: completeness (as DLA) {report.completeness_dla:.2f}, "
              f"purity {report.purity:.2f}, robust sigma(dz) {report.dz_mad_std:.4f}, "
              f"dlog N median {report.dlogn_median:+.2f}, robust sigma {report.dlogn_mad_std:.2f} (1.4826 MAD)")
    if plots is not None:
        from dla_cnn.plots import plot_catalog_summary

        plot_catalog_summary(absorbers, sightlines, Path(plots) / "summary.png")
        vet_plots(report, plots)
        out.print(f"figures in {plots}")
