"""The report's style sheet and table script, written next to the pages (no CDN, no server).

``TABLE_JS`` turns every ``<div data-table="NAME">`` into a sortable, filterable, paged
table of ``window.DLA_TABLES[NAME]``, a blob that a ``data/NAME.js`` file defines (a
classic script, so it loads from ``file://``).  The blob is::

    {"columns": [{"key", "label", "type": "num"|"str"|"sightline", "digits", "choices"}],
     "rows": [[...], ...], "key": "a", "pages": {sightline_id: "sightlines/X.html"},
     "hash": "abs-", "pageSize": 100}

Row ``i`` gets the id ``key + i``; a URL hash naming one (``index.html#a12``) opens
the page that holds the row and highlights it.  Cells are set with ``textContent``, so
catalog strings are never parsed as HTML.
"""

from __future__ import annotations

from pathlib import Path

REPORT_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1250px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table.plain, table.data { border-collapse: collapse; font-size: 0.9em; }
table.plain td, table.plain th, table.data td, table.data th { border: 1px solid #ddd; padding: 2px 7px; }
table.plain th { text-align: left; background: #f3f3f3; }
table.data th { background: #eef2f7; cursor: pointer; user-select: none; white-space: nowrap; }
table.data td { text-align: right; white-space: nowrap; }
table.data td.str { text-align: left; }
table.data tr.filters th { background: #fafafa; cursor: default; }
table.data input { width: 3.8em; } table.data input.text { width: 8em; }
.scroll { overflow-x: auto; }
tr.target, tr:target { background: #fff3b0; }
.pager { margin: 0.5em 0; } .pager button { margin-right: 0.3em; }
.note { color: #7a4b00; background: #fff8e6; padding: 0.4em 0.7em; border-left: 3px solid #e0a000; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.figs figure img { width: 380px; }
figcaption { font-size: 0.85em; color: #555; }
nav.crumbs { font-size: 0.9em; margin-bottom: 0.5em; }
code { background: #f4f4f4; padding: 0 3px; word-break: break-all; }
"""

TABLE_JS = r"""
(function () {
  "use strict";
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in (attrs || {})) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function missing(v) { return v === null || v === undefined || (typeof v === "number" && isNaN(v)); }
  function show(v, col) {
    if (missing(v)) { return "-"; }
    if (col.type === "num" && col.digits !== undefined) { return Number(v).toFixed(col.digits); }
    return String(v);
  }
  function compare(a, b, dir) {
    var ma = missing(a), mb = missing(b);
    if (ma || mb) { return ma === mb ? 0 : (ma ? 1 : -1); }
    return a < b ? -dir : (a > b ? dir : 0);
  }

  function DataTable(root, spec) {
    this.root = root; this.spec = spec; this.cols = spec.columns; this.rows = spec.rows;
    this.key = spec.key || "r"; this.pageSize = spec.pageSize || 100;
    this.sortCol = -1; this.sortDir = 1; this.page = 0; this.shown = [];
    this.build(); this.apply(false);
  }
  DataTable.prototype.build = function () {
    var self = this, head = el("tr"), filt = el("tr", {"class": "filters"});
    this.inputs = [];
    this.cols.forEach(function (col, j) {
      var th = el("th", {title: "sort by " + col.label}, col.label);
      th.addEventListener("click", function () { self.sortBy(j); });
      head.appendChild(th);
      filt.appendChild(self.filterCell(col));
    });
    this.heads = head.children;
    var table = el("table", {"class": "data"}), thead = el("thead");
    thead.appendChild(head); thead.appendChild(filt); table.appendChild(thead);
    this.tbody = el("tbody"); table.appendChild(this.tbody);
    this.pager = el("div", {"class": "pager"});
    var wrap = el("div", {"class": "scroll"}); wrap.appendChild(table);
    this.root.textContent = ""; this.root.appendChild(this.pager); this.root.appendChild(wrap);
  };
  DataTable.prototype.filterCell = function (col) {
    var self = this, th = el("th"), made = [];
    function input(ph, cls) {
      var i = el("input", {type: "text", placeholder: ph, "class": cls});
      i.addEventListener("input", function () { self.apply(false); });
      th.appendChild(i); made.push(i);
    }
    if (col.choices) {
      var s = el("select");
      s.appendChild(el("option", {value: ""}, "all"));
      col.choices.forEach(function (c) { s.appendChild(el("option", {value: c}, c)); });
      s.addEventListener("change", function () { self.apply(false); });
      th.appendChild(s); made.push(s);
    } else if (col.type === "num") { input("min", "num"); input("max", "num"); } else { input("contains", "text"); }
    this.inputs.push(made);
    return th;
  };
  DataTable.prototype.test = function () {
    var tests = [];
    this.cols.forEach(function (col, j) {
      var f = this.inputs[j];
      if (col.choices) {
        if (f[0].value) { var want = f[0].value; tests.push(function (r) { return r[j] === want; }); }
      } else if (col.type === "num") {
        var lo = parseFloat(f[0].value), hi = parseFloat(f[1].value);
        if (!isNaN(lo)) { tests.push(function (r) { return !missing(r[j]) && r[j] >= lo; }); }
        if (!isNaN(hi)) { tests.push(function (r) { return !missing(r[j]) && r[j] <= hi; }); }
      } else if (f[0].value) {
        var sub = f[0].value.toLowerCase();
        tests.push(function (r) { return String(r[j]).toLowerCase().indexOf(sub) >= 0; });
      }
    }, this);
    return function (r) { for (var t = 0; t < tests.length; t++) { if (!tests[t](r)) { return false; } } return true; };
  };
  DataTable.prototype.apply = function (keepPage) {
    var ok = this.test(), rows = this.rows, shown = [];
    for (var i = 0; i < rows.length; i++) { if (ok(rows[i])) { shown.push(i); } }
    if (this.sortCol >= 0) {
      var j = this.sortCol, dir = this.sortDir;
      shown.sort(function (a, b) { return compare(rows[a][j], rows[b][j], dir) || a - b; });
    }
    this.shown = shown;
    if (!keepPage) { this.page = 0; }
    this.render();
  };
  DataTable.prototype.sortBy = function (j) {
    this.sortDir = this.sortCol === j ? -this.sortDir : 1; this.sortCol = j;
    for (var k = 0; k < this.heads.length; k++) {
      this.heads[k].textContent = this.cols[k].label + (k === j ? (this.sortDir > 0 ? " \u25b2" : " \u25bc") : "");
    }
    this.apply(false);
  };
  DataTable.prototype.cell = function (col, v, i) {
    var td = el("td", col.type === "num" ? {} : {"class": "str"});
    var page = col.type === "sightline" && this.spec.pages ? this.spec.pages[v] : undefined;
    if (page) {
      var href = page + (this.spec.hash ? "#" + this.spec.hash + i : "");
      td.appendChild(el("a", {href: href, title: "sightline page"}, show(v, col)));
    } else { td.textContent = show(v, col); }
    return td;
  };
  DataTable.prototype.render = function () {
    var n = this.shown.length, pages = Math.max(1, Math.ceil(n / this.pageSize));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    var start = this.page * this.pageSize, stop = Math.min(n, start + this.pageSize), frag = document.createDocumentFragment();
    for (var p = start; p < stop; p++) {
      var i = this.shown[p], r = this.rows[i], tr = el("tr", {id: this.key + i, "data-row": this.key + i});
      for (var j = 0; j < this.cols.length; j++) { tr.appendChild(this.cell(this.cols[j], r[j], i)); }
      frag.appendChild(tr);
    }
    this.tbody.textContent = ""; this.tbody.appendChild(frag);
    this.renderPager(n, start, stop, pages);
  };
  DataTable.prototype.renderPager = function (n, start, stop, pages) {
    var self = this, pg = this.pager;
    pg.textContent = "";
    function button(text, to, off) {
      var b = el("button", {type: "button"}, text); b.disabled = off;
      b.addEventListener("click", function () { self.page = to; self.render(); });
      pg.appendChild(b);
    }
    button("\u00ab first", 0, this.page === 0); button("\u2039 prev", this.page - 1, this.page === 0);
    button("next \u203a", this.page + 1, this.page >= pages - 1); button("last \u00bb", pages - 1, this.page >= pages - 1);
    var text = n ? "rows " + (start + 1) + "\u2013" + stop + " of " + n : "no rows match";
    if (n !== this.rows.length) { text += " (filtered from " + this.rows.length + ")"; }
    pg.appendChild(el("span", {"class": "count"}, text + ", page " + (this.page + 1) + " of " + pages));
  };
  DataTable.prototype.reveal = function (hash) {
    var m = new RegExp("^#" + this.key + "(\\d+)$").exec(hash || "");
    if (!m || +m[1] >= this.rows.length) { return false; }
    var i = +m[1], pos = this.shown.indexOf(i);
    if (pos < 0) {
      this.inputs.forEach(function (f) { f.forEach(function (x) { x.value = ""; }); });
      this.apply(false); pos = this.shown.indexOf(i);
    }
    this.page = Math.floor(pos / this.pageSize); this.render();
    var tr = document.getElementById(this.key + i);
    if (tr) { tr.className = "target"; tr.scrollIntoView({block: "center"}); }
    return true;
  };

  var tables = [];
  var nodes = document.querySelectorAll("[data-table]");
  for (var k = 0; k < nodes.length; k++) {
    var spec = (window.DLA_TABLES || {})[nodes[k].getAttribute("data-table")];
    if (spec) { tables.push(new DataTable(nodes[k], spec)); }
  }
  function follow() { tables.forEach(function (t) { t.reveal(window.location.hash); }); }
  window.addEventListener("hashchange", follow);
  follow();
  window.DlaReport = {DataTable: DataTable, tables: tables};
})();
"""


def write_static(out_dir: Path) -> list[Path]:
    """Write ``static/report.css`` and ``static/report.js`` under ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        The report's top directory.

    Returns
    -------
    list of Path
        The two files.
    """
    static = out_dir / "static"
    static.mkdir(parents=True, exist_ok=True)
    css, js = static / "report.css", static / "report.js"
    css.write_text(REPORT_CSS.lstrip(), encoding="utf-8")
    js.write_text(TABLE_JS.lstrip(), encoding="utf-8")
    return [css, js]
