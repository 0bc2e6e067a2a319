"""Where things live in a report: file names of sightline pages and the anchors that link pages.

Layout of a report directory::

    index.html              provenance, counts, figures, the absorber table
    sightlines.html         the sightline table
    sightlines/ID.html      one page per sightline (ID made safe for file names)
    sightlines/ID.png       its figure (with --spectra)
    figures/*.png           catalog figures; vet/*.png with --truth
    data/*.js, static/*     table data, style sheet and script

Row ``i`` of the catalog's ABSORBERS table is ``index.html#a{i}`` and
``sightlines/ID.html#abs-{i}``; row ``j`` of SIGHTLINES is ``sightlines.html#s{j}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ABSORBER_KEY = "a"
"""Anchor prefix of absorber rows in the index table."""
ABSORBER_ANCHOR = "abs-"
"""Anchor prefix of absorber rows on a sightline page."""
SIGHTLINE_KEY = "s"
"""Anchor prefix of rows in the sightline table."""
SIGHTLINE_DIR = "sightlines"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_stem(sightline_id: str) -> str:
    """A file-name stem for a sightline id: characters other than ``A-Za-z0-9._-`` become ``_``."""
    stem = _UNSAFE.sub("_", str(sightline_id).strip()) or "sightline"
    return "_" + stem if stem.startswith(".") else stem


def page_names(sightline_ids: Iterable[str]) -> dict[str, str]:
    """``sightline_id`` to a unique page path ``sightlines/STEM.html`` (relative to the report's top).

    Ids that map to the same stem get ``-2``, ``-3``, ... suffixes.  Stems are
    compared case-insensitively, so pages do not collide on case-insensitive disks.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for sid in sightline_ids:
        if sid in out:
            continue
        stem = base = safe_stem(sid)
        k = 1
        while stem.lower() in taken:
            k += 1
            stem = f"{base}-{k}"
        taken.add(stem.lower())
        out[sid] = f"{SIGHTLINE_DIR}/{stem}.html"
    return out
