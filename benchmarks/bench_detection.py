"""Detection quality of the packaged finder on held-out simulated skies.

Two sets are simulated with the ``heldout`` sky preset (forest, Lyman-limit systems,
continua, emission lines, noise shape, resolution and BAL share all *outside* the ranges
the models trained on) and with seeds never used in training or calibration:

* ``natural``: >= 2000 sightlines, S/N 1-30 (log-uniform), DLAs at 0.25 per unit z,
  Lyman-limit systems and sub-DLAs at their natural incidence;
* ``rich``: >= 500 sightlines, DLAs at 2 per unit z, otherwise the same.

Each set is catalogued with ``dla-cnn catalog`` defaults (2 workers) by the packaged
two-stage finder and, beside it, by the previous finder (the per-pixel votes alone,
``--single-stage``).  A detection matches a true absorber on the same sightline with
|dz| < 0.015 (one-to-one, nearest first, as ``dla-cnn vet``).  Figures:

* completeness: true DLAs (log N >= 20.3) on S/N >= 3 sightlines reported as DLA;
* purity: DLA rows (all S/N) that match a true absorber with log N >= 20.0;
* dv = c (z_det - z_true) / (1 + z_true) of matched true DLAs: robust sigma (1.4826 MAD,
  ``astropy.stats.mad_std``), standard deviation and median;
* dlog N of matched true DLAs: robust sigma and median;
* coverage: share of matched true absorbers within the reported 1-sigma z and N errors.

Beside them, the ceiling that log N_HI errors alone put on completeness and purity
(:func:`dla_cnn.vet.typing_ceiling`): an ideal finder that finds every true absorber of
log N >= 19 and nothing else, measures log N with Gaussian errors (of the goal's 0.12 dex,
and of each finder's robust scatter) and types rows by the measured column; and the log N
scatter at which that finder's completeness is 0.95 (:func:`dla_cnn.vet.sigma_for_completeness`).

Last, the new finder's catalog is written once more with ``--min-confidence 0`` and scored at
thresholds 0-0.9: the operating points a user can choose.

Rates carry 68.3% Wilson binomial intervals.  Goals (issue "Catalog-grade absorbers"):
completeness >= 0.95, purity >= 0.95, robust sigma(dv) <= 80 km/s, |median dv| <= 15 km/s,
robust sigma(log N) <= 0.12 dex, coverage 0.68 +- 0.05.

Usage: python benchmarks/bench_detection.py [--n-natural 2000] [--n-rich 500] [--data runs/heldout]
       [--model FINDER.keras] [--baseline single-stage | OTHER_FINDER.keras]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from dla_cnn.constants import C_KMS, DLA_MIN_LOG_NHI, LYA_REST, LYB_REST

SNR_BINS = (0.0, 2.0, 3.0, 5.0, 10.0, 1000.0)
NHI_BINS = (20.3, 20.6, 21.0, 21.5, 23.0)


def wilson(k: int, n: int) -> tuple[float, float, float]:
    from astropy.stats import binom_conf_interval

    if n == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = binom_conf_interval(k, n, confidence_level=0.683, interval="wilson")
    return k / n, float(lo), float(hi)


def _share(k: int, n: int) -> str:
    return f"{k / n:.2f}" if n else "n/a"


def fmt_rate(k: int, n: int) -> str:
    r, lo, hi = wilson(k, n)
    return "n/a" if n == 0 else f"{r:.3f} [{lo:.3f}, {hi:.3f}] ({k}/{n})"


def simulate(path: Path, n: int, seed: int, dla_rate: float) -> Path:
    from astropy.table import Table

    from dla_cnn.simulate import SIMULATOR_VERSION
    from dla_cnn.simulate.export import simulate_to_directory

    truth = path / "truth.ecsv"
    if truth.exists() and len(list(path.glob("spec-*.fits"))) == n:
        kept = Table.read(truth).meta.get("simulator_version")
        if kept == SIMULATOR_VERSION:
            return path
        print(f"{path}: the kept set is not marked as made by simulator version {SIMULATOR_VERSION} "
              f"(its mark: {kept}); simulating it again")
        shutil.rmtree(path)
    t0 = time.perf_counter()
    simulate_to_directory(path, n, seed=seed, dla_rate=dla_rate, snr_distribution="loguniform", sky="heldout")
    print(f"simulated {n} held-out sightlines (seed {seed}, {dla_rate} DLAs per unit z) in {time.perf_counter() - t0:.0f} s")
    return path


def score(cat_path: Path, truth_path: Path, min_confidence: float | None = None) -> dict:
    """Detection figures of one catalog against its truth (see the module docstring); with
    ``min_confidence``, of its rows at or above that confidence only."""
    from astropy.stats import mad_std
    from astropy.table import Table

    from dla_cnn.vet import match

    det = Table.read(cat_path, hdu="ABSORBERS")
    if min_confidence is not None and len(det):
        det = det[np.asarray(det["confidence"]) >= min_confidence]
    sl = Table.read(cat_path, hdu="SIGHTLINES")
    truth = Table.read(truth_path, format="ascii.ecsv")
    ok = sl[sl["status"] == "ok"]
    zr = {str(r["sightline_id"]): (float(r["z_min"]), float(r["z_max"]), float(r["snr"])) for r in ok}
    keep = [str(t["sightline_id"]) in zr and zr[str(t["sightline_id"])][0] <= t["z_abs"] <= zr[str(t["sightline_id"])][1]
            for t in truth]
    truth = truth[np.array(keep, dtype=bool)] if len(truth) else truth
    t_snr = np.array([zr[str(s)][2] for s in truth["sightline_id"]]) if len(truth) else np.empty(0)
    det = det[det["type"] != "LYB"] if len(det) else det
    di, ti = match(det, truth)
    det_match = np.full(len(det), -1)
    det_match[di] = ti
    true_match = np.full(len(truth), -1)
    true_match[ti] = di
    t_n = np.asarray(truth["log_nhi"], float)
    is_dla_row = np.asarray(det["type"] == "DLA") if len(det) else np.zeros(0, bool)
    t_dla = t_n >= DLA_MIN_LOG_NHI
    found_as_dla = np.array([m >= 0 and bool(is_dla_row[m]) for m in true_match])
    out = {"n_sightlines": len(sl), "n_ok": len(ok), "n_true_dla": int(t_dla.sum()), "n_dla_rows": int(is_dla_row.sum())}
    sel = t_dla & (t_snr >= 3)
    out["completeness"] = (int((found_as_dla & sel).sum()), int(sel.sum()))
    pure = np.array([m >= 0 and t_n[m] >= 20.0 for m in det_match]) if len(det) else np.zeros(0, bool)
    out["purity"] = (int((pure & is_dla_row).sum()), int(is_dla_row.sum()))
    out["fp_dla_per_sightline"] = float((is_dla_row & ~pure).sum() / max(len(ok), 1))
    pairs = [(d, t) for d, t in zip(di, ti) if t_dla[t]]
    dz = np.array([det["z_abs"][d] - truth["z_abs"][t] for d, t in pairs])
    zt = np.array([truth["z_abs"][t] for d, t in pairs])
    dv = C_KMS * dz / (1 + zt) if len(pairs) else np.empty(0)
    dn = np.array([det["log_nhi"][d] - truth["log_nhi"][t] for d, t in pairs])
    zerr = np.array([det["z_abs_err"][d] for d, t in pairs])
    nerr = np.array([det["log_nhi_err"][d] for d, t in pairs])
    out["n_pairs"] = len(pairs)
    out["per_sightline"] = _per_sightline(truth, det, sel & found_as_dla, sel, pure & is_dla_row, is_dla_row,
                                          [truth["sightline_id"][t] for d, t in pairs], dv, dn)
    out["dv_robust_sigma"] = float(mad_std(dv)) if len(dv) else np.nan
    out["dv_std"] = float(np.std(dv)) if len(dv) else np.nan
    out["dv_median"] = float(np.median(dv)) if len(dv) else np.nan
    out["dlogn_robust_sigma"] = float(mad_std(dn)) if len(dn) else np.nan
    out["dlogn_std"] = float(np.std(dn)) if len(dn) else np.nan
    out["dlogn_median"] = float(np.median(dn)) if len(dn) else np.nan
    z_in, n_in = np.abs(dz) <= zerr, np.abs(dn) <= nerr
    out["z_coverage"] = (int(z_in.sum()), len(pairs))
    out["nhi_coverage"] = (int(n_in.sum()), len(pairs))
    p_snr = np.array([t_snr[t] for d, t in pairs])
    out["dv_by_snr"] = [(f"S/N {lo:g}-{hi:g}", int(b.sum()), float(mad_std(dv[b])) if b.sum() >= 5 else np.nan,
                         int(z_in[b].sum()), int(n_in[b].sum()))
                        for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:])
                        for b in [(p_snr >= lo) & (p_snr < hi)]]
    rows = []
    for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:]):
        b = t_dla & (t_snr >= lo) & (t_snr < hi)
        sl_snr = np.asarray(ok["snr"], float)
        d_snr = np.array([zr[str(s)][2] for s in det["sightline_id"]]) if len(det) else np.empty(0)
        db = is_dla_row & (d_snr >= lo) & (d_snr < hi)
        rows.append((f"S/N {lo:g}-{hi:g}", (int((found_as_dla & b).sum()), int(b.sum())),
                     (int((pure & db).sum()), int(db.sum())), int(((sl_snr >= lo) & (sl_snr < hi)).sum())))
    out["by_snr"] = rows
    rows = []
    for lo, hi in zip(NHI_BINS[:-1], NHI_BINS[1:]):
        b = (t_n >= lo) & (t_n < hi) & (t_snr >= 3)
        rows.append((f"log N {lo:g}-{hi:g}", (int((found_as_dla & b).sum()), int(b.sum()))))
    sub = (t_n >= 19.0) & (t_n < DLA_MIN_LOG_NHI)
    sub_as_dla = np.array([m >= 0 and bool(is_dla_row[m]) for m in true_match]) & sub
    out["subdla_as_dla"] = (int(sub_as_dla.sum()), int(sub.sum()))
    out["by_nhi"] = rows
    from dla_cnn.vet import sigma_for_completeness, typing_ceiling

    wanted = t_snr >= 3
    own = out["dlogn_robust_sigma"]
    out["ceiling"] = {"goal": typing_ceiling(t_n, 0.12, wanted=wanted),
                      "own": typing_ceiling(t_n, own, wanted=wanted) if np.isfinite(own) else None,
                      "sigma_for_goal": sigma_for_completeness(t_n, 0.95, wanted=wanted)}
    out["misses"], out["false_rows"] = _diagnose(det, truth, t_snr, true_match, det_match, is_dla_row, found_as_dla, sel)
    return out


def _per_sightline(truth, det, found, wanted, pure_rows, dla_rows, pair_ids, dv, dn) -> dict:
    """Each sightline's share of the figures, for the paired bootstrap."""
    t_id = np.asarray(truth["sightline_id"]).astype(str)
    d_id = np.asarray(det["sightline_id"]).astype(str) if len(det) else np.empty(0, str)
    p_id = np.asarray(pair_ids).astype(str)
    ids = sorted(set(t_id) | set(d_id))
    out = {}
    for sid in ids:
        t, d, p = t_id == sid, d_id == sid, p_id == sid
        out[sid] = (int(found[t].sum()), int(wanted[t].sum()), int(pure_rows[d].sum()), int(dla_rows[d].sum()),
                    np.asarray(dv)[p], np.asarray(dn)[p])
    return out


