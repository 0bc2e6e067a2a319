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
   the same sightlines.  Three tables are printed (markdown):

   * context: each finder on the sightlines it searched itself (dla-cnn skips sightlines
     without forest coverage, the peer rejects others), not a like-for-like comparison;
   * (a) the sightlines both finders searched (``ok`` in both);
   * (b) those of (a) with at most one true absorber (log N >= 19, the truth list's lower
     limit): the peer runs in its one-absorber mode, so only there is it not handicapped
     by design.

   Rates carry 68.3% Wilson binomial intervals and their counts (k/n); F1 (of DLA
   completeness and purity) carries a bootstrap interval (sightlines resampled with
   replacement, ``--bootstrap`` resamples, seed ``--boot-seed``).  In (a) and (b) the
   difference dla-cnn - peer of every rate and of F1 is bootstrapped over the same
   resampled sightlines for both finders (paired), and each goal ("dla-cnn above the
   peer") gets a verdict: "met" only when the interval of the difference lies above 0,
   "not met (peer higher)" when it lies below 0, otherwise "not distinguishable".

The peer is slow (seconds to tens of seconds per spectrum on one core): use ``--gp-limit N``
to run it on the first N sightlines only (dla-cnn then runs on the same N), ``--gp-jobs K``
to run K spectra at a time in K processes, and ``--gp-cache FILE`` to keep its
per-sightline results (JSON lines, keyed by spectrum and configuration digest) so an
interrupted run resumes where it stopped.  Thread counts: ``--threads K`` sets
OMP/OpenBLAS/MKL threads before numpy is imported (the peer's docs recommend a few BLAS
threads, or one per worker); by default the environment is left as is.  ``--skip-gp``
runs the dla-cnn side and the tables without the peer (its column is then absent).

Usage::

    python benchmarks/bench_peer.py [--n 300] [--seed 31415] [--dla-rate 0.5] [--sims DIR]
        [--gp-limit N] [--gp-jobs K] [--skip-cnn | --skip-gp] [--model PATH]
        [--gp-preset desi_y3] [--gp-lsf boss] [--gp-cache gp.jsonl] [--threads 1]
        [--bootstrap 2000] [--boot-seed 1] [--catalogs DIR] [--out results.json]

gp_dla_finder is an optional, benchmark-only dependency (``pip install 'dla-cnn[peer]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from dla_cnn.constants import DLA_MIN_LOG_NHI as DLA_MIN
from dla_cnn.exceptions import describe

SNR_EDGES = (-math.inf, 3.0, 7.0, math.inf)
SNR_LABELS = ("< 3", "3-7", "> 7")
MATCH_DZ = 0.015
SINGLE_MIN_LOGN = 19.0
"""True absorbers counted for table (b) (at most one per sightline): the truth list's lower limit."""
LEVEL = 0.683
"""Confidence level of every interval (Wilson for rates, bootstrap for F1 and differences)."""
SPEED_GOAL = 100.0
"""Goal of the peer comparison: dla-cnn at least this many times faster per sightline (and a higher F1)."""
RATES = (("completeness_dla", "completeness (as DLA)"), ("completeness_any", "completeness (any N)"),
         ("purity", "purity (DLA rows matching log N >= 20.0)"))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="sightlines to simulate (default 300)")
    ap.add_argument("--seed", type=int, default=31415)
    ap.add_argument("--dla-rate", type=float, default=0.5, help="injected DLAs per unit redshift (default 0.5)")
    ap.add_argument("--sims", default=None, help="reuse a directory of spec-*.fits + truth.ecsv")
    ap.add_argument("--gp-limit", type=int, default=None,
                    help="run both tools on the first N sightlines only (the peer is slow)")
    ap.add_argument("--skip-cnn", action="store_true", help="benchmark gp_dla_finder alone")
    ap.add_argument("--skip-gp", action="store_true", help="run the dla-cnn side and the tables without the peer")
    ap.add_argument("--gp-jobs", type=int, default=1, help="peer spectra run at a time, one process each (default 1)")
    ap.add_argument("--model", default=None, help="dla-cnn .keras model (default: the packaged one)")
    ap.add_argument("--gp-preset", default="desi_y3", choices=("desi_y3", "desi_y3_fast", "desi_y3_refined"))
    ap.add_argument("--gp-lsf", default="boss", choices=("boss", "desi"), help="peer line-spread kernel")
    ap.add_argument("--gp-threshold", type=float, default=0.5, help="detection when p_absorber > this")
    ap.add_argument("--gp-cache", default=None, help="JSON-lines file of peer results, reused and appended")
    ap.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (set before numpy loads)")
    ap.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the sightlines (default 2000)")
    ap.add_argument("--boot-seed", type=int, default=1, help="seed of the bootstrap (default 1)")
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
            "status": "error", "message": describe(err), "n_dla": -1, "n_subdla": -1}


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
                    row.update(status="error", message=f"dla-cnn: {describe(err)}", n_dla=-1, n_subdla=-1)
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
        rec["reason"] = describe(err)[:300]
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


