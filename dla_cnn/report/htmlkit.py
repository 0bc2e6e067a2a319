"""Small HTML helpers: escaping, number formatting, tables and the page skeleton.

Everything that comes from a catalog, a header or a file name goes through
:func:`esc` (``html.escape`` with quotes); only :class:`Markup` strings, built here
from escaped parts, are inserted as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any


class Markup(str):
    """A string that is already safe HTML (built from escaped parts).

    ``Markup + Markup`` stays Markup; adding a plain string gives a plain string,
    which :func:`esc` will escape (wrap a finished piece of HTML in ``Markup(...)``).
    """

    def __add__(self, other: str) -> str:
        joined = str.__add__(self, other)
        return Markup(joined) if isinstance(other, Markup) else joined

    def __radd__(self, other: str) -> str:
        joined = str.__add__(str(other), self)
        return Markup(joined) if isinstance(other, Markup) else joined


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes included), or the string itself when it is :class:`Markup`."""
    if isinstance(value, Markup):
        return str(value)
    return escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A number for display: ``digits`` decimals for floats, ``-`` for NaN / None, ints as they are.

    Parameters
    ----------
    value : Any
        Number (or anything else, shown with ``str``).
    digits : int
        Decimals of a float.
    """
    if value is None:
        return "-"
    if isinstance(value, (bool,)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "-"
    if isinstance(value, (int,)) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(number))
    return f"{number:.{digits}f}"


def value_err(value: Any, error: Any, digits: int = 3) -> str:
    """``value +- error`` (``error`` left out when it is NaN)."""
    text = fmt(value, digits)
    err = fmt(error, digits)
    return text if err == "-" else f"{text} \u00b1 {err}"


def link(href: str, text: Any, cls: str | None = None) -> Markup:
    """An ``<a>`` element; ``href`` and ``text`` are escaped."""
    cls_attr = f' class="{esc(cls)}"' if cls else ""
    return Markup(f'<a href="{esc(href)}"{cls_attr}>{esc(text)}</a>')


def html_table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    cls: str = "plain",
    row_ids: Sequence[str] | None = None,
) -> Markup:
    """A static ``<table>``; every cell is escaped unless it is :class:`Markup`.

    Parameters
    ----------
    headers : sequence
        Column headings.
    rows : iterable of sequences
        Cells of each row.
    cls : str
        CSS class of the table.
    row_ids : sequence of str, optional
        ``id`` attribute of each row (anchors that other pages link to).
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        rid = f' id="{esc(row_ids[i])}"' if row_ids is not None else ""
        body.append(f"<tr{rid}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    return Markup(f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def figure(src: str, caption: Any, alt: Any | None = None) -> Markup:
    """An ``<img>`` in a ``<figure>`` with a caption."""
    return Markup(f'<figure><img src="{esc(src)}" alt="{esc(alt if alt is not None else caption)}" loading="lazy">'
                  f"<figcaption>{esc(caption)}</figcaption></figure>")


def section(title: str, body: Any, anchor: str | None = None) -> Markup:
    """A ``<section>`` with an ``<h2>`` heading."""
    aid = f' id="{esc(anchor)}"' if anchor else ""
    return Markup(f"<section{aid}><h2>{esc(title)}</h2>{esc(body)}</section>")


def page(title: str, body: Any, root: str = "", scripts: Sequence[str] = ()) -> str:
    """A complete HTML document that works from ``file://``.

    Parameters
    ----------
    title : str
        Page title (escaped).
    body : Markup
        Body content.
    root : str
        Relative path from the page to the report's top directory (``""`` or ``"../"``).
    scripts : sequence of str
        Script paths relative to the report's top directory, loaded at the end of the body.
    """
    tags = "".join(f'<script src="{esc(root + s)}"></script>' for s in scripts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><link rel=\"stylesheet\" href=\"{esc(root)}static/report.css\"></head>\n"
            f"<body>{esc(body)}\n{tags}</body></html>\n")
