"""The report's top pages: ``index.html`` (provenance, counts, figures, vetting, the
absorber table) and ``sightlines.html`` (the sightline table).

The tables are empty ``<div data-table>`` elements that ``static/report.js`` fills from
``data/*.js``; a ``<noscript>`` line says so when scripts are off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dla_cnn.report.figures import FIGURES
from dla_cnn.report.htmlkit import Markup, esc, figure, html_table, link, page, section

SCRIPTS_INDEX = ("data/absorbers.js", "static/report.js")
SCRIPTS_SIGHTLINES = ("data/sightlines.js", "static/report.js")
NOSCRIPT = "<noscript><p class=\"note\">The interactive table needs JavaScript.</p></noscript>"


@dataclass
class IndexContent:
    """What the index page shows (all strings are escaped when rendered)."""

    catalog: str
    provenance: list[tuple[str, str]]
    statuses: list[tuple[str, int]]
    types: list[tuple[str, int]]
    path: list[tuple[str, str]]
    incidence: list[tuple[str, int, str, str, str]]
    figures: Mapping[str, Path]
    problems: list[tuple[str, str, str, str]] = field(default_factory=list)
    n_problems: int = 0
    n_pages: int = 0
    pages_note: str = ""
    vet_rows: list[tuple[str, str, str]] | None = None
    vet_figures: Sequence[Path] = ()
    truth: str = ""
    notes: list[str] = field(default_factory=list)
    made_by: str = ""


def _counts(c: IndexContent) -> Markup:
    n_sl = sum(n for _, n in c.statuses)
    n_abs = sum(n for _, n in c.types)
    return Markup(
        '<div class="figs"><div><h3>Sightlines by status</h3>'
        + html_table(("status", "sightlines"), c.statuses + [("all", n_sl)])
        + "</div><div><h3>Absorbers by type</h3>"
        + html_table(("type", "absorbers"), c.types + [("all", n_abs)])
        + "</div><div><h3>Searched path (status ok)</h3>"
        + html_table(("quantity", "value"), c.path)
        + "</div></div><h3>Incidence dN/dz</h3>"
        + html_table(("kind", "n", "path \u0394z", "dN/dz", "68% Poisson interval"), c.incidence)
    )


def _figures(c: IndexContent) -> Markup:
    captions = dict(FIGURES)
    blocks = [figure(f"figures/{p.name}", captions.get(name, name)) for name, p in c.figures.items()]
    return Markup('<div class="figs">' + "".join(blocks) + "</div>")


def _vetting(c: IndexContent) -> Markup:
    blocks = [figure(f"vet/{p.name}", p.stem.replace("_", " ")) for p in c.vet_figures]
    return Markup(f"<p>Against the truth table <code>{esc(c.truth)}</code> (as <code>dla-cnn vet</code>; "
                  "ok sightlines only).</p>"
                  + html_table(("metric", "value", "detail"), c.vet_rows or [])
                  + '<div class="figs">' + "".join(blocks) + "</div>")


def _problems(c: IndexContent) -> Markup:
    if not c.n_problems:
        return Markup("<p>Every sightline was searched.</p>")
    shown = len(c.problems)
    more = f" (the first {shown} shown)" if shown < c.n_problems else ""
    return Markup(f"<p>{c.n_problems} sightlines were not searched{esc(more)}; they count in no population "
                  "statistic.</p>" + html_table(("sightline", "status", "file", "message"), c.problems))


def _table_intro(c: IndexContent) -> Markup:
    text = ("Click a heading to sort, type in the boxes under it to filter (min / max for numbers); "
            "the sightline links open its page.")
    if c.pages_note:
        text += " " + c.pages_note
    return Markup(f"<p>{esc(text)}</p>")


def render_index(c: IndexContent) -> str:
    """The HTML of ``index.html``."""
    nav = Markup('<nav class="crumbs">' + " | ".join([
        link("#provenance", "provenance"), link("#counts", "counts"), link("#figures", "figures"),
        *([link("#vetting", "vetting")] if c.vet_rows is not None else []),
        link("#absorbers", "absorber table"), link("sightlines.html", "sightline table"),
        link("#problems", "not searched")]) + "</nav>")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in c.notes)
    body = Markup(
        nav + f"<h1>dla-cnn report: {esc(c.catalog)}</h1>" + notes
        + section("Provenance", html_table(("item", "value"), c.provenance), "provenance")
        + section("Counts", _counts(c), "counts")
        + section("Figures", _figures(c), "figures")
        + (section("Vetting against a truth table", _vetting(c), "vetting") if c.vet_rows is not None else "")
        + section("Absorbers", _table_intro(c) + Markup('<div data-table="absorbers" id="absorber-table">'
                                                        "</div>" + NOSCRIPT), "absorbers")
        + section("Sightlines not searched", _problems(c), "problems")
        + f"<footer><p>{esc(c.made_by)}</p></footer>"
    )
    return page(f"dla-cnn report: {c.catalog}", body, scripts=SCRIPTS_INDEX)


def render_sightline_list(catalog: str, n_sightlines: int, n_pages: int) -> str:
    """The HTML of ``sightlines.html``: every SIGHTLINES row, linked to its page where it has one."""
    body = Markup(
        '<nav class="crumbs">' + link("index.html", "\u2190 report index") + "</nav>"
        + f"<h1>Sightlines of {esc(catalog)}</h1>"
        + f"<p>{n_sightlines} sightlines, {n_pages} with a page (linked). Click a heading to sort; "
        "filter in the boxes under it.</p>"
        + '<div data-table="sightlines" id="sightline-table"></div>' + NOSCRIPT
    )
    return page(f"sightlines of {catalog}", body, scripts=SCRIPTS_SIGHTLINES)


def vet_summary_rows(summary_rows: Sequence[tuple[str, Any, str]]) -> list[tuple[str, str, str]]:
    """:meth:`VetReport.summary_rows` as text: floats to 4 significant digits, NaN as ``n/a``."""
    out = []
    for metric, value, detail in summary_rows:
        if isinstance(value, float):
            text = "n/a" if value != value else f"{value:.4g}"
        else:
            text = str(value)
        out.append((str(metric), text, str(detail)))
    return out
