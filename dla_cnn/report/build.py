"""Write a whole report directory from a catalog (the ``dla-cnn report`` entry point)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from dla_cnn.catalog import read_catalog
from dla_cnn.exceptions import ConfigError, describe
from dla_cnn.report import summary
from dla_cnn.report.data import write_table_data
from dla_cnn.report.figures import catalog_figures
from dla_cnn.report.index_page import IndexContent, render_index, render_sightline_list, vet_summary_rows
from dla_cnn.report.names import page_names
from dla_cnn.report.sightline_page import SightlinePage, absorbers_by_sightline, render_sightline_page
from dla_cnn.report.spectra import SpectrumIndex, catalog_detections, iter_figures
from dla_cnn.report.static import write_static

PAGE_MODES = ("absorbers", "all", "none")
"""Which sightlines get a page: those with absorbers (default), every one, or none."""


@dataclass
class ReportResult:
    """What :func:`write_report` wrote."""

    index: Path
    n_pages: int
    n_spectra: int = 0
    """Sightline pages with a spectrum figure."""
    notes: list[str] = field(default_factory=list)


def table_rows(table: Table) -> list[dict[str, Any]]:
    """The rows of a table as dicts of Python values (strings stripped)."""
    names = table.colnames
    columns = []
    for name in names:
        values = np.asarray(table[name]).tolist()
        columns.append([v.strip() if isinstance(v, str) else v for v in values])
    return [dict(zip(names, vals)) for vals in zip(*columns)] if names else []


def choose_pages(sightlines: Sequence[Mapping[str, Any]], with_absorbers: Mapping[str, Any], mode: str,
                 limit: int | None) -> list[int]:
    """SIGHTLINES row numbers that get a page, in catalog order, each id once.

    Parameters
    ----------
    sightlines : sequence of mapping
        SIGHTLINES rows.
    with_absorbers : mapping
        Keys: ids of sightlines with absorbers.
    mode : {"absorbers", "all", "none"}
        See :data:`PAGE_MODES`.
    limit : int, optional
        At most this many pages.
    """
    if mode == "none":
        return []
    chosen, seen = [], set()
    for j, row in enumerate(sightlines):
        sid = row["sightline_id"]
        if sid in seen or (mode == "absorbers" and sid not in with_absorbers):
            continue
        seen.add(sid)
        chosen.append(j)
        if limit is not None and len(chosen) >= limit:
            break
    return chosen


def _check_options(out: Path, spectra: str | os.PathLike | None, mode: str, limit: int | None) -> None:
    if mode not in PAGE_MODES:
        raise ConfigError(f"--sightlines must be one of {', '.join(PAGE_MODES)} (got {mode!r})")
    if limit is not None and limit < 0:
        raise ConfigError(f"--max-sightlines must be >= 0 (got {limit})")
    if spectra is not None and not Path(spectra).is_dir():
        raise ConfigError(f"{spectra}: spectra directory not found")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")


def _vetting(catalog: Path, truth: str | os.PathLike, out: Path) -> tuple[list[tuple[str, str, str]], list[Path]]:
    """The vet summary rows and figures (``out/vet``) of the catalog against a truth table."""
    from dla_cnn.vet import vet_files, vet_plots

    if not Path(truth).is_file():
        raise ConfigError(f"{truth}: truth table not found")
    try:
        report = vet_files(catalog, truth)
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{truth}: cannot vet the catalog against it: {describe(err)}") from None
    return vet_summary_rows(report.summary_rows()), vet_plots(report, out / "vet")


def _scanner(model: str | os.PathLike | None, meta: Mapping[str, Any], notes: list[str]):
    """The model that draws the per-pixel curves; a note when it is not the catalog's model."""
    from dla_cnn.scan.pipeline import Scanner

    scanner = Scanner(model)
    want = str(meta.get("model_sha256") or "")
    if want and scanner.model_sha256 and want != scanner.model_sha256:
        notes.append(f"The model curves come from {scanner.model_path.name} (sha256 {scanner.model_sha256[:12]}...), "
                     f"not from the catalog's model (sha256 {want[:12]}...); the absorbers are the catalog's.")
    return scanner


def _write_pages(ctx: dict[str, Any], chosen: list[int], progress: Callable[[int, int], None] | None) -> int:
    """Write the sightline pages (and figures, with spectra); returns how many have a figure."""
    rows, pages, grouped, out = ctx["sightlines"], ctx["pages"], ctx["grouped"], ctx["out"]
    paths = [pages[rows[j]["sightline_id"]] for j in chosen]
    figures = iter([None] * len(chosen))
    if ctx["spectra"] is not None:
        dets = [catalog_detections([a for _, a in grouped.get(rows[j]["sightline_id"], [])]) for j in chosen]
        pngs = [out / Path(p).with_suffix(".png") for p in paths]
        figures = iter_figures([rows[j] for j in chosen], dets, pngs, SpectrumIndex(ctx["spectra"]), ctx["scanner"])
    (out / "sightlines").mkdir(parents=True, exist_ok=True)
    n_fig = 0
    for k, (j, fig) in enumerate(zip(chosen, figures)):
        sid = rows[j]["sightline_id"]
        sp = SightlinePage(rows[j], j, paths[k], grouped.get(sid, []), fig, ctx["spectra"] is not None,
                           paths[k - 1] if k else None, paths[k + 1] if k + 1 < len(paths) else None)
        (out / paths[k]).write_text(render_sightline_page(sp, ctx["name"]), encoding="utf-8")
        n_fig += fig is not None and fig.path is not None
        if progress is not None:
            progress(k + 1, len(chosen))
    return n_fig


