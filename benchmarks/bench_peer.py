"""dla-cnn against gp_dla_finder (Gaussian-process DLA finder) on the same simulated sightlines.

1. Simulate ``--n`` BOSS sightlines with DLAs injected at ``--dla-rate`` per unit redshift
   (``snr_distribution="boss"``), or reuse a directory written by ``simulate_to_directory``
   (``--sims``).  Every ``spec-*.fits`` is read once with ``read_spectrum(engine="astropy")``;
   both tools get exactly the same arrays.  A file that cannot be read is an ``error`` row
   in both catalogs.
2. dla-cnn: ``Scanner()`` (packaged model, or ``--model``) over all sightlines, batched as
   the catalog command does.  Reported apart: model loading, and a warm-up scan of one
   sightline (graph tracing); the timed part is normalisation + inference + detection.
3. gp_dla_finder through its public API, one spectrum at a time, as its README shows::

       finder = Finder(Config.desi_y3(max_absorbers=1, lsf_kernel=BOSS_KERNEL))
       result = finder.run(Spectrum(wavelength, flux, ivar, z_qso, mask))

   * Default trained model (``phase2_2lpt_loa124_nohcd_nobal_wide_m``) and absorber prior
     (``dr9q_concordance``); preset ``desi_y3`` (null vs one absorber, full 50,000-sample
     QMC evidence grid, per-spectrum mean-flux fit, the ``desi-y3-reference`` quality
     policy).  ``--gp-preset desi_y3_fast`` uses the 10,000-sample grid.
   * Line-spread function: the package requires the kernel to describe the instrument and
     names ``boss-r2000-7tap`` as the one for SDSS/eBOSS spectra, so that is the default
     (``--gp-lsf desi`` for its DESI production kernel).  Overriding the kernel relabels the
     preset ``desi_y3+modified``.
   * Inputs: observed vacuum wavelength in Angstrom, flux and ivar as read (the finder
     normalises by the median flux at 1425-1475 A rest itself, so flux units do not
     matter), mask = our bad pixels (``~Sightline.good``; True = bad), with flux and ivar
     set to 0 there.
   * Detection rule: a sightline has one detection when the result is ``completed`` and
     its posterior of at least one absorber, ``p_absorber`` (the ``P_DLA`` of its
     catalogues), is > 0.5 (``--gp-threshold``).  The detection is the best evaluated
     grid point (``grid_z_abs``, ``grid_log_nhi``); type DLA when log N_HI >= 20.3, else
     SUBDLA; ``confidence`` = ``p_absorber``.  At most one absorber per sightline (the
     supported null-vs-one path).  ``p_absorber`` is the posterior of an absorber anywhere
     in the peer's N_HI prior (log N 17.2-22.5), so a detection can be a Lyman-limit
     system; those are kept (as SUBDLA) and count for "completeness (any N)" only.
   * Status: ``completed`` -> ``ok``; anything else (``quality_rejected``,
     ``insufficient_data``, ``failed``, or an exception) -> ``error`` with the reason in
     ``message``; they are counted by reason.  ``z_min``/``z_max`` are left NaN (the peer
     does not report its searched path).
4. Both catalogs are vetted with ``dla_cnn.vet.vet`` (|dz| < 0.015) against the truth of
   the same sightlines, and again on the sightlines both tools searched (``ok`` in both),
   with completeness/purity split by S/N (< 3, 3-7, > 7).

The peer is slow (tens of seconds per spectrum on one core): use ``--gp-limit N`` to run it
on the first N sightlines only (dla-cnn then runs on the same N), and ``--gp-cache FILE``
to keep its per-sightline results (JSON lines) so an interrupted run resumes.  Thread
counts: ``--threads K`` sets OMP/OpenBLAS/MKL threads before numpy is imported (the peer's
docs recommend a few BLAS threads, or one per worker); by default the environment is left
as is.

Usage::

    python benchmarks/bench_peer.py [--n 300] [--seed 31415] [--dla-rate 0.5] [--sims DIR]
        [--gp-limit N] [--skip-cnn] [--model PATH] [--gp-preset desi_y3] [--gp-lsf boss]
        [--gp-cache gp.jsonl] [--threads 1] [--catalogs DIR] [--out results.json]

gp_dla_finder is an optional, benchmark-only dependency (``pip install gp_dla_finder``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

SNR_EDGES = (-math.inf, 3.0, 7.0, math.inf)
SNR_LABELS = ("< 3", "3-7", "> 7")
DLA_MIN = 20.3
MATCH_DZ = 0.015


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="sightlines to simulate (default 300)")
    ap.add_argument("--seed", type=int, default=31415)
    ap.add_argument("--dla-rate", type=float, default=0.5, help="injected DLAs per unit redshift (default 0.5)")
    ap.add_argument("--sims", default=None, help="reuse a directory of spec-*.fits + truth.ecsv")
    ap.add_argument("--gp-limit", type=int, default=None,
                    help="run both tools on the first N sightlines only (the peer is slow)")
    ap.add_argument("--skip-cnn", action="store_true", help="benchmark gp_dla_finder alone")
    ap.add_argument("--model", default=None, help="dla-cnn .keras model (default: the packaged one)")
    ap.add_argument("--gp-preset", default="desi_y3", choices=("desi_y3", "desi_y3_fast", "desi_y3_refined"))
    ap.add_argument("--gp-lsf", default="boss", choices=("boss", "desi"), help="peer line-spread kernel")
    ap.add_argument("--gp-threshold", type=float, default=0.5, help="detection when p_absorber > this")
    ap.add_argument("--gp-cache", default=None, help="JSON-lines file of peer results, reused and appended")
    ap.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (set before numpy loads)")
    ap.add_argument("--catalogs", default=None, help="also write both catalogs (FITS) into this directory")
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- helpers
def _num(x):
    """JSON-safe number (NaN -> None)."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return x
    return None if math.isnan(x) else (("inf" if x > 0 else "-inf") if math.isinf(x) else x)


