"""The numbers on the index page: provenance, counts by status and type, path and dN/dz.

Population numbers use the ``ok`` sightlines only (spec section 9), through
:func:`dla_cnn.catalog.searched_path` and :func:`dla_cnn.catalog.dn_dz`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
from astropy.table import Table

from dla_cnn.catalog import dn_dz, searched_path

STATUSES = ("ok", "skipped", "error")
TYPES = ("DLA", "SUBDLA", "LYB")

_PROVENANCE_KEYS = (
    ("model_name", "model"),
    ("model_sha256", "model sha256"),
    ("stage2_sha256", "absorber-level model sha256"),
    ("command", "command"),
    ("created", "created"),
    ("dlacnn_version", "dla-cnn version"),
)


def _strings(table: Table, name: str) -> np.ndarray:
    if name not in table.colnames or len(table) == 0:
        return np.array([], dtype=str)
    return np.char.strip(np.asarray(table[name]).astype(str))


def status_counts(sightlines: Table) -> list[tuple[str, int]]:
    """``(status, number of sightlines)``: ok, skipped, error, then any other value met."""
    counts = Counter(_strings(sightlines, "status").tolist())
    names = list(STATUSES) + sorted(set(counts) - set(STATUSES))
    return [(s, int(counts.get(s, 0))) for s in names]


def type_counts(absorbers: Table) -> list[tuple[str, int]]:
    """``(type, number of absorbers)``: DLA, SUBDLA, LYB, then any other value met."""
    counts = Counter(_strings(absorbers, "type").tolist())
    names = list(TYPES) + sorted(set(counts) - set(TYPES))
    return [(t, int(counts.get(t, 0))) for t in names]


def provenance_rows(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` rows of a catalog's provenance: model, sha256s, command, date, thresholds, rest.

    Missing entries are shown as ``not recorded``; every other key of ``meta`` follows,
    thresholds one row each.
    """
    rows = [(label, "not recorded" if meta.get(key) in (None, "") else str(meta[key]))
            for key, label in _PROVENANCE_KEYS]
    known = {k for k, _ in _PROVENANCE_KEYS} | {"thresholds"}
    for key, value in (meta.get("thresholds") or {}).items():
        rows.append((f"threshold {key}", str(value)))
    for key in sorted(set(meta) - known):
        rows.append((str(key), str(meta[key])))
    return rows


def path_rows(sightlines: Table) -> list[tuple[str, str]]:
    """The searched path: ``ok`` sightlines, total dz, redshift range, median dz per sightline."""
    ok = _strings(sightlines, "status") == "ok"
    zlo = np.asarray(sightlines["z_min"], dtype=float)[ok] if len(sightlines) else np.array([])
    zhi = np.asarray(sightlines["z_max"], dtype=float)[ok] if len(sightlines) else np.array([])
    good = np.isfinite(zlo) & np.isfinite(zhi) & (zhi > zlo)
    total = searched_path(sightlines) if len(sightlines) else 0.0
    rows = [("searched sightlines (status ok)", str(int(ok.sum()))), ("total redshift path \u0394z", f"{total:.2f}")]
    if good.any():
        rows.append(("absorber redshifts searched", f"{zlo[good].min():.3f} \u2013 {zhi[good].max():.3f}"))
        rows.append(("median path per sightline", f"{np.median(zhi[good] - zlo[good]):.3f}"))
    return rows


def incidence_rows(absorbers: Table, sightlines: Table) -> list[tuple[str, int, str, str, str]]:
    """``(kind, n, path, dN/dz, 68% Poisson interval)`` for DLA, SUBDLA and both together."""
    rows = []
    for kind, label in (("DLA", "DLA"), ("SUBDLA", "sub-DLA"), ("any", "DLA + sub-DLA")):
        inc = dn_dz(absorbers, sightlines, kind=kind)
        if not np.isfinite(inc.dn_dz):
            rows.append((label, inc.n, f"{inc.path:.2f}", "-", "no searched path"))
            continue
        rows.append((label, inc.n, f"{inc.path:.2f}", f"{inc.dn_dz:.4f}", f"{inc.lower:.4f} \u2013 {inc.upper:.4f}"))
    return rows


def problem_rows(sightlines: Table, limit: int = 200) -> tuple[list[tuple[str, str, str, str]], int]:
    """Sightlines that were not searched: ``(id, status, file, message)``, at most ``limit``, and how many in all."""
    status = _strings(sightlines, "status")
    bad = np.flatnonzero(status != "ok")
    rows = []
    for i in bad[:limit]:
        row = sightlines[int(i)]
        rows.append((str(row["sightline_id"]), str(status[i]), str(row["file"]) if "file" in sightlines.colnames else "",
                     str(row["message"]) if "message" in sightlines.colnames else ""))
    return rows, int(len(bad))
