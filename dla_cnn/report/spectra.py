"""Sightline figures for the report: find each spectrum, run the model for its curves, draw it.

The figure is the one ``dla-cnn scan --plot`` draws (:func:`dla_cnn.plots.plot_sightline`):
the spectrum and its searched path, the Voigt profiles of the catalog's absorbers over a
rough continuum, and below, the per-pixel network's classifier probability and vote
curve, which :class:`~dla_cnn.scan.pipeline.Scanner` computes with ``keep_curves``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dla_cnn.ids import spec_file_name
from dla_cnn.exceptions import DATA_ERRORS, SightlineError, SpectrumReadError, describe

_SOURCE_SUFFIX = re.compile(r"(\[.*\]|:\d+)$")


@dataclass
class SightlineFigure:
    """What the report could draw for one sightline."""

    path: Path | None = None
    """The PNG, or None when nothing could be drawn."""
    note: str = ""
    """Why not, or what differs (one line)."""
    curves: bool = False
    """The model's per-pixel curves are on the figure."""


class SpectrumIndex:
    """The spectrum files under a directory, found by name.

    Parameters
    ----------
    root : path
        Directory searched recursively (hidden files skipped).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.by_name: dict[str, Path] = {}
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    self.by_name.setdefault(name, Path(folder) / name)

    def find(self, row: Mapping[str, Any]) -> Path | None:
        """The file of a SIGHTLINES row: its ``file`` name (with or without ``.gz``), else ``spec-PLATE-MJD-FIBER``."""
        names = []
        file = _SOURCE_SUFFIX.sub("", str(row.get("file", "") or "").strip())
        if file:
            base = Path(file).name
            names += [base, base[:-3] if base.endswith(".gz") else base + ".gz"]
        plate, mjd, fiber = (int(row.get(k, -1)) for k in ("plate", "mjd", "fiber"))
        if min(plate, mjd, fiber) >= 0:
            stem = spec_file_name(plate, mjd, fiber)
            names += [stem, stem + ".gz"]
        for name in names:
            if name in self.by_name:
                return self.by_name[name]
        return None


def read_one(path: Path, row: Mapping[str, Any]):
    """The sightline of ``row`` in ``path`` with the catalog's z_qso, or the SightlineError met."""
    from dla_cnn.io import iter_sightlines

    sid = str(row["sightline_id"])
    z = float(row["z_qso"])
    found = []
    try:
        for item in iter_sightlines(path, z_qso={sid: z} if np.isfinite(z) else None, engine="astropy"):
            if isinstance(item, SightlineError):
                return item
            found.append(item)
    except DATA_ERRORS as err:
        return SpectrumReadError(str(path), describe(err))
    match = [s for s in found if s.sightline_id == sid]
    if match or len(found) == 1:
        return (match or found)[0]
    return SpectrumReadError(str(path), f"sightline {sid} not in this file ({len(found)} sightlines)")


def catalog_detections(rows: Sequence[Mapping[str, Any]]) -> list:
    """The catalog's absorbers of one sightline as :class:`~dla_cnn.scan.detect.Detection` for plotting."""
    from dla_cnn.scan.detect import Detection

    nan = float("nan")
    return [Detection(nan, float(r["z_abs"]), float(r["z_abs_err"]), float(r["log_nhi"]), float(r["log_nhi_err"]),
                      float(r["confidence"]), str(r["type"]).strip(), float(np.asarray(r["lambda_obs"])),
                      nan, nan, nan, nan) for r in rows]


def _items(rows: Sequence[Mapping[str, Any]], index: SpectrumIndex, notes: dict[int, str]) -> Iterator:
    """One Sightline or SightlineError per row, in order; a missing file is a SpectrumReadError."""
    for k, row in enumerate(rows):
        path = index.find(row)
        if path is None:
            notes[k] = f"no spectrum file for {row['sightline_id']} under {index.root}"
            yield SpectrumReadError(str(row.get("file", "")), "not found")
            continue
        yield read_one(path, row)


def _draw(sightline, prob, votes, why: str, dets: list, path: Path, curves: bool) -> SightlineFigure:
    """Plot one sightline (with the model's curves when computed); any problem becomes a note.

    ``why`` says why the sightline could not be read or searched (empty when it was).
    """
    from dla_cnn import plots

    if sightline is None:
        return SightlineFigure(note=f"spectrum not drawn: {why}")
    try:
        plots.plot_sightline(sightline, path, dets, prob, votes)
    except (SightlineError, *DATA_ERRORS) as err:
        return SightlineFigure(note=f"spectrum not drawn: {describe(err)}")
    note = f"model curves not drawn: {why}" if curves and prob is None else ""
    return SightlineFigure(path, note, prob is not None)


def _scanned(items: Iterator, scanner) -> Iterator[tuple]:
    """``(sightline or None, prob, votes, why)`` per item: the model's curves when a scanner is given."""
    if scanner is None:
        for item in items:
            if isinstance(item, SightlineError):
                yield None, None, None, str(item)
            else:
                yield item, None, None, ""
        return
    for res in scanner.scan(items, keep_curves=True):
        why = "" if res.status == "ok" else f"{res.status}: {res.row.get('message')}"
        yield res.sightline, res.prob, res.votes, why


def iter_figures(rows: Sequence[Mapping[str, Any]], detections: Sequence[list], out_paths: Sequence[Path],
                 index: SpectrumIndex, scanner=None) -> Iterator[SightlineFigure]:
    """Figures of many sightlines, in order, the model run in batches when a scanner is given.

    Parameters
    ----------
    rows : sequence of mapping
        SIGHTLINES rows.
    detections : sequence of list
        The catalog's absorbers of each row (:func:`catalog_detections`).
    out_paths : sequence of Path
        PNG of each row.
    index : SpectrumIndex
        Where the spectra are.
    scanner : Scanner, optional
        Computes the per-pixel curves (``keep_curves``); without it only the spectrum
        and the absorbers' profiles are drawn.

    Yields
    ------
    SightlineFigure
        One per row, as soon as it is drawn.
    """
    notes: dict[int, str] = {}
    for k, (sightline, prob, votes, why) in enumerate(_scanned(_items(rows, index, notes), scanner)):
        fig = _draw(sightline, prob, votes, why, detections[k], out_paths[k], scanner is not None)
        if k in notes:
            fig.note = notes[k]
        yield fig
