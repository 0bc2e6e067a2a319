"""Commands that read catalogs: ``vet``, ``plot``, ``report`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from dla_cnn.cli._app import _command_line, _fail, _for_inference, _rate_progress, app, console, out
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.exceptions import DlaCnnError


# --------------------------------------------------------------------------- vet
@app.command()
def vet(
    catalog_path: Path = typer.Argument(..., help="dla-cnn catalog (FITS or ECSV)."),
    truth: Path = typer.Argument(..., help="Truth table: dla-cnn truth ECSV or a published DLA catalog."),
    dz: float = typer.Option(0.015, "--dz", help="Match window |z_det - z_true|."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Directory for the vetting figures."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON."),
) -> None:
    """Completeness, purity, redshift and N_HI accuracy of a catalog against a truth catalog."""
    from rich.table import Table as RichTable

    from dla_cnn.vet import vet_files, vet_plots

    try:
        report = vet_files(catalog_path, truth, dz=dz)
    except (DlaCnnError, OSError, ValueError) as err:
        _fail(err)
    tab = RichTable(title=f"vetting {catalog_path.name} against {truth.name}")
    for col in ("metric", "value", "detail"):
        tab.add_column(col)
    for metric, value, detail in report.summary_rows():
        if isinstance(value, float) and value != value:  # NaN: a target not reached, or nothing to measure
            text = "not reached" if "threshold" in metric else "n/a"
        else:
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
        tab.add_row(metric, text, "" if text == "not reached" and "nan" in str(detail) else str(detail))
    out.print(tab)
    if json_out:
        json_out.write_text(report.to_json())
    if plots:
        for p in vet_plots(report, plots):
            out.print(f"wrote {p}")


# --------------------------------------------------------------------------- plot
@app.command()
def plot(
    spectrum: Optional[Path] = typer.Argument(None, help="A spectrum file to draw."),
    catalog_path: Optional[Path] = typer.Option(None, "--catalog", help="Catalog whose absorbers to draw (else the model is run)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Draw the summary figure of this catalog."),
    out_path: Path = typer.Option(Path("dla_cnn_plot.png"), "--out", help="Output PNG."),
    z_qso: Optional[float] = typer.Option(None, "--z-qso", help="Quasar redshift."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model .keras file or packaged model name."),
) -> None:
    """Draw a sightline with its absorbers and the model's curves, or a catalog summary."""
    _for_inference()
    from dla_cnn import plots

    try:
        if summary is not None:
            from dla_cnn.catalog import read_catalog

            absorbers, sightlines, _ = read_catalog(summary)
            out.print(f"wrote {plots.plot_catalog_summary(absorbers, sightlines, out_path)}")
            return
        if spectrum is None:
            raise typer.BadParameter("give a SPECTRUM or --summary CATALOG")
        from dla_cnn.io import read_spectrum
        from dla_cnn.scan.pipeline import Scanner

        sl = read_spectrum(str(spectrum), z_qso=z_qso)[0]
        scanner = Scanner(model)
        res = next(iter(scanner.scan([sl], keep_curves=True)))
        dets = res.detections
        if catalog_path is not None:
            from dla_cnn.catalog import read_catalog
            from dla_cnn.scan.detect import Detection

            absorbers, _, _ = read_catalog(catalog_path)
            rows = absorbers[absorbers["sightline_id"] == sl.sightline_id]
            dets = [Detection(np.nan, float(r["z_abs"]), float(r["z_abs_err"]), float(r["log_nhi"]), float(r["log_nhi_err"]),
                              float(r["confidence"]), str(r["type"]), float(np.asarray(r["lambda_obs"])), np.nan, np.nan,
                              np.nan, np.nan) for r in rows]
        out.print(f"wrote {plots.plot_sightline(sl, out_path, dets, res.prob, res.votes)}")
    except DlaCnnError as err:
        _fail(err)


# --------------------------------------------------------------------------- report
@app.command()
def report(
    catalog_path: Path = typer.Argument(..., help="dla-cnn catalog (FITS or ECSV)."),
    out_dir: Path = typer.Option(..., "--out", help="Report directory (open OUT/index.html in a browser)."),
    spectra: Optional[Path] = typer.Option(None, "--spectra", help="Directory of the catalog's spectra (for the figures)."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="Truth table: add the vetting metrics and figures."),
    sightlines: str = typer.Option("absorbers", "--sightlines", help="Sightline pages for: absorbers, all or none."),
    max_sightlines: Optional[int] = typer.Option(None, "--max-sightlines", help="At most this many sightline pages."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model drawing the per-pixel curves (default: packaged)."),
    curves: bool = typer.Option(True, "--curves/--no-curves", help="Run the model for its curves (with --spectra)."),
) -> None:
    """Write a static HTML report of a catalog: index, absorber table, one page per sightline."""
    import time

    from dla_cnn.report import write_report

    if spectra is not None and curves:
        _for_inference()
    t0 = time.perf_counter()
    try:
        with _rate_progress("report", None, t0) as step:
            res = write_report(catalog_path, out_dir, spectra=spectra, truth=truth, sightlines=sightlines,
                               max_sightlines=max_sightlines, model=model, curves=curves,
                               progress=step, command=_command_line())
    except DlaCnnError as err:
        _fail(err)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    out.print(f"wrote {res.index} ({res.n_pages} sightline pages, {res.n_spectra} with spectra) "
              f"in {time.perf_counter() - t0:.1f} s")


# --------------------------------------------------------------------------- export
@app.command()
def export(
    catalog_path: Path = typer.Argument(..., help="dla-cnn catalog (FITS or ECSV)."),
    fmt: str = typer.Option("picca", "--format", help="Output format: picca (DLA catalog, HDU DLACAT)."),
    out_path: Path = typer.Option(..., "--out", help="File to write."),
    min_log_nhi: float = typer.Option(DLA_MIN_LOG_NHI, "--min-log-nhi", help="Export absorbers with log N_HI at or above this."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence",
                                                   help="Export absorbers at or above this confidence (default: all in the catalog)."),
    id_column: str = typer.Option("auto", "--id-column", help="Line-of-sight id: auto, THING_ID (SDSS/BOSS) or TARGETID (DESI)."),
) -> None:
    """Write a catalog's absorbers in another program's format (picca's DLA mask catalog)."""
    from dla_cnn.catalog.export import EXPORT_FORMATS, export_picca

    try:
        if fmt.lower() not in EXPORT_FORMATS:
            from dla_cnn.exceptions import ConfigError

            raise ConfigError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")
        res = export_picca(catalog_path, out_path, min_log_nhi=min_log_nhi, min_confidence=min_confidence,
                           id_column=id_column)
    except DlaCnnError as err:
        _fail(err)
    out.print(f"wrote {res.path}: {res.n_dla} absorbers on {res.n_los} lines of sight (HDU DLACAT, {res.id_column})",
              highlight=False, soft_wrap=True)