BOOT_FIGURES = (("completeness", "higher"), ("purity", "higher"), ("robust sigma(dv) km/s", "lower"),
                ("robust sigma(dlog N) dex", "lower"))


def _figures(parts: list[tuple]) -> np.ndarray:
    from astropy.stats import mad_std

    c = sum(p[0] for p in parts) / max(sum(p[1] for p in parts), 1)
    pu = sum(p[2] for p in parts) / max(sum(p[3] for p in parts), 1)
    dv = np.concatenate([p[4] for p in parts]) if parts else np.empty(0)
    dn = np.concatenate([p[5] for p in parts]) if parts else np.empty(0)
    return np.array([c, pu, mad_std(dv) if dv.size else np.nan, mad_std(dn) if dn.size else np.nan])


def paired_bootstrap(new: dict, prev: dict, n_boot: int = 1000, seed: int = 0) -> list[tuple]:
    """Differences new - prev of the main figures, resampling sightlines (both catalogs together).

    Returns rows ``(figure, difference, lo, hi, verdict)`` with 68.3% percentile intervals;
    the verdict is "better" or "worse" only where the interval excludes zero.
    """
    a, b = new["per_sightline"], prev["per_sightline"]
    empty = (0, 0, 0, 0, np.empty(0), np.empty(0))
    ids = sorted(set(a) | set(b))
    pa, pb = [a.get(i, empty) for i in ids], [b.get(i, empty) for i in ids]
    point = _figures(pa) - _figures(pb)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        k = rng.integers(0, len(ids), len(ids))
        draws.append(_figures([pa[i] for i in k]) - _figures([pb[i] for i in k]))
    lo, hi = np.nanpercentile(np.array(draws), [15.85, 84.15], axis=0)
    rows = []
    for j, (name, good) in enumerate(BOOT_FIGURES):
        if lo[j] > 0 or hi[j] < 0:
            verdict = "better" if (lo[j] > 0) == (good == "higher") else "worse"
        else:
            verdict = "not distinguishable"
        rows.append((name, point[j], lo[j], hi[j], verdict))
    return rows


