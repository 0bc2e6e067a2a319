"""Commands that run a model over spectra: ``scan`` and ``catalog``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dla_cnn.cli._app import _command_line, _detect_config, _fail, _for_inference, _rate_progress, app, console, out
from dla_cnn.exceptions import DlaCnnError


# --------------------------------------------------------------------------- scan
def _print_absorbers(results) -> None:
    """Print the absorbers: a rich table where it fits, else plain columns (ids are never cut)."""
    from rich.table import Table as RichTable

    header = ("sightline", "z_qso", "type", "z_abs", "+-", "log N_HI", "+-", "confidence", "S/N")
    rows = [(a["sightline_id"], f"{a['z_qso']:.3f}", a["type"], f"{a['z_abs']:.4f}", f"{a['z_abs_err']:.4f}",
             f"{a['log_nhi']:.2f}", f"{a['log_nhi_err']:.2f}", f"{a['confidence']:.2f}", f"{a['snr']:.1f}")
            for r in results for a in r.absorber_rows()]
    if not rows:
        out.print("no absorbers found")
        return
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    if out.is_terminal and sum(widths) + 3 * len(widths) + 1 <= out.width:
        tab = RichTable(title="absorbers found", show_lines=False)
        for col in header:
            tab.add_column(col, justify="right", no_wrap=True)
        for row in rows:
            tab.add_row(*row)
        out.print(tab)
        return
    # pipes and narrow terminals: plain columns, one line per absorber, left to the terminal to wrap
    out.print(f"absorbers found: {len(rows)}", highlight=False)
    for row in (header, *rows):
        line = "  ".join([row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])])
        out.print(line, highlight=False, soft_wrap=True)


# options shared by scan and catalog
_MIN_CONFIDENCE_HELP = ("Report absorbers at or above this confidence (default: the model's, 0.5 for the packaged "
                        "finder; 0 keeps every candidate).")
_SINGLE_STAGE_HELP = "Skip the absorber-level stage (per-pixel votes decide)."
_ENGINE_HELP = ("Inference engine: auto (default: ONNX Runtime where the model has an export, else Keras), keras "
                "or onnx. $DLA_CNN_ENGINE sets the default.")


@app.command()
def scan(
    paths: list[str] = typer.Argument(..., help="Spectrum files, directories or globs."),
    z_qso: Optional[float] = typer.Option(None, "--z-qso", help="Quasar redshift (overrides the file's)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model .keras file or packaged model name (default: dla_cnn_fcn)."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="Write the catalog here (FITS; .ecsv for ECSV)."),
    plot_dir: Optional[Path] = typer.Option(None, "--plot", help="Write one PNG per sightline into this directory."),
    quasar_catalog: Optional[Path] = typer.Option(None, "--quasar-catalog",
                                                  help="Quasar catalog supplying z_qso (and the RA/Dec, THING_ID and "
                                                       "TARGETID the files lack)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", help=_MIN_CONFIDENCE_HELP),
    single_stage: bool = typer.Option(False, "--single-stage", help=_SINGLE_STAGE_HELP),
    engine: Optional[str] = typer.Option(None, "--engine", help=_ENGINE_HELP),
) -> None:
    """Find absorbers in one or many spectra and print (and optionally write) the catalog."""
    _for_inference()
    from dla_cnn.io import iter_spectra
    from dla_cnn.io._fits import fits_engine
    from dla_cnn.scan.pipeline import Scanner

    try:
        scanner = Scanner(model, _detect_config(min_confidence, single_stage), engine=engine)
        results = list(scanner.scan(iter_spectra(paths, z_qso=z_qso, quasar_catalog=quasar_catalog,
                                                 engine=fits_engine()),
                                    keep_curves=plot_dir is not None))
    except DlaCnnError as err:
        _fail(err)
    bad = [r for r in results if r.status != "ok"]
    if results and len(bad) < len(results):
        _print_absorbers(results)
    else:
        out.print("no sightline could be searched")
    for r in bad:
        console.print(f"[red]{r.status}:[/red] {r.row['file'] or r.row['sightline_id']}: {r.row['message']}",
                      highlight=False, soft_wrap=True)
    if out_path is not None:
        from dla_cnn.catalog import absorber_table, sightline_table, write_catalog

        written = write_catalog(out_path, absorber_table([a for r in results for a in r.absorber_rows()]),
                                sightline_table([r.row for r in results]),
                                scanner.catalog_meta(_command_line()),
                                format="ecsv" if str(out_path).endswith(".ecsv") else "fits")
        out.print("wrote " + ", ".join(str(p) for p in written), highlight=False, soft_wrap=True)
    if plot_dir is not None:
        from dla_cnn.plots import plot_sightline

        for r in results:
            if r.sightline is not None:
                plot_sightline(r.sightline, Path(plot_dir) / f"{r.row['sightline_id']}.png", r.detections, r.prob, r.votes)
        out.print(f"plots in {plot_dir}")
    if not results or len(bad) == len(results):
        raise typer.Exit(1)
    if bad:
        raise typer.Exit(2)


# --------------------------------------------------------------------------- catalog
@app.command()
def catalog(
    source: Path = typer.Argument(..., help="Directory of spectra, or a DR12Q-style quasar table (with --spectra-dir)."),
    out_path: Path = typer.Option(Path("catalogs/catalog.fits"), "--out", help="Output catalog (FITS, or .ecsv)."),
    spectra_dir: Optional[Path] = typer.Option(None, "--spectra-dir", help="Where the quasar table's spectra are."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model .keras file or packaged model name (default: dla_cnn_fcn)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Local processes reading spectra."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run from its checkpoints."),
    restart: bool = typer.Option(False, "--restart", help="Discard the checkpoints of an unfinished run and start afresh."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address."),
    shard_size: int = typer.Option(256, "--shard-size", help="Sightlines per checkpoint."),
    batch_size: int = typer.Option(128, "--batch-size", help="Sightlines per inference batch."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", help=_MIN_CONFIDENCE_HELP),
    single_stage: bool = typer.Option(False, "--single-stage", help=_SINGLE_STAGE_HELP),
    engine: Optional[str] = typer.Option(None, "--engine", help=_ENGINE_HELP),
) -> None:
    """Build a DLA catalog over many sightlines (resumable; local cores or Dask)."""
    _for_inference()
    import time

    from dla_cnn.scan.builder import build_catalog

    t0 = time.perf_counter()
    try:
        with _rate_progress("catalog", None, t0) as step:
            res = build_catalog(source, out_path, model, spectra_dir, workers, resume, scheduler, shard_size,
                                batch_size, detect=_detect_config(min_confidence, single_stage), progress=step,
                                command=_command_line(),
                                fmt="ecsv" if str(out_path).endswith(".ecsv") else "fits", restart=restart,
                                engine=engine)
    except DlaCnnError as err:
        _fail(err)
    dt = time.perf_counter() - t0
    counts = (f"{res['n_sightlines']} sightlines ({res['n_ok']} ok, {res['n_skipped']} skipped, {res['n_error']} error), "
              f"{res['n_dla']} DLAs, {res['n_subdla']} sub-DLAs")
    if res["already_finished"]:
        out.print(f"{res['path']}: this run has already finished, nothing to resume: {counts}", highlight=False)
    else:
        out.print(f"wrote {', '.join(res['paths'])}: {counts} in {dt:.1f} s", highlight=False, soft_wrap=True)
    if res["n_sightlines"] and res["n_error"] == res["n_sightlines"]:
        console.print("[red]error:[/red] no sightline could be read or searched (every row is an error; "
                      "see the message column of SIGHTLINES)", highlight=False)
        raise typer.Exit(1)