def _clean(obj):
    """Strict-JSON form of nested results (NaN -> None, numpy scalars -> Python)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not hasattr(obj, "__len__"):
        obj = obj.item()
    if isinstance(obj, float):
        return _num(obj)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def _f1(c: float, p: float) -> float:
    if c is None or p is None or not (c == c and p == p) or c + p == 0:
        return float("nan")
    return 2.0 * c * p / (c + p)


def _fmt(x, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return format(x, spec)


def _error_row_for(path: str, err: Exception) -> dict:
    """SIGHTLINES row of a file that could not be read."""
    from dla_cnn.exceptions import SightlineError
    from dla_cnn.scan.pipeline import error_row, id_from_path

    if isinstance(err, SightlineError):
        return error_row(err)
    sid, plate, mjd, fiber = id_from_path(path)
    return {"sightline_id": sid, "plate": plate, "mjd": mjd, "fiber": fiber, "file": str(path),
            "status": "error", "message": f"{type(err).__name__}: {err}", "n_dla": -1, "n_subdla": -1}


def read_all(files: list[Path]) -> tuple[list, list[dict]]:
    """Read every file once: ``[(Sightline, file)]`` and the error rows of unreadable files."""
    from dla_cnn.io import read_spectrum

    sightlines, errors = [], []
    for path in files:
        try:
            for sl in read_spectrum(path, engine="astropy"):
                sightlines.append(sl)
        except Exception as err:  # one bad file never stops the run
            errors.append(_error_row_for(str(path), err))
    return sightlines, errors


def _base_row(sl) -> dict:
    try:
        snr = float(sl.snr())
    except Exception:
        snr = float("nan")
    return {"sightline_id": sl.sightline_id, "plate": sl.plate, "mjd": sl.mjd, "fiber": sl.fiber,
            "ra": sl.ra, "dec": sl.dec, "file": str(sl.provenance.get("file", "")), "z_qso": sl.z_qso,
            "snr": snr, "z_min": float("nan"), "z_max": float("nan"), "n_dla": 0, "n_subdla": 0,
            "status": "ok", "message": ""}


# --------------------------------------------------------------------------- dla-cnn
def load_cnn(model: str | None):
    from dla_cnn.scan.pipeline import Scanner

    t0 = time.perf_counter()
    scanner = Scanner(model)
    return scanner, time.perf_counter() - t0


def run_cnn(scanner, sightlines: list) -> dict:
    """Scan all sightlines batch by batch; a failing batch is redone one sightline at a time."""
    sl_rows, abs_rows = [], []
    n_error = 0

    def take(results):
        for res in results:
            sl_rows.append(res.row)
            abs_rows.extend(res.absorber_rows())

    warmup = float("nan")
    if sightlines:
        t0 = time.perf_counter()
        try:
            list(scanner.scan(sightlines[:1]))
        except Exception:
            pass
        warmup = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    bs = max(1, int(scanner.batch_size))
    for i in range(0, len(sightlines), bs):
        chunk = sightlines[i:i + bs]
        try:
            take(list(scanner.scan(chunk)))
        except Exception:
            for sl in chunk:
                try:
                    take(list(scanner.scan([sl])))
                except Exception as err:
                    row = _base_row(sl)
                    row.update(status="error", message=f"dla-cnn: {type(err).__name__}: {err}", n_dla=-1, n_subdla=-1)
                    sl_rows.append(row)
                    n_error += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(sightlines)
    return {"sightline_rows": sl_rows, "absorber_rows": abs_rows, "wall_s": wall, "warmup_s": warmup,
            "s_per_sightline": wall / n if n else float("nan"),
            "cpu_s_per_sightline": cpu / n if n else float("nan"), "n_exceptions": n_error,
            "status_counts": _count_status(sl_rows)}


def _count_status(rows: list[dict]) -> dict:
    out: dict[str, int] = {}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


# --------------------------------------------------------------------------- gp_dla_finder
def load_gp(preset: str, lsf: str):
    from gp_dla_finder import Config
    from gp_dla_finder.finder import Finder
    from gp_dla_finder.voigt import BOSS_KERNEL, PRODUCTION_KERNEL

    kernel = BOSS_KERNEL if lsf == "boss" else PRODUCTION_KERNEL
    t0 = time.perf_counter()
    config = getattr(Config, preset)(max_absorbers=1, lsf_kernel=kernel)
    finder = Finder(config)
    return finder, time.perf_counter() - t0


def gp_settings(finder) -> dict:
    import gp_dla_finder

    c = finder.config
    return {"version": gp_dla_finder.__version__, "preset": c.preset, "base_preset": c.base_preset,
            "config_digest": c.digest, "model": finder.model.name, "prior": finder.prior.name,
            "sample_grid": finder.grid.name, "num_samples": c.num_samples, "evidence_mode": c.evidence_mode,
            "max_absorbers": c.max_absorbers, "lsf_kernel": c.lsf_kernel, "quality_policy": c.quality_policy,
            "mean_flux_fit": c.enable_tau_eb, "voigt_backend": c.voigt_backend}


def gp_one(finder, sl, index: int) -> dict:
    """Run the peer on one sightline; never raises.  Returns a JSON-ready record."""
    import numpy as np
    from gp_dla_finder.gp.spectrum import Spectrum

    rec = {"sightline_id": sl.sightline_id, "spectrum_digest": spectrum_digest(sl),
           "config_digest": finder.config.digest, "status": "error",
           "reason": "", "p_absorber": None, "z_abs": None, "log_nhi": None, "log_bayes_factor": None,
           "n_usable_pixels": 0, "warnings": []}
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            good = sl.good
            spectrum = Spectrum(wavelength=sl.wavelength, flux=np.where(good, sl.flux, 0.0),
                                ivar=np.where(good, sl.ivar, 0.0), z_qso=float(sl.z_qso), mask=~good)
            result = finder.run(spectrum, targetid=index)
        rec["warnings"] = sorted({str(w.message).split(";")[0][:200] for w in caught})
        rec["status"] = result.status
        rec["reason"] = result.reason
        rec["n_usable_pixels"] = int(result.n_usable_pixels)
        if result.completed:
            rec["p_absorber"] = _num(result.p_absorber)
            rec["log_bayes_factor"] = _num(result.log_bayes_factor)
            if result.absorber_candidates:
                cand = result.absorber_candidates[0]
                rec["z_abs"] = _num(cand.grid_z_abs)
                rec["log_nhi"] = _num(cand.grid_log_nhi)
    except Exception as err:  # one failing spectrum never stops the run
        rec["status"] = "exception"
        rec["reason"] = f"{type(err).__name__}: {err}"[:300]
    rec["seconds"] = time.perf_counter() - t0
    rec["cpu_seconds"] = time.process_time() - c0
    return rec


def spectrum_digest(sl) -> str:
    """Hash of the arrays and redshift the peer sees (cache key with the config digest)."""
    import hashlib

    import numpy as np

    h = hashlib.sha1()
    for arr in (sl.flux, sl.ivar, sl.mask):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(f"{sl.start_index}:{sl.z_qso!r}".encode())
    return h.hexdigest()[:16]


def gp_rows(sl, rec: dict, threshold: float) -> tuple[dict, list[dict]]:
    """Catalog rows of one peer result (see the module docstring for the rule)."""
    row = _base_row(sl)
    if rec["status"] != "completed":
        row.update(status="error", message=f"gp_dla_finder {rec['status']}: {rec['reason']}", n_dla=-1, n_subdla=-1)
        return row, []
    p = rec["p_absorber"]
    if p is None or rec["z_abs"] is None or not p > threshold:
        return row, []
    log_nhi = rec["log_nhi"] if rec["log_nhi"] is not None else float("nan")
    kind = "DLA" if log_nhi >= DLA_MIN else "SUBDLA"
    row["n_dla" if kind == "DLA" else "n_subdla"] = 1
    absorber = {k: row[k] for k in ("sightline_id", "plate", "mjd", "fiber", "ra", "dec", "z_qso", "snr")}
    absorber.update(z_abs=rec["z_abs"], log_nhi=log_nhi, confidence=p, type=kind)
    return row, [absorber]


def _load_cache(path: str | None, digest: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if not path or not os.path.exists(path):
        return out
    with open(path) as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("config_digest") == digest and "spectrum_digest" in rec:
                out[rec["spectrum_digest"]] = rec
    return out


def run_gp(finder, sightlines: list, threshold: float, cache: str | None) -> dict:
    cached = _load_cache(cache, finder.config.digest)
    sl_rows, abs_rows, records = [], [], []
    fresh_seconds = []
    t_start = time.perf_counter()
    keys = [spectrum_digest(sl) for sl in sightlines]
    todo = sum(k not in cached for k in keys)
    done = 0
    for i, sl in enumerate(sightlines):
        rec = cached.get(keys[i])
        if rec is None:
            rec = gp_one(finder, sl, i)
            fresh_seconds.append(rec["seconds"])
            done += 1
            if cache:
                with open(cache, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
            eta = (time.perf_counter() - t_start) / done * (todo - done)
            p = rec["p_absorber"]
            print(f"[gp {done}/{todo}] {sl.sightline_id} {rec['status']} "
                  f"p={_fmt(p, '.3f')} z={_fmt(rec['z_abs'], '.4f')} logN={_fmt(rec['log_nhi'], '.2f')} "
                  f"{rec['seconds']:.1f} s, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)
        records.append(rec)
        row, absorbers = gp_rows(sl, rec, threshold)
        sl_rows.append(row)
        abs_rows.extend(absorbers)
    reasons: dict[str, int] = {}
    for rec in records:
        if rec["status"] != "completed":
            key = f"{rec['status']}: {rec['reason']}"
            reasons[key] = reasons.get(key, 0) + 1
    all_seconds = [r["seconds"] for r in records]
    import numpy as np

    return {"sightline_rows": sl_rows, "absorber_rows": abs_rows, "records": records,
            "n_fresh": len(fresh_seconds), "n_cached": len(records) - len(fresh_seconds),
            "wall_s": float(np.sum(fresh_seconds)) if fresh_seconds else float("nan"),
            "s_per_sightline": float(np.mean(all_seconds)) if all_seconds else float("nan"),
            "s_per_sightline_median": float(np.median(all_seconds)) if all_seconds else float("nan"),
            "cpu_s_per_sightline": float(np.mean([r["cpu_seconds"] for r in records if "cpu_seconds" in r]))
            if any("cpu_seconds" in r for r in records) else float("nan"),
            "s_per_sightline_completed": float(np.mean([r["seconds"] for r in records if r["status"] == "completed"]))
            if any(r["status"] == "completed" for r in records) else float("nan"),
            "not_processed": reasons, "n_not_processed": sum(reasons.values()),
            "status_counts": _count_status(sl_rows)}


# --------------------------------------------------------------------------- vetting
def build_tables(sl_rows: list[dict], abs_rows: list[dict]):
    from dla_cnn.catalog import absorber_table, sightline_table

    return absorber_table(abs_rows), sightline_table(sl_rows)


def _subset(table, ids: set):
    import numpy as np
    from dla_cnn.vet import canonical_ids

    return table[np.isin(canonical_ids(table["sightline_id"]), sorted(ids))]


def vet_catalog(absorbers, sightlines, truth, ids: set | None = None):
    """VetReport, or None when there is no true absorber to vet against."""
    from dla_cnn.vet import vet

    if ids is not None:
        absorbers, sightlines, truth = _subset(absorbers, ids), _subset(sightlines, ids), _subset(truth, ids)
    if len(truth) == 0:  # vet() needs at least one true absorber
        return None
    return vet(absorbers, sightlines, truth, dz=MATCH_DZ, dla_min=DLA_MIN, snr_bins=SNR_EDGES)


def ok_ids(sightlines) -> set:
    import numpy as np
    from dla_cnn.vet import canonical_ids

    return set(canonical_ids(sightlines["sightline_id"])[np.asarray(sightlines["status"]) == "ok"])


def metrics(rep) -> dict:
    return {"sightlines_ok": rep.n_sightlines_ok, "sightlines_not_ok": rep.n_sightlines_not_ok,
            "true_dla": rep.n_true_dla, "pred_dla": rep.n_pred_dla,
            "completeness_dla": rep.completeness_dla, "completeness_any": rep.completeness_any,
            "purity": rep.purity, "f1": _f1(rep.completeness_dla, rep.purity),
            "fp_per_sightline": rep.fp_per_sightline, "dz_median": rep.dz_median, "dz_mad_std": rep.dz_mad_std,
            "dlogn_median": rep.dlogn_median, "dlogn_mad_std": rep.dlogn_mad_std}


def print_tables(title: str, reports: dict, speeds: dict, cpu: dict | None = None) -> None:
    """Markdown: headline metrics, then completeness/purity by S/N, one column per tool."""
    tools = [t for t in ("dla-cnn", "gp_dla_finder") if t in reports]
    print(f"\n### {title}\n")
    if any(reports[t] is None for t in tools):
        print("No true absorber on these sightlines: nothing to vet.")
        for t in tools:
            if t in speeds:
                print(f"- {t}: {speeds[t]:.4g} s / sightline")
        return
    m = {t: metrics(reports[t]) for t in tools}
    print("| metric | " + " | ".join(tools) + " |")
    print("|---|" + "---:|" * len(tools))

    def line(label, key, spec=".3f", fn=None):
        vals = [fn(t) if fn else m[t][key] for t in tools]
        print(f"| {label} | " + " | ".join(_fmt(v, spec) if isinstance(v, float) else str(v) for v in vals) + " |")

    line("sightlines searched (ok)", None,
         fn=lambda t: f"{m[t]['sightlines_ok']} (+{m[t]['sightlines_not_ok']} not ok)")
    line("true DLAs (log N >= 20.3)", "true_dla", fn=lambda t: str(m[t]["true_dla"]))
    line("predicted DLAs", "pred_dla", fn=lambda t: str(m[t]["pred_dla"]))
    line("completeness (as DLA)", "completeness_dla")
    line("completeness (any N)", "completeness_any")
    line("purity (true log N >= 20.0)", "purity")
    line("F1 (DLA completeness, purity)", "f1")
    line("false positives / sightline", "fp_per_sightline", ".4f")
    line("dz bias (median)", "dz_median", "+.4f")
    line("dz scatter (1.4826 MAD)", "dz_mad_std", ".4f")
    line("dlog N bias (median)", "dlogn_median", "+.3f")
    line("dlog N scatter (1.4826 MAD)", "dlogn_mad_std", ".3f")
    if speeds:
        line("seconds / sightline", None, fn=lambda t: _fmt(speeds.get(t, float("nan")), ".4g"))
        if "dla-cnn" in speeds and "gp_dla_finder" in speeds and speeds["dla-cnn"] > 0:
            ratio = speeds["gp_dla_finder"] / speeds["dla-cnn"]
            print(f"| time per sightline relative to dla-cnn (speed ratio) | 1 | {ratio:,.0f} |")
    if cpu:
        line("CPU seconds / sightline (all threads)", None, fn=lambda t: _fmt(cpu.get(t, float("nan")), ".4g"))

    print(f"\n#### {title}: by sightline S/N\n")
    head = "| S/N | " + " | ".join(f"{t} true DLAs | {t} completeness (DLA) | {t} completeness (any) | "
                                     f"{t} pred DLAs | {t} purity" for t in tools) + " |"
    print(head)
    print("|---|" + "---:|" * (5 * len(tools)))
    for b, label in enumerate(SNR_LABELS):
        cells = []
        for t in tools:
            r = reports[t].by_snr[b]
            cells += [str(int(r["n_true"])), _fmt(float(r["completeness_dla"])), _fmt(float(r["completeness_any"])),
                      str(int(r["n_pred_dla"])), _fmt(float(r["purity"]))]
        print(f"| {label} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- main
def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ[var] = str(args.threads)

    import numpy as np
    from dla_cnn.exceptions import AssetError
    from dla_cnn.simulate.export import TRUTH_NAME, simulate_to_directory
    from dla_cnn.vet import canonical_ids, read_truth

    try:
        import gp_dla_finder  # noqa: F401
    except ImportError:
        sys.exit("gp_dla_finder is not installed: pip install gp_dla_finder (benchmark-only dependency)")

    # dla-cnn model first, so a missing model stops the run before anything slow
    scanner, cnn_load = None, float("nan")
    if not args.skip_cnn:
        try:
            scanner, cnn_load = load_cnn(args.model)
        except AssetError as err:
            sys.exit(f"dla-cnn model unavailable: {err}\n"
                     "Pass --model PATH, or --skip-cnn to benchmark gp_dla_finder alone.")
    finder, gp_load = load_gp(args.gp_preset, args.gp_lsf)

    result: dict = {"config": {k: v for k, v in vars(args).items()}, "environment": {
        "python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "threads_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }}
    result["gp_settings"] = gp_settings(finder)
    result["gp_settings"]["detection_rule"] = (f"completed and p_absorber > {args.gp_threshold}; best grid point; "
                                               f"DLA if log N >= {DLA_MIN} else SUBDLA")

    with tempfile.TemporaryDirectory() as tmp:
        sims = Path(args.sims) if args.sims else Path(tmp) / "sims"
        if not args.sims:
            t0 = time.perf_counter()
            simulate_to_directory(sims, args.n, seed=args.seed, dla_rate=args.dla_rate, snr_distribution="boss")
            print(f"simulated {args.n} BOSS sightlines (seed {args.seed}, dla_rate {args.dla_rate}) "
                  f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        files = sorted(sims.glob("spec-*.fits"))
        if args.gp_limit is not None:
            files = files[: args.gp_limit]
        t0 = time.perf_counter()
        sightlines, read_errors = read_all(files)
        read_s = time.perf_counter() - t0
        truth_all = read_truth(sims / TRUTH_NAME)

    ids = {sl.sightline_id for sl in sightlines} | {r["sightline_id"] for r in read_errors}
    ids = set(canonical_ids(sorted(ids)))
    truth = truth_all[np.isin(canonical_ids(truth_all["sightline_id"]), sorted(ids))]
    print(f"{len(files)} files, {len(sightlines)} sightlines read in {read_s:.1f} s "
          f"({len(read_errors)} unreadable); {len(truth)} true absorbers with log N >= 19 "
          f"({int((np.asarray(truth['log_nhi']) >= DLA_MIN).sum())} DLAs)", file=sys.stderr)
    result["data"] = {"sims": str(args.sims or "(temporary)"), "n_files": len(files), "n_sightlines": len(sightlines),
                      "n_unreadable": len(read_errors), "read_s": read_s, "n_truth": len(truth),
                      "n_true_dla": int((np.asarray(truth["log_nhi"]) >= DLA_MIN).sum())}

    tables, runs = {}, {}
    if scanner is not None:
        cnn = run_cnn(scanner, sightlines)
        cnn["load_s"] = cnn_load
        runs["dla-cnn"] = cnn
        tables["dla-cnn"] = build_tables(cnn["sightline_rows"] + read_errors, cnn["absorber_rows"])
        print(f"dla-cnn: model {scanner.model_name} loaded in {cnn_load:.1f} s, warm-up {cnn['warmup_s']:.1f} s, "
              f"{cnn['wall_s']:.2f} s for {len(sightlines)} sightlines", file=sys.stderr)

    gp = run_gp(finder, sightlines, args.gp_threshold, args.gp_cache)
    gp["load_s"] = gp_load
    runs["gp_dla_finder"] = gp
    tables["gp_dla_finder"] = build_tables(gp["sightline_rows"] + read_errors, gp["absorber_rows"])

    reports = {t: vet_catalog(a, s, truth) for t, (a, s) in tables.items()}
    speeds = {t: runs[t]["s_per_sightline"] for t in runs}
    cpu = {t: runs[t]["cpu_s_per_sightline"] for t in runs}
    which = f"the first {len(files)}" if args.gp_limit is not None else f"{len(files)}"
    print(f"\n## dla-cnn vs gp_dla_finder on {which} simulated BOSS sightlines "
          f"({'seed ' + str(args.seed) + ', dla_rate ' + str(args.dla_rate) if not args.sims else args.sims}; "
          f"match |dz| < {MATCH_DZ})")
    g = result["gp_settings"]
    print(f"\ngp_dla_finder {g['version']}: preset {g['preset']} (model {g['model']}, prior {g['prior']}, "
          f"{g['num_samples']} QMC samples, LSF {g['lsf_kernel']}, quality policy {g['quality_policy']}); "
          f"detection: p_absorber > {args.gp_threshold}. Not processed: {gp['n_not_processed']} "
          f"{json.dumps(gp['not_processed']) if gp['not_processed'] else ''}")
    if scanner is not None:
        print(f"dla-cnn: model {scanner.model_name}; load {cnn_load:.1f} s and warm-up "
              f"{runs['dla-cnn']['warmup_s']:.1f} s excluded from seconds/sightline.")
    print(f"gp_dla_finder: setup {gp_load:.2f} s excluded; seconds/sightline is the mean per spectrum "
          f"(median {gp['s_per_sightline_median']:.3g} s); {gp['n_cached']} results reused from the cache.")
    print_tables("All sightlines (each tool's own ok sightlines)", reports, speeds, cpu)

    result["runs"] = {}
    for t, run in runs.items():
        result["runs"][t] = {k: (_num(v) if isinstance(v, float) else v) for k, v in run.items()
                             if k not in ("sightline_rows", "absorber_rows", "records")}
        if reports[t] is not None:
            result["runs"][t]["metrics"] = metrics(reports[t])
            result["runs"][t]["vet"] = reports[t].to_dict()
    result["gp_records"] = gp["records"]
    if len(tables) == 2:
        common = ok_ids(tables["dla-cnn"][1]) & ok_ids(tables["gp_dla_finder"][1])
        both = {t: vet_catalog(a, s, truth, common) for t, (a, s) in tables.items()}
        print_tables(f"Sightlines both tools searched ({len(common)})", both, {})
        result["common"] = {"n_sightlines": len(common),
                            **{t: {"metrics": metrics(r), "vet": r.to_dict()}
                               for t, r in both.items() if r is not None}}
        if speeds["dla-cnn"] > 0:
            result["speed_ratio_gp_over_cnn"] = _num(speeds["gp_dla_finder"] / speeds["dla-cnn"])

    if args.catalogs:
        from dla_cnn.catalog import write_catalog

        os.makedirs(args.catalogs, exist_ok=True)
        for t, (a, s) in tables.items():
            meta = {"model_name": scanner.model_name if t == "dla-cnn" else
                    f"gp_dla_finder {g['version']} {g['preset']} {g['model']}",
                    "command": " ".join(sys.argv)}
            if t == "gp_dla_finder":
                meta["thresholds"] = {"p_absorber": args.gp_threshold}
            write_catalog(Path(args.catalogs) / f"{t.replace('-', '_')}.fits", a, s, meta=meta)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(_clean(result), fh, indent=1, allow_nan=False)
        print(f"\nresults written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
