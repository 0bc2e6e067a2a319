"""dla-cnn report: a static HTML report of a catalog, checked as files and in a headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dla_cnn.assets import sample_spectra_dir, sample_truth_path
from dla_cnn.catalog import absorber_table, sightline_table, write_catalog
from dla_cnn.cli import app
from dla_cnn.exceptions import ConfigError
from dla_cnn.report import write_report
from dla_cnn.report.build import choose_pages
from dla_cnn.report.names import page_names, safe_stem

runner = CliRunner()
SCARY = '<script>alert("x")</script> & more'
META = {"model_name": "dla_cnn_fcn", "model_sha256": "ab" * 32, "command": "dla-cnn catalog <sims> --out c.fits"}
WITH_ABSORBERS = ("10260-60026-0003", "10260-60026-0004")


def _write_tiny_catalog(path: Path) -> Path:
    """Three ok sightlines (two with absorbers, from the packaged sample), one error row with HTML in it."""
    from astropy.table import Table

    truth = Table.read(sample_truth_path(), format="ascii.ecsv")
    zq = {str(r["sightline_id"]): float(r["z_qso"]) for r in truth}
    sl = [dict(sightline_id=sid, status="ok", z_qso=zq.get(sid, 2.6), snr=5.0, z_min=1.96, z_max=zq.get(sid, 2.6) - 0.04,
               file=f"/elsewhere/spec-{sid}.fits.gz", n_dla=1 if sid in WITH_ABSORBERS else 0, n_subdla=0)
          for sid in ("10260-60026-0001", *WITH_ABSORBERS)]
    sl.append(dict(sightline_id="bad<&>id", status="error", message=SCARY, file="spec-<bad>.fits"))
    ab = [dict(sightline_id="10260-60026-0003", z_qso=zq["10260-60026-0003"], z_abs=2.5378, z_abs_err=0.0008,
               log_nhi=20.82, log_nhi_err=0.07, confidence=0.99, snr=6.4, type="DLA"),
          dict(sightline_id="10260-60026-0003", z_qso=zq["10260-60026-0003"], z_abs=1.9849, z_abs_err=0.0009,
               log_nhi=19.82, log_nhi_err=0.18, confidence=0.68, snr=6.4, type="LYB"),
          dict(sightline_id="10260-60026-0004", z_qso=zq["10260-60026-0004"], z_abs=2.0009, z_abs_err=0.0012,
               log_nhi=20.34, log_nhi_err=0.18, confidence=0.91, snr=4.9, type="DLA")]
    write_catalog(path, absorber_table(ab), sightline_table(sl), META)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _write_tiny_catalog(tmp_path_factory.mktemp("cat") / "tiny.fits")


@pytest.fixture(scope="module")
def spectra_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("spectra")
    for sid in WITH_ABSORBERS:
        shutil.copy(sample_spectra_dir() / f"spec-{sid}.fits.gz", d / f"spec-{sid}.fits.gz")
    return d


@pytest.fixture(scope="module")
def report_dir(tiny, spectra_dir, tmp_path_factory) -> Path:
    """One report of the tiny catalog: every sightline a page, spectra without the model, a truth table."""
    out = tmp_path_factory.mktemp("report")
    res = write_report(tiny, out, spectra=spectra_dir, truth=sample_truth_path(), sightlines="all", curves=False)
    assert res.index == out / "index.html" and res.n_pages == 4 and res.n_spectra == 2
    return out


def _blob(path: Path) -> dict:
    text = path.read_text()
    return json.loads(text.split(" = ", 2)[-1].rstrip().rstrip(";").replace("<\\/", "</"))


def test_index_has_provenance_counts_and_figures(report_dir):
    html = (report_dir / "index.html").read_text()
    for needle in ("dla_cnn_fcn", "ab" * 32, "dla-cnn catalog &lt;sims&gt; --out c.fits", "created", "dla-cnn version"):
        assert needle in html
    counts = re.search(r"Sightlines by status.*?</table>", html, re.S).group(0)
    assert re.search(r"<td>ok</td><td>3</td>", counts) and re.search(r"<td>error</td><td>1</td>", counts)
    types = re.search(r"Absorbers by type.*?</table>", html, re.S).group(0)
    assert "<td>DLA</td><td>2</td>" in types and "<td>LYB</td><td>1</td>" in types
    assert "dN/dz" in html and "68% Poisson interval" in html and "total redshift path" in html
    for name in ("z_abs", "log_nhi", "confidence", "snr", "dndz"):
        assert (report_dir / "figures" / f"{name}.png").stat().st_size > 1000
        assert f'src="figures/{name}.png"' in html
    assert (report_dir / "static" / "report.js").is_file() and (report_dir / "sightlines.html").is_file()
    assert "http://" not in html and "https://" not in html  # nothing is fetched from the network


def test_truth_adds_the_vetting_section(report_dir):
    html = (report_dir / "index.html").read_text()
    assert "Vetting against a truth table" in html and "completeness (as DLA)" in html
    assert 'src="vet/reliability.png"' in html and (report_dir / "vet" / "reliability.png").is_file()


def test_table_and_sightline_pages_link_both_ways(report_dir):
    blob = _blob(report_dir / "data" / "absorbers.js")
    assert len(blob["rows"]) == 3 and blob["key"] == "a" and blob["hash"] == "abs-"
    assert [c["key"] for c in blob["columns"]][:5] == ["sightline_id", "type", "confidence", "snr", "z_abs"]
    assert blob["pages"]["10260-60026-0003"] == "sightlines/10260-60026-0003.html" and len(blob["pages"]) == 4
    html = (report_dir / blob["pages"]["10260-60026-0003"]).read_text()
    for i in (0, 1):  # its two absorbers: anchors the table links to, and links back to the table rows
        assert f'id="abs-{i}"' in html and f'href="../index.html#a{i}"' in html
    assert "20.82 \u00b1 0.07" in html and "2.5378 \u00b1 0.0008" in html
    assert 'href="../sightlines.html#s1"' in html
    assert _blob(report_dir / "data" / "sightlines.js")["pages"] == blob["pages"]


def test_catalog_text_is_escaped(report_dir):
    html = (report_dir / "index.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html
    assert "bad&lt;&amp;&gt;id" in html
    page = report_dir / page_names(["bad<&>id"])["bad<&>id"]
    assert page.name == "bad___id.html" and "<script>alert" not in page.read_text()
    assert "</script>" not in (report_dir / "data" / "sightlines.js").read_text()


def test_spectra_pages_show_the_figure(report_dir):
    html = (report_dir / "sightlines" / "10260-60026-0003.html").read_text()
    assert 'src="10260-60026-0003.png"' in html and "were not given" not in html
    assert (report_dir / "sightlines" / "10260-60026-0003.png").stat().st_size > 10000
    assert "no spectrum file for 10260-60026-0001" in (report_dir / "sightlines" / "10260-60026-0001.html").read_text()


@pytest.mark.parametrize("mode,limit,n", [("all", None, 4), ("none", None, 0), ("absorbers", None, 2), ("all", 3, 3)])
def test_which_sightlines_get_pages(mode, limit, n):
    rows = [{"sightline_id": s} for s in ("x1", "x2", "x2", "x3", "x4")]
    chosen = choose_pages(rows, {"x2": [], "x4": []}, mode, limit)
    assert len(chosen) == n and len({rows[j]["sightline_id"] for j in chosen}) == n


def test_page_names_are_safe_and_unique():
    names = page_names(["a/b", "a:b", "A_b", "../x", "7001-57001-0012"])
    assert len(set(n.lower() for n in names.values())) == 5
    assert names["7001-57001-0012"] == "sightlines/7001-57001-0012.html"
    assert all("/" not in n.split("/", 1)[1] for n in names.values()) and safe_stem("..") == "_.."


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
def test_missing_or_corrupt_catalog_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        write_report(tmp_path / "nope.fits", tmp_path / "r")
    (tmp_path / "bad.fits").write_bytes(b"SIMPLE  =  T garbage")
    with pytest.raises(ConfigError, match="bad.fits"):
        write_report(tmp_path / "bad.fits", tmp_path / "r")


def test_cli_report(tiny, tmp_path):
    res = runner.invoke(app, ["report", str(tiny), "--out", str(tmp_path / "r"), "--max-sightlines", "1"])
    assert res.exit_code == 0, res.output
    assert "1 sightline pages" in " ".join(res.output.split())
    html = (tmp_path / "r" / "index.html").read_text()
    assert "first 1 of 2 sightlines with absorbers" in html and "dla-cnn report" in html
    assert "Spectra were not given" in (tmp_path / "r" / "sightlines" / "10260-60026-0003.html").read_text()


@pytest.mark.parametrize("args,needle", [(["missing.fits"], "not found"), (["{tiny}", "--sightlines", "some"], "--sightlines"),
                                         (["{tiny}", "--spectra", "nowhere"], "spectra directory not found")])
def test_cli_report_errors_are_one_line(tiny, tmp_path, args, needle):
    args = [a.format(tiny=tiny) for a in args]
    res = runner.invoke(app, ["report", *args, "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and needle in res.output and "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1


@pytest.mark.slow
def test_cli_report_with_model_curves(tiny, spectra_dir, tmp_path):
    res = runner.invoke(app, ["report", str(tiny), "--out", str(tmp_path / "r"), "--spectra", str(spectra_dir)])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r" / "sightlines" / "10260-60026-0004.html").read_text()
    assert "per-pixel classifier probability" in html and 'class="note"' not in html


# --------------------------------------------------------------------------- in a real browser
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _headless(browser: str, profile: Path, *args: str) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def _not_blank(png: Path) -> None:
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] >= 800 and float(np.var(pixels[..., :3])) > 0


@pytest.fixture()
def browser() -> str:
    """A headless-capable Chromium or Chrome; the test skips where none is installed."""
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        pytest.skip("no headless browser found (chromium, chromium-browser, google-chrome); "
                    "install the Debian package chromium")
    return found


@pytest.mark.slow
def test_report_renders_in_headless_chromium(browser, report_dir, tmp_path):
    index = (report_dir / "index.html").resolve().as_uri()
    dom = _headless(browser, tmp_path / "profile", "--dump-dom", index + "#a2")
    # rows, links and the pager exist only once the script has run
    assert re.search(r'<tr id="a0" data-row="a0"', dom) and 'data-row="a2" class="target"' in dom
    assert "rows 1\u20133 of 3" in dom and 'href="sightlines/10260-60026-0003.html#abs-1"' in dom
    page = (report_dir / "sightlines" / "10260-60026-0003.html").resolve().as_uri()
    dom = _headless(browser, tmp_path / "profile", "--dump-dom", page)
    assert "Sightline 10260-60026-0003" in dom and "20.82 \u00b1 0.07" in dom and 'src="10260-60026-0003.png"' in dom
    for url, name in ((index, "index.png"), (page, "page.png")):
        _headless(browser, tmp_path / "profile", f"--screenshot={tmp_path / name}", "--window-size=1200,900", url)
        _not_blank(tmp_path / name)