def made_by(command: str) -> str:
    """One line saying which dla-cnn, when, and (if known) which command wrote the report."""
    from datetime import datetime, timezone

    from dla_cnn import __version__

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Written by dla-cnn {__version__} on {when}" + (f" with: {command}" if command else "") + "."


def _pages_note(mode: str, n_pages: int, n_candidates: int, limit: int | None) -> str:
    if mode == "none":
        return "No sightline pages were written (--sightlines none)."
    what = "sightlines with absorbers" if mode == "absorbers" else "sightlines"
    if limit is not None and n_pages < n_candidates:
        return f"Sightline pages exist for the first {n_pages} of {n_candidates} {what} (--max-sightlines)."
    return f"Every one of the {n_pages} {what} has a page."


def write_report(
    catalog: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    spectra: str | os.PathLike | None = None,
    truth: str | os.PathLike | None = None,
    sightlines: str = "absorbers",
    max_sightlines: int | None = None,
    model: str | os.PathLike | None = None,
    curves: bool = True,
    progress: Callable[[int, int], None] | None = None,
    command: str = "",
) -> ReportResult:
    """Write a static HTML report of a catalog into ``out_dir`` (opens from disk, no server).

    Parameters
    ----------
    catalog : path-like
        A dla-cnn catalog (FITS or ECSV pair).
    out_dir : path-like
        Report directory (created; files of an earlier report are overwritten).
    spectra : path-like, optional
        Directory holding the catalog's spectra (searched recursively by file name);
        without it, sightline pages show the catalog's parameters only.
    truth : path-like, optional
        Truth table: the index then shows ``dla-cnn vet``'s metrics and figures.
    sightlines : {"absorbers", "all", "none"}
        Which sightlines get a page.
    max_sightlines : int, optional
        At most this many sightline pages (the first in catalog order).
    model : path-like, optional
        Model whose per-pixel curves are drawn (default: the packaged one).
    curves : bool
        Run the model for its curves (with ``spectra``); False draws spectra and profiles only.
    progress : callable, optional
        Called as ``progress(done, total)`` after each sightline page.
    command : str
        The command line that made the report, shown at the foot of the index.

    Returns
    -------
    ReportResult

    Raises
    ------
    ConfigError
        Missing or corrupt catalog, truth table or spectra directory, or a bad option.
    AssetError
        The model cannot be loaded.
    """
    out = Path(out_dir)
    _check_options(out, spectra, sightlines, max_sightlines)
    absorbers, sl_table, meta = read_catalog(catalog)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    sl_rows, grouped = table_rows(sl_table), absorbers_by_sightline(table_rows(absorbers))
    chosen = choose_pages(sl_rows, grouped, sightlines, max_sightlines)
    pages = page_names(sl_rows[j]["sightline_id"] for j in chosen)
    write_static(out)
    write_table_data(out, absorbers, sl_table, pages)
    vet_rows, vet_figs = _vetting(Path(catalog), truth, out) if truth is not None else (None, [])
    scanner = _scanner(model, meta, notes) if spectra is not None and curves and chosen else None
    if spectra is None:
        notes.append("Spectra were not given (--spectra DIR): sightline pages show the catalog's parameters only.")
    ctx = {"sightlines": sl_rows, "pages": pages, "grouped": grouped, "out": out, "spectra": spectra,
           "scanner": scanner, "name": Path(catalog).name}
    n_fig = _write_pages(ctx, chosen, progress)
    n_candidates = len(choose_pages(sl_rows, grouped, sightlines, None))
    problems, n_problems = summary.problem_rows(sl_table)
    content = IndexContent(
        catalog=Path(catalog).name, provenance=summary.provenance_rows(meta), statuses=summary.status_counts(sl_table),
        types=summary.type_counts(absorbers), path=summary.path_rows(sl_table),
        incidence=summary.incidence_rows(absorbers, sl_table), figures=catalog_figures(absorbers, sl_table, out),
        problems=problems, n_problems=n_problems, n_pages=len(chosen),
        pages_note=_pages_note(sightlines, len(chosen), n_candidates, max_sightlines),
        vet_rows=vet_rows, vet_figures=vet_figs, truth=Path(truth).name if truth is not None else "", notes=notes,
        made_by=made_by(command))
    index = out / "index.html"
    index.write_text(render_index(content), encoding="utf-8")
    (out / "sightlines.html").write_text(render_sightline_list(content.catalog, len(sl_rows), len(chosen)),
                                         encoding="utf-8")
    return ReportResult(index, len(chosen), n_fig, notes)