_GP_FINDER = None


def _gp_worker_init(preset: str, lsf: str) -> None:
    """Load the peer once per worker process."""
    global _GP_FINDER
    _GP_FINDER, _ = load_gp(preset, lsf)


def _gp_worker(index: int, sl) -> tuple[int, dict]:
    return index, gp_one(_GP_FINDER, sl, index)


def run_gp(finder, sightlines: list, threshold: float, cache: str | None, jobs: int = 1,
           preset: str = "desi_y3", lsf: str = "boss") -> dict:
    """Run the peer on every sightline not in the cache (``jobs`` processes), in input order."""
    import numpy as np

    cached = _load_cache(cache, finder.config.digest)
    keys = [spectrum_digest(sl) for sl in sightlines]
    records: list[dict | None] = [cached.get(k) for k in keys]
    todo = [i for i, rec in enumerate(records) if rec is None]
    fresh_seconds: list[float] = []
    t_start = time.perf_counter()

    def got(i: int, rec: dict) -> None:
        records[i] = rec
        fresh_seconds.append(rec["seconds"])
        if cache:  # appended as each result arrives: an interrupted run resumes from here
            with open(cache, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        done = len(fresh_seconds)
        eta = (time.perf_counter() - t_start) / done * (len(todo) - done)
        print(f"[gp {done}/{len(todo)}] {sightlines[i].sightline_id} {rec['status']} "
              f"p={_fmt(rec['p_absorber'], '.3f')} z={_fmt(rec['z_abs'], '.4f')} logN={_fmt(rec['log_nhi'], '.2f')} "
              f"{rec['seconds']:.1f} s, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)

    if jobs > 1 and len(todo) > 1:
        ctx = mp.get_context("spawn")  # never fork a process that holds TensorFlow
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_gp_worker_init, initargs=(preset, lsf)) as pool:
            futures = [pool.submit(_gp_worker, i, sightlines[i]) for i in todo]
            for fut in as_completed(futures):
                got(*fut.result())
    else:
        for i in todo:
            got(i, gp_one(finder, sightlines[i], i))
    elapsed = time.perf_counter() - t_start

    sl_rows, abs_rows = [], []
    for sl, rec in zip(sightlines, records):
        row, absorbers = gp_rows(sl, rec, threshold)
        sl_rows.append(row)
        abs_rows.extend(absorbers)
    reasons: dict[str, int] = {}
    for rec in records:
        if rec["status"] != "completed":
            key = f"{rec['status']}: {rec['reason']}"
            reasons[key] = reasons.get(key, 0) + 1
    all_seconds = [r["seconds"] for r in records]
    completed = [r["seconds"] for r in records if r["status"] == "completed"]
    cpu_seconds = [r["cpu_seconds"] for r in records if "cpu_seconds" in r]
    nan = float("nan")
    return {"sightline_rows": sl_rows, "absorber_rows": abs_rows, "records": records,
            "n_fresh": len(fresh_seconds), "n_cached": len(records) - len(fresh_seconds), "jobs": jobs,
            "wall_s": float(np.sum(fresh_seconds)) if fresh_seconds else nan,
            "elapsed_s": elapsed if fresh_seconds else nan,
            "s_per_sightline": float(np.mean(all_seconds)) if all_seconds else nan,
            "s_per_sightline_median": float(np.median(all_seconds)) if all_seconds else nan,
            "cpu_s_per_sightline": float(np.mean(cpu_seconds)) if cpu_seconds else nan,
            "s_per_sightline_completed": float(np.mean(completed)) if completed else nan,
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


def absorbers_per_sightline(truth, ids: set, min_logn: float = SINGLE_MIN_LOGN) -> dict[str, int]:
    """Number of true absorbers with log N >= ``min_logn`` on each sightline of ``ids``."""
    import numpy as np
    from dla_cnn.vet import canonical_ids

    out = dict.fromkeys(ids, 0)
    logn = np.asarray(truth["log_nhi"], dtype=float)
    for sid, value in zip(canonical_ids(truth["sightline_id"]), logn):
        if sid in out and value >= min_logn:
            out[sid] += 1
    return out


def sightline_counts(absorbers, sightlines, truth, ids: set) -> tuple[object, dict]:
    """The VetReport over ``ids`` and, per sightline of ``sorted(ids)``, the counts its rates are made of.

    Counts (arrays, one entry per sightline): ``true_dla`` (log N >= 20.3), ``dla_as_dla`` and
    ``dla_as_any`` (true DLAs recovered as a DLA / at any log N), ``pred_dla`` (DLA rows) and
    ``pure`` (DLA rows matching a true log N >= the report's purity cut).  The same definitions
    as ``dla_cnn.vet``; their sums are checked against the report.
    """
    import numpy as np
    from dla_cnn.vet import canonical_ids

    order = sorted(ids)
    pos = {sid: i for i, sid in enumerate(order)}
    n = len(order)
    counts = {k: np.zeros(n, dtype=int) for k in ("true_dla", "dla_as_dla", "dla_as_any", "pred_dla", "pure")}
    rep = vet_catalog(absorbers, sightlines, truth, ids)
    t = _subset(truth, ids)
    for sid, value in zip(canonical_ids(t["sightline_id"]), np.asarray(t["log_nhi"], dtype=float)):
        if value >= DLA_MIN:
            counts["true_dla"][pos[sid]] += 1
    a = _subset(absorbers, ids)
    if len(a):
        kind = np.char.upper(np.asarray(a["type"]).astype(str))
        logn = np.asarray(a["log_nhi"], dtype=float)
        is_dla = np.where(np.isfinite(logn), logn >= DLA_MIN, kind == "DLA") & (kind != "LYB")
        for sid in canonical_ids(a["sightline_id"])[is_dla]:
            counts["pred_dla"][pos[sid]] += 1
    if rep is not None:
        m = rep.matches
        for sid, lt, pd in zip(canonical_ids(m["sightline_id"]), np.asarray(m["log_nhi_true"], float),
                               np.asarray(m["pred_dla"], bool)):
            if lt >= DLA_MIN:
                counts["dla_as_any"][pos[sid]] += 1
                counts["dla_as_dla"][pos[sid]] += int(pd)
            if pd and lt >= rep.purity_min:
                counts["pure"][pos[sid]] += 1
        check = {"true_dla": rep.n_true_dla, "dla_as_dla": rep.n_dla_as_dla, "dla_as_any": rep.n_dla_as_any,
                 "pred_dla": rep.n_pred_dla, "pure": rep.n_pred_dla_pure}
        bad = {k: (int(counts[k].sum()), v) for k, v in check.items() if int(counts[k].sum()) != v}
        if bad:
            raise RuntimeError(f"per-sightline counts disagree with dla_cnn.vet (mine, vet's): {bad}")
    return rep, counts


def _rates_of(c: dict[str, "object"]) -> dict[str, tuple[float, int, int]]:
    """(value, k, n) of every rate from summed counts; F1 as (value, -1, -1)."""
    t, pred = int(c["true_dla"]), int(c["pred_dla"])
    out = {"completeness_dla": (ratio(int(c["dla_as_dla"]), t), int(c["dla_as_dla"]), t),
           "completeness_any": (ratio(int(c["dla_as_any"]), t), int(c["dla_as_any"]), t),
           "purity": (ratio(int(c["pure"]), pred), int(c["pure"]), pred)}
    out["f1"] = (_f1(out["completeness_dla"][0], out["purity"][0]), -1, -1)
    return out


def ratio(k: int, n: int) -> float:
    return k / n if n else float("nan")


def wilson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """68.3% Wilson interval of k/n (NaN when n == 0), as ``dla_cnn.vet`` computes it."""
    try:
        from dla_cnn.vet.metrics import binomial_interval
    except ImportError:  # older dla_cnn: the same interval straight from astropy
        if n == 0:
            return float("nan"), float("nan")
        from astropy.stats import binom_conf_interval

        lo, hi = binom_conf_interval(k, n, confidence_level=level, interval="wilson")
        return float(lo), float(hi)
    lo, hi = binomial_interval(k, n, level)
    return float(lo[0] if getattr(lo, "ndim", 0) else lo), float(hi[0] if getattr(hi, "ndim", 0) else hi)


def bootstrap(counts: dict[str, dict], n_boot: int, seed: int, level: float = LEVEL) -> dict:
    """Bootstrap over sightlines, the same resamples for every finder.

    Returns ``{"interval": {tool: {metric: (lo, hi)}}, "diff": {metric: (lo, hi, share_above_0)}}``;
    ``diff`` (first tool minus second) only with two finders.  Resamples where a rate is
    undefined (no true DLA or no DLA row drawn) are left out of that rate's interval.
    """
    import numpy as np

    tools = list(counts)
    n = len(next(iter(counts.values()))["true_dla"]) if tools else 0
    out: dict = {"interval": {t: {} for t in tools}, "diff": {}, "n_boot": n_boot, "seed": seed, "level": level}
    if n == 0 or n_boot < 1:
        return out
    rng = np.random.default_rng(seed)
    q = (50.0 * (1.0 - level), 50.0 * (1.0 + level))
    samples = {t: {k: np.empty(n_boot) for k in ("completeness_dla", "completeness_any", "purity", "f1")} for t in tools}
    step = max(1, 2_000_000 // n)  # resamples per block (bounded memory)
    for b0 in range(0, n_boot, step):
        idx = rng.integers(0, n, size=(min(step, n_boot - b0), n))
        for t in tools:
            s = {k: v[idx].sum(axis=1).astype(float) for k, v in counts[t].items()}
            with np.errstate(invalid="ignore", divide="ignore"):
                c = s["dla_as_dla"] / s["true_dla"]
                ca = s["dla_as_any"] / s["true_dla"]
                p = s["pure"] / s["pred_dla"]
                f1 = 2.0 * c * p / (c + p)
            sl = slice(b0, b0 + len(idx))
            samples[t]["completeness_dla"][sl], samples[t]["completeness_any"][sl] = c, ca
            samples[t]["purity"][sl], samples[t]["f1"][sl] = p, f1
    for t in tools:
        for k, v in samples[t].items():
            v = v[np.isfinite(v)]
            out["interval"][t][k] = tuple(float(x) for x in np.percentile(v, q)) if v.size else (np.nan, np.nan)
    if len(tools) == 2:
        a, b = tools
        for k in samples[a]:
            d = samples[a][k] - samples[b][k]
            d = d[np.isfinite(d)]
            out["diff"][k] = ((float(np.percentile(d, q[0])), float(np.percentile(d, q[1])), float(np.mean(d > 0)))
                              if d.size else (np.nan, np.nan, np.nan))
    return out


def verdict(lo: float, hi: float) -> str:
    """Goal "dla-cnn above the peer", judged on the interval of the difference."""
    if not (lo == lo and hi == hi):
        return "undefined"
    if lo > 0:
        return "met"
    if hi < 0:
        return "not met (peer higher)"
    return "not distinguishable"


def _rate_cell(value: float, k: int, n: int) -> str:
    if n == 0:
        return "—"
    lo, hi = wilson(k, n)
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}] ({k}/{n})"


def compare(title: str, parts: dict[str, tuple], n_boot: int, seed: int, speeds: dict | None = None,
            paired: bool = True) -> dict:
    """Print one comparison table (markdown) and return its figures.

    ``parts`` maps a finder to ``(VetReport or None, per-sightline counts)``; ``paired``: both
    finders are on the same sightlines, so differences and verdicts are printed.
    """
    import numpy as np

    tools = list(parts)
    reports = {t: parts[t][0] for t in tools}
    counts = {t: parts[t][1] for t in tools}
    n_sl = {t: len(counts[t]["true_dla"]) for t in tools}
    totals = {t: {k: int(v.sum()) for k, v in counts[t].items()} for t in tools}
    rates = {t: _rates_of(totals[t]) for t in tools}
    boot = bootstrap(counts, n_boot, seed) if paired else {
        "interval": {t: bootstrap({t: counts[t]}, n_boot, seed)["interval"][t] for t in tools}, "diff": {}}
    show_diff = paired and len(tools) == 2
    print(f"\n### {title}\n")
    head = "| metric | " + " | ".join(tools) + (" | dla-cnn - peer [68.3%] | verdict: dla-cnn above |" if show_diff else " |")
    print(head)
    print("|---|" + "---|" * len(tools) + ("---|---|" if show_diff else ""))

    def row(label, cells, extra=("", "")):
        print(f"| {label} | " + " | ".join(cells) + (f" | {extra[0]} | {extra[1]} |" if show_diff else " |"))

    row("sightlines", [str(n_sl[t]) for t in tools])
    row("true DLAs (log N >= 20.3)", [str(totals[t]["true_dla"]) for t in tools])
    row("DLA rows", [str(totals[t]["pred_dla"]) for t in tools])
    verdicts = {}
    for key, label in RATES + (("f1", "F1 (completeness as DLA, purity)"),):
        cells = []
        for t in tools:
            v, k, n = rates[t][key]
            if key == "f1":
                lo, hi = boot["interval"][t].get("f1", (np.nan, np.nan)) if boot["interval"].get(t) else (np.nan, np.nan)
                cells.append("—" if v != v else f"{v:.3f} [{lo:.3f}, {hi:.3f}] (bootstrap)")
            else:
                cells.append(_rate_cell(v, k, n))
        extra = ("", "")
        if show_diff and key in boot["diff"]:
            d = rates[tools[0]][key][0] - rates[tools[1]][key][0]
            lo, hi, share = boot["diff"][key]
            verdicts[key] = {"difference": d, "lo": lo, "hi": hi, "share_above_0": share, "verdict": verdict(lo, hi)}
            extra = (f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]", verdicts[key]["verdict"])
        row(label, cells, extra)
    row("false DLA rows / sightline", [
        f"{(totals[t]['pred_dla'] - totals[t]['pure']) / n_sl[t]:.4f} ({totals[t]['pred_dla'] - totals[t]['pure']}/{n_sl[t]})"
        if n_sl[t] else "—" for t in tools])
    if all(reports[t] is not None for t in tools):
        row("dz median / robust sigma (1.4826 MAD) / std", [
            f"{_fmt(reports[t].dz_median, '+.4f')} / {_fmt(reports[t].dz_mad_std, '.4f')} / {_fmt(reports[t].dz_std, '.4f')}"
            for t in tools])
        row("dlog N median / robust sigma (1.4826 MAD) / std", [
            f"{_fmt(reports[t].dlogn_median, '+.3f')} / {_fmt(reports[t].dlogn_mad_std, '.3f')} / "
            f"{_fmt(reports[t].dlogn_std, '.3f')}" for t in tools])
    if speeds:
        row("seconds / sightline (1 process)", [_fmt(speeds.get(t, float("nan")), ".4g") for t in tools])

    if verdicts:
        print()
        for key, label in RATES + (("f1", "F1"),):
            if key in verdicts:
                v = verdicts[key]
                goal = " (the goal: higher than the peer)" if key == "f1" else ""
                print(f"- {label}{goal}: **{v['verdict']}** (dla-cnn - peer = {v['difference']:+.3f}, 68.3% interval "
                      f"[{v['lo']:+.3f}, {v['hi']:+.3f}] from {boot['n_boot']} paired resamples of the {n_sl[tools[0]]} "
                      f"sightlines; dla-cnn higher in {v['share_above_0']:.0%} of them)")

    if all(reports[t] is not None for t in tools):
        print(f"\n#### {title}: by sightline S/N\n")
        print("| S/N | " + " | ".join(f"{t} completeness (as DLA) | {t} purity" for t in tools) + " |")
        print("|---|" + "---|" * (2 * len(tools)))
        for b, label in enumerate(SNR_LABELS):
            cells = []
            for t in tools:
                r = reports[t].by_snr[b]
                n_true, n_pred = int(r["n_true"]), int(r["n_pred_dla"])
                c, p = float(r["completeness_dla"]), float(r["purity"])
                cells += [_rate_cell(c, round(c * n_true) if n_true else 0, n_true),
                          _rate_cell(p, round(p * n_pred) if n_pred else 0, n_pred)]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return {"n_sightlines": n_sl, "totals": totals,
            "rates": {t: {k: {"value": v, "k": kk, "n": nn,
                              "interval": list(wilson(kk, nn)) if nn >= 0 and k != "f1" else
                              list(boot["interval"][t].get(k, (np.nan, np.nan)))}
                          for k, (v, kk, nn) in rates[t].items()} for t in tools},
            "differences": verdicts, "bootstrap": {"n_boot": n_boot, "seed": seed, "level": LEVEL},
            "metrics": {t: metrics(reports[t]) for t in tools if reports[t] is not None}}


def metrics(rep) -> dict:
    return {"sightlines_ok": rep.n_sightlines_ok, "sightlines_not_ok": rep.n_sightlines_not_ok,
            "true_dla": rep.n_true_dla, "pred_dla": rep.n_pred_dla,
            "completeness_dla": rep.completeness_dla, "completeness_any": rep.completeness_any,
            "purity": rep.purity, "f1": _f1(rep.completeness_dla, rep.purity),
            "fp_per_sightline": rep.fp_per_sightline, "dz_median": rep.dz_median, "dz_mad_std": rep.dz_mad_std,
            "dlogn_median": rep.dlogn_median, "dlogn_mad_std": rep.dlogn_mad_std}


# --------------------------------------------------------------------------- main
def main(argv=None) -> None:
    args = parse_args(argv)
    if args.skip_cnn and args.skip_gp:
        sys.exit("--skip-cnn and --skip-gp together leave nothing to run")
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ[var] = str(args.threads)

    import numpy as np
    from dla_cnn.exceptions import AssetError
    from dla_cnn.simulate.export import TRUTH_NAME, simulate_to_directory
    from dla_cnn.vet import canonical_ids, read_truth

    if not args.skip_gp:
        try:
            import gp_dla_finder  # noqa: F401
        except ImportError:
            sys.exit("gp_dla_finder is not installed: pip install 'dla-cnn[peer]' (benchmark-only dependency), "
                     "or --skip-gp to run the dla-cnn side alone")

    # dla-cnn model first, so a missing model stops the run before anything slow
    scanner, cnn_load = None, float("nan")
    if not args.skip_cnn:
        try:
            scanner, cnn_load = load_cnn(args.model)
        except AssetError as err:
            sys.exit(f"dla-cnn model unavailable: {err}\n"
                     "Pass --model PATH, or --skip-cnn to benchmark gp_dla_finder alone.")
    finder, gp_load = load_gp(args.gp_preset, args.gp_lsf) if not args.skip_gp else (None, float("nan"))

    result: dict = {"config": {k: v for k, v in vars(args).items()}, "environment": {
        "python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "threads_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }}
    if finder is not None:
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
    n_true_dla = int((np.asarray(truth["log_nhi"]) >= DLA_MIN).sum())
    print(f"{len(files)} files, {len(sightlines)} sightlines read in {read_s:.1f} s "
          f"({len(read_errors)} unreadable); {len(truth)} true absorbers with log N >= 19 "
          f"({n_true_dla} DLAs)", file=sys.stderr)
    result["data"] = {"sims": str(args.sims or "(temporary)"), "n_files": len(files), "n_sightlines": len(sightlines),
                      "n_unreadable": len(read_errors), "read_s": read_s, "n_truth": len(truth),
                      "n_true_dla": n_true_dla}

    tables, runs = {}, {}
    if scanner is not None:
        cnn = run_cnn(scanner, sightlines)
        cnn["load_s"] = cnn_load
        runs["dla-cnn"] = cnn
        tables["dla-cnn"] = build_tables(cnn["sightline_rows"] + read_errors, cnn["absorber_rows"])
        print(f"dla-cnn: model {scanner.model_name} loaded in {cnn_load:.1f} s, warm-up {cnn['warmup_s']:.1f} s, "
              f"{cnn['wall_s']:.2f} s for {len(sightlines)} sightlines", file=sys.stderr)
    if finder is not None:
        gp = run_gp(finder, sightlines, args.gp_threshold, args.gp_cache, args.gp_jobs, args.gp_preset, args.gp_lsf)
        gp["load_s"] = gp_load
        runs["gp_dla_finder"] = gp
        tables["gp_dla_finder"] = build_tables(gp["sightline_rows"] + read_errors, gp["absorber_rows"])

    speeds = {t: runs[t]["s_per_sightline"] for t in runs}
    which = f"the first {len(files)}" if args.gp_limit is not None else f"{len(files)}"
    print(f"\n## dla-cnn vs gp_dla_finder on {which} simulated BOSS sightlines "
          f"({'seed ' + str(args.seed) + ', dla_rate ' + str(args.dla_rate) if not args.sims else args.sims}; "
          f"{n_true_dla} true DLAs; match |dz| < {MATCH_DZ})\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.")
    if scanner is not None:
        print(f"dla-cnn: model {scanner.model_name} (sha256 {scanner.model_sha256[:16] or '?'}); load "
              f"{cnn_load:.1f} s and warm-up {runs['dla-cnn']['warmup_s']:.1f} s excluded from seconds/sightline.")
    if finder is not None:
        g = result["gp_settings"]
        print(f"gp_dla_finder {g['version']}: preset {g['preset']} (model {g['model']}, prior {g['prior']}, "
              f"{g['num_samples']} QMC samples, LSF {g['lsf_kernel']}, quality policy {g['quality_policy']}); "
              f"detection: p_absorber > {args.gp_threshold}, at most one absorber per sightline. "
              f"Not processed: {gp['n_not_processed']} "
              f"{json.dumps(gp['not_processed']) if gp['not_processed'] else ''}")
        print(f"gp_dla_finder: setup {gp_load:.2f} s excluded; seconds/sightline is the mean per spectrum in one "
              f"process (median {gp['s_per_sightline_median']:.3g} s; {args.gp_jobs} at a time); "
              f"{gp['n_cached']} results reused from the cache.")
    if "dla-cnn" in speeds and "gp_dla_finder" in speeds and speeds["dla-cnn"] > 0:
        ratio_ = speeds["gp_dla_finder"] / speeds["dla-cnn"]
        # the peer's time varies from spectrum to spectrum: bootstrap its mean over the sightlines
        secs = np.array([r["seconds"] for r in runs["gp_dla_finder"]["records"]], dtype=float)
        rng = np.random.default_rng(args.boot_seed)
        means = secs[rng.integers(0, len(secs), size=(max(args.bootstrap, 1), len(secs)))].mean(axis=1)
        lo, hi = (float(x) / speeds["dla-cnn"] for x in np.percentile(means, (50 * (1 - LEVEL), 50 * (1 + LEVEL))))
        result["speed_ratio_gp_over_cnn"] = _num(ratio_)
        result["speed_ratio_interval"] = [lo, hi]
        print(f"Speed: dla-cnn takes {speeds['dla-cnn']:.3g} s per sightline, the peer {speeds['gp_dla_finder']:.3g} s: "
              f"dla-cnn is **{ratio_:,.0f}x** faster ({LEVEL:.1%} interval {lo:,.0f}-{hi:,.0f}x from the spread of "
              f"the peer's times); goal >= {SPEED_GOAL:g}x: **{'met' if lo >= SPEED_GOAL else 'not met'}**.")
    print(f"Intervals: {LEVEL:.1%} Wilson for rates (k/n), bootstrap over sightlines ({args.bootstrap} resamples, "
          f"seed {args.boot_seed}) for F1 and for the paired differences.")

    result["runs"] = {}
    for t, run in runs.items():
        result["runs"][t] = {k: (_num(v) if isinstance(v, float) else v) for k, v in run.items()
                             if k not in ("sightline_rows", "absorber_rows", "records")}
    if "gp_dla_finder" in runs:
        result["gp_records"] = runs["gp_dla_finder"]["records"]

    # context: each finder on its own searched sightlines (different sets: no differences)
    own = {t: sightline_counts(a, s, truth, ok_ids(s)) for t, (a, s) in tables.items()}
    result["tables"] = {"own": compare("Context: each finder on the sightlines it searched itself", own,
                                       args.bootstrap, args.boot_seed, speeds, paired=False)}
    common = set.intersection(*(ok_ids(s) for _, s in tables.values()))
    both = {t: sightline_counts(a, s, truth, common) for t, (a, s) in tables.items()}
    result["tables"]["both"] = compare(f"(a) Sightlines both finders searched ({len(common)})", both,
                                       args.bootstrap, args.boot_seed, speeds)
    per = absorbers_per_sightline(truth, common)
    single = {sid for sid, k in per.items() if k <= 1}
    one = {t: sightline_counts(a, s, truth, single) for t, (a, s) in tables.items()}
    result["tables"]["single"] = compare(
        f"(b) Of those, sightlines with at most one true absorber (log N >= {SINGLE_MIN_LOGN:g}): {len(single)} "
        f"({len(common) - len(single)} with two or more left out)", one, args.bootstrap, args.boot_seed)
    result["common"] = {"n_sightlines": len(common), "n_single": len(single)}

    if args.catalogs:
        from dla_cnn.catalog import write_catalog

        os.makedirs(args.catalogs, exist_ok=True)
        for t, (a, s) in tables.items():
            meta = {"model_name": scanner.model_name if t == "dla-cnn" else
                    f"gp_dla_finder {result['gp_settings']['version']} {result['gp_settings']['preset']} "
                    f"{result['gp_settings']['model']}",
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
