"""One page per sightline: its catalog row, figure, and absorbers with their errors.

Each absorber row carries the anchor ``abs-{i}`` (``i``: its row in ABSORBERS) that the
index table links to, and links back to ``index.html#a{i}``; the page links to its row
of the sightline table and to the previous and next sightline pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from dla_cnn.report.htmlkit import Markup, esc, figure, fmt, html_table, link, page, section, value_err
from dla_cnn.report.names import ABSORBER_ANCHOR, ABSORBER_KEY, SIGHTLINE_KEY
from dla_cnn.report.spectra import SightlineFigure

ROOT = "../"


@dataclass
class SightlinePage:
    """Everything one sightline page shows."""

    row: Mapping[str, Any]
    """Its SIGHTLINES row."""
    index: int
    """Its row number in SIGHTLINES."""
    path: str
    """The page, relative to the report's top (``sightlines/ID.html``)."""
    absorbers: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)
    """``(row number in ABSORBERS, row)`` of its absorbers."""
    figure: SightlineFigure | None = None
    spectra_given: bool = False
    prev: str | None = None
    next: str | None = None


def _facts(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    get = row.get
    facts = [
        ("sightline", str(get("sightline_id"))),
        ("plate / MJD / fiber", f"{get('plate')} / {get('mjd')} / {get('fiber')}"),
        ("RA, Dec [deg]", f"{fmt(get('ra'), 5)}, {fmt(get('dec'), 5)}"),
        ("z_qso", fmt(get("z_qso"), 4)),
        ("S/N per pixel", fmt(get("snr"), 2)),
        ("searched path z_min \u2013 z_max", f"{fmt(get('z_min'), 4)} \u2013 {fmt(get('z_max'), 4)}"),
        ("status", str(get("status"))),
        ("DLAs / sub-DLAs", f"{get('n_dla')} / {get('n_subdla')}"),
        ("file", str(get("file", ""))),
    ]
    for key in ("thing_id", "targetid"):
        if key in row and int(row[key]) >= 0:
            facts.append((key, str(row[key])))
    if str(get("message", "") or "").strip():
        facts.append(("message", str(get("message"))))
    return facts


def _absorber_table(sp: SightlinePage) -> Markup:
    if not sp.absorbers:
        return Markup("<p>No absorbers in the catalog on this sightline.</p>")
    rows, ids = [], []
    for i, a in sp.absorbers:
        rows.append((a["type"], value_err(a["z_abs"], a["z_abs_err"], 4), value_err(a["log_nhi"], a["log_nhi_err"], 2),
                     fmt(a["confidence"], 3), fmt(a["lambda_obs"], 1), fmt(a["snr"], 1),
                     link(f"{ROOT}index.html#{ABSORBER_KEY}{i}", f"table row {i}")))
        ids.append(f"{ABSORBER_ANCHOR}{i}")
    headers = ("type", "z_abs \u00b1 1\u03c3", "log N_HI \u00b1 1\u03c3 [cm^-2]", "confidence", "\u03bb_obs [\u00c5]",
               "S/N", "absorber table")
    return html_table(headers, rows, row_ids=ids)


def _figure_block(sp: SightlinePage) -> Markup:
    fig = sp.figure
    if not sp.spectra_given:
        return Markup('<p class="note">Spectra were not given (<code>--spectra DIR</code>): '
                      "this page shows the catalog's parameters only.</p>")
    parts = []
    if fig is not None and fig.path is not None:
        caption = ("Spectrum (grey), its error (orange) and searched path (blue band); the Voigt profiles of the "
                   "catalog's absorbers (red, b = 30 km/s)" +
                   ("; below, the model's per-pixel classifier probability and vote curve." if fig.curves else "."))
        parts.append(figure(PurePosixPath(fig.path.name).as_posix(), caption, f"spectrum of {sp.row['sightline_id']}"))
    if fig is None or fig.note:
        parts.append(f'<p class="note">{esc(fig.note if fig is not None else "spectrum not drawn")}</p>')
    return Markup("".join(parts))


def _nav(sp: SightlinePage) -> Markup:
    items = [link(f"{ROOT}index.html", "\u2190 report index"),
             link(f"{ROOT}sightlines.html#{SIGHTLINE_KEY}{sp.index}", "row in the sightline table")]
    if sp.prev:
        items.append(link(PurePosixPath(sp.prev).name, "\u2039 previous sightline"))
    if sp.next:
        items.append(link(PurePosixPath(sp.next).name, "next sightline \u203a"))
    return Markup('<nav class="crumbs">' + " | ".join(items) + "</nav>")


def render_sightline_page(sp: SightlinePage, catalog_name: str) -> str:
    """The HTML of one sightline page.

    Parameters
    ----------
    sp : SightlinePage
        What to show.
    catalog_name : str
        The catalog's file name, for the title.
    """
    sid = str(sp.row["sightline_id"])
    body = Markup(
        _nav(sp)
        + f"<h1>Sightline {esc(sid)}</h1><p>from catalog <code>{esc(catalog_name)}</code></p>"
        + section("Absorbers", _absorber_table(sp), "absorbers")
        + section("Spectrum", _figure_block(sp), "spectrum")
        + section("Catalog row", html_table(("quantity", "value"), _facts(sp.row)), "row")
    )
    return page(f"{sid} \u2014 dla-cnn report", body, root=ROOT)


def absorbers_by_sightline(absorbers: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
    """ABSORBERS rows grouped by ``sightline_id``, each with its row number, in catalog order."""
    out: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for i, row in enumerate(absorbers):
        out.setdefault(str(row["sightline_id"]).strip(), []).append((i, row))
    return out