def _in_lyb_forest(z_abs, z_qso) -> np.ndarray:
    """True where the absorber's Ly-alpha falls blueward of the quasar's Ly-beta emission."""
    return (1 + np.asarray(z_abs, float)) * LYA_REST < (1 + np.asarray(z_qso, float)) * LYB_REST


def _diagnose(det, truth, t_snr, true_match, det_match, is_dla_row, found_as_dla, sel) -> tuple[dict, dict]:
    """Where the missed true DLAs (S/N >= 3) and the false DLA rows (all S/N) come from.

    Each miss or false row is counted once, in the first class of its list that applies.
    """
    t_n = np.asarray(truth["log_nhi"], float)
    t_z = np.asarray(truth["z_abs"], float)
    t_id = np.asarray(truth["sightline_id"]).astype(str)
    misses = {"reported as SUBDLA (log N measured < 20.3)": 0,
              "another true absorber (log N >= 19) within |dz| < 0.015": 0,
              "not reported, Ly-alpha in the Ly-beta forest": 0, "not reported, S/N 3-5": 0, "not reported, other": 0}
    for i in np.flatnonzero(sel & ~found_as_dla):
        near = (t_id == t_id[i]) & (np.abs(t_z - t_z[i]) < 0.015) & (t_n >= 19.0)
        near[i] = False
        if true_match[i] >= 0:
            key = "reported as SUBDLA (log N measured < 20.3)"
        elif near.any():
            key = "another true absorber (log N >= 19) within |dz| < 0.015"
        elif _in_lyb_forest(t_z[i], truth["z_qso"][i]):
            key = "not reported, Ly-alpha in the Ly-beta forest"
        elif t_snr[i] < 5:
            key = "not reported, S/N 3-5"
        else:
            key = "not reported, other"
        misses[key] += 1
    false_rows = {"a true sub-DLA 19.0-20.0 measured >= 20.3": 0, "a true absorber below log N 19.0": 0,
                  "unmatched, S/N < 3": 0, "unmatched, Ly-alpha in the Ly-beta forest": 0, "unmatched, other": 0}
    d_snr = np.asarray(det["snr"], float) if len(det) else np.empty(0)
    for j in np.flatnonzero(is_dla_row):
        m = det_match[j]
        if m >= 0 and t_n[m] >= 20.0:
            continue
        if m >= 0:
            key = "a true sub-DLA 19.0-20.0 measured >= 20.3" if t_n[m] >= 19.0 else "a true absorber below log N 19.0"
        elif d_snr[j] < 3:
            key = "unmatched, S/N < 3"
        elif _in_lyb_forest(det["z_abs"][j], det["z_qso"][j]):
            key = "unmatched, Ly-alpha in the Ly-beta forest"
        else:
            key = "unmatched, other"
        false_rows[key] += 1
    return misses, false_rows


THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def report_thresholds(cat0_path: Path, truth_path: Path, label: str) -> None:
    """Completeness and purity at each of :data:`THRESHOLDS`, from one catalog written at confidence 0."""
    print(f"\n| --min-confidence ({label}) | completeness, S/N >= 3 | purity of DLA rows | false DLA rows per sightline |")
    print("|---:|---|---|---:|")
    for t in THRESHOLDS:
        r = score(cat0_path, truth_path, min_confidence=t)
        print(f"| {t:g} | {fmt_rate(*r['completeness'])} | {fmt_rate(*r['purity'])} | {r['fp_dla_per_sightline']:.4f} |")


def report(name: str, res: dict, prev: dict, labels: tuple[str, str]) -> None:
    print(f"\n### {name}: {res['n_sightlines']} sightlines ({res['n_ok']} searched), {res['n_true_dla']} true DLAs on the "
          "searched path\n")
    print(f"| figure | goal | {labels[0]} | {labels[1]} |")
    print("|---|---|---|---|")
    print(f"| completeness, DLAs at S/N >= 3 reported as DLA | >= 0.95 | {fmt_rate(*res['completeness'])} | "
          f"{fmt_rate(*prev['completeness'])} |")
    print(f"| purity of DLA rows (match log N >= 20.0) | >= 0.95 | {fmt_rate(*res['purity'])} | {fmt_rate(*prev['purity'])} |")
    print(f"| false DLA rows per sightline | | {res['fp_dla_per_sightline']:.4f} | {prev['fp_dla_per_sightline']:.4f} |")
    print(f"| true sub-DLAs (19.0-20.3) reported as DLA | | {fmt_rate(*res['subdla_as_dla'])} | "
          f"{fmt_rate(*prev['subdla_as_dla'])} |")
    for key, label, goal, unit in (("dv_robust_sigma", "robust sigma(dv) (1.4826 MAD)", "<= 80", "km/s"),
                                   ("dv_std", "std(dv)", "", "km/s"), ("dv_median", "median dv", "|.| <= 15", "km/s"),
                                   ("dlogn_robust_sigma", "robust sigma(dlog N) (1.4826 MAD)", "<= 0.12", "dex"),
                                   ("dlogn_std", "std(dlog N)", "", "dex"), ("dlogn_median", "median dlog N", "", "dex")):
        print(f"| {label} | {goal} | {res[key]:.3f} {unit} | {prev[key]:.3f} {unit} |")
    print(f"| z within reported 1 sigma | 0.68 +- 0.05 | {fmt_rate(*res['z_coverage'])} | {fmt_rate(*prev['z_coverage'])} |")
    print(f"| log N within reported 1 sigma | 0.68 +- 0.05 | {fmt_rate(*res['nhi_coverage'])} | "
          f"{fmt_rate(*prev['nhi_coverage'])} |")
    ceil = res["ceiling"]
    print("\n| ideal finder: every true absorber of log N >= 19 found, nothing else, log N with Gaussian errors, "
          "typed DLA at measured log N >= 20.3 | completeness, S/N >= 3 | purity of DLA rows |")
    print("|---|---|---|")
    rows = [("errors of 0.12 dex (the goal's robust sigma)", ceil["goal"])]
    rows += [(f"errors of {r['dlogn_robust_sigma']:.3f} dex (robust sigma of {lab})", r["ceiling"]["own"])
             for r, lab in ((res, labels[0]), (prev, labels[1])) if r["ceiling"]["own"] is not None]
    for lab, c in rows:
        print(f"| {lab} | {c.completeness:.3f} | {c.purity:.3f} |")
    print(f"\nlog N scatter at which the ideal finder's completeness is 0.95: {ceil['sigma_for_goal']:.3f} dex")
    print("\n| bin | completeness (new) | purity (new) | completeness (prev) | purity (prev) | sightlines |")
    print("|---|---|---|---|---|---:|")
    for (lab, c, p, n), (_, c0, p0, _) in zip(res["by_snr"], prev["by_snr"]):
        print(f"| {lab} | {fmt_rate(*c)} | {fmt_rate(*p)} | {fmt_rate(*c0)} | {fmt_rate(*p0)} | {n} |")
    for (lab, c), (_, c0) in zip(res["by_nhi"], prev["by_nhi"]):
        print(f"| {lab} (S/N >= 3) | {fmt_rate(*c)} | | {fmt_rate(*c0)} | | |")
    print(f"\n| matched true DLAs by S/N | robust sigma(dv) km/s, {labels[0]} (n) | {labels[1]} (n) "
          f"| z / log N within 1 sigma, {labels[0]} | {labels[1]} |")
    print("|---|---:|---:|---:|---:|")
    for (lab, n, v, kz, kn), (_, n0, v0, kz0, kn0) in zip(res["dv_by_snr"], prev["dv_by_snr"]):
        print(f"| {lab} | {v:.0f} ({n}) | {v0:.0f} ({n0}) | {_share(kz, n)} / {_share(kn, n)} "
              f"| {_share(kz0, n0)} / {_share(kn0, n0)} |")
    print(f"\n| missed true DLAs at S/N >= 3, by cause | {labels[0]} | {labels[1]} |")
    print("|---|---:|---:|")
    for key in res["misses"]:
        print(f"| {key} | {res['misses'][key]} | {prev['misses'][key]} |")
    print(f"\n| false DLA rows, by what they are | {labels[0]} | {labels[1]} |")
    print("|---|---:|---:|")
    for key in res["false_rows"]:
        print(f"| {key} | {res['false_rows'][key]} | {prev['false_rows'][key]} |")
    print(f"\n| {labels[0]} minus {labels[1]} | difference | 68% paired bootstrap (1000 resamplings of sightlines) | |")
    print("|---|---:|---|---|")
    for name, d, lo, hi, verdict in paired_bootstrap(res, prev):
        print(f"| {name} | {d:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {verdict} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-natural", type=int, default=2000)
    ap.add_argument("--n-rich", type=int, default=500)
    ap.add_argument("--data", default="runs/heldout", help="where the held-out spectra are kept between runs")
    ap.add_argument("--model", default=None, help="two-stage finder (default: packaged)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", default="single-stage",
                    help="what to compare with: single-stage (the per-pixel votes alone) or another finder's .keras")
    args = ap.parse_args()
    if args.baseline == "single-stage":
        runs = (("new", args.model, True), ("prev", args.model, False))
        labels = ("two-stage (new default)", "per-pixel votes (previous)")
    else:
        runs = (("new", args.model, True), ("prev", args.baseline, True))
        labels = (f"two-stage ({Path(args.model).stem if args.model else 'packaged'})",
                  f"two-stage ({Path(args.baseline).stem})")

    from dla_cnn.scan.builder import build_catalog
    from dla_cnn.scan.detect import DetectConfig

    data = Path(args.data)
    sets = {"natural": simulate(data / "natural", args.n_natural, 9101, 0.25),
            "rich": simulate(data / "rich", args.n_rich, 9102, 2.0)}
    print(f"\n## Detection on held-out skies ({os.cpu_count()} cores, {args.workers} workers)\n")
    for name, path in sets.items():
        scores, speed = {}, {}
        for kind, model, two in runs:
            out = data / f"{name}_{kind}.fits"
            marks: list[tuple[float, int]] = []
            t0 = time.perf_counter()
            res = build_catalog(path, out, model_path=model, workers=args.workers, detect=DetectConfig(two_stage=two),
                                progress=lambda done, total: marks.append((time.perf_counter(), done)), restart=True)
            t1 = time.perf_counter()
            after = [(t, d) for t, d in marks if d > 0]
            warm = (res["n_sightlines"] - after[0][1]) / (t1 - after[0][0]) if len(after) > 1 else float("nan")
            speed[kind] = (res["n_sightlines"] / (t1 - t0), warm)
            scores[kind] = score(out, path / "truth.ecsv")
        report(name, scores["new"], scores["prev"], labels)
        print(f"\ncatalog throughput with {args.workers} workers, sightlines/s including start-up / after the first shard: "
              f"{speed['new'][0]:.0f} / {speed['new'][1]:.0f} ({labels[0]}), "
              f"{speed['prev'][0]:.0f} / {speed['prev'][1]:.0f} ({labels[1]})")
        cat0 = data / f"{name}_new_c0.fits"
        build_catalog(path, cat0, model_path=args.model, workers=args.workers, restart=True,
                      detect=DetectConfig(two_stage=True, min_confidence=0.0))
        report_thresholds(cat0, path / "truth.ecsv", labels[0])


if __name__ == "__main__":
    main()
