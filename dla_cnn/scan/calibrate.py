"""Per-model calibration of the absorber step, fitted on a held-out split of a training set.

Fitted quantities (stored in the model card's ``calibration``):

* ``nhi_poly`` -- cubic mapping the raw vote-weighted log N_HI to the truth (removes the
  regression's pull towards the middle of the training range);
* ``z_err_scale`` and ``nhi_err_scale`` -- multipliers of the raw scatter-based errors such
  that 68% of held-out truths lie within 1 sigma;
* ``conf_x``/``conf_y`` -- isotonic map from vote mass to the probability that a detection
  matches a true absorber (|dz| < 0.015), so ``confidence`` is a calibrated probability.

Caveats
-------
* The calibration is only as representative as the held-out set: one fitted on simulated
  sightlines is not guaranteed on survey data.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy.optimize import isotonic_regression

from dla_cnn.scan.detect import Calibration, DetectConfig, detect_absorbers
from dla_cnn.training.dataset import SPLITS

MATCH_DZ = 0.015


def isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of ``y(x)`` (``scipy.optimize.isotonic_regression``).

    Returns
    -------
    knots_x, knots_y : ndarray
        One knot per block of equal fitted value: the mean ``x`` of the block and its value,
        for ``np.interp``.
    """
    order = np.argsort(x, kind="stable")
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    if xs.size == 0:
        return xs, ys
    fit = isotonic_regression(ys).x
    starts = np.flatnonzero(np.r_[True, np.diff(fit) != 0])
    bounds = np.r_[starts, xs.size]
    bx = np.array([xs[bounds[k]:bounds[k + 1]].mean() for k in range(starts.size)])
    return bx, fit[starts]


def _coverage_scale(resid: np.ndarray, raw_err: np.ndarray, floor: float = 0.0, target: float = 0.6827) -> float:
    """Scale s such that a fraction ``target`` of |resid| <= hypot(s raw_err, floor)."""
    scales = np.geomspace(0.05, 200.0, 400)
    cover = np.array([np.mean(np.abs(resid) <= np.hypot(s * raw_err, floor)) for s in scales])
    ok = np.flatnonzero(cover >= target)
    return float(scales[ok[0]]) if ok.size else float(scales[-1])


def collect_detections(model, h5_path: str | Path, split: str = "validation", max_sightlines: int = 3000,
                       detect: DetectConfig = DetectConfig(), batch_size: int = 128) -> dict:
    """Run the model on a held-out split and match raw detections to the true absorbers."""
    from dla_cnn.model import predict_windows

    with h5py.File(h5_path, "r") as f:
        rows = np.flatnonzero(f["split"][:] == SPLITS[split])[:max_sightlines]
        out = {k: [] for k in ("mass", "matched", "raw_nhi", "raw_nhi_err", "raw_z_err", "true_nhi", "dz", "snr")}
        n_true = 0
        for b0 in range(0, rows.size, 512):
            idx = rows[b0: b0 + 512]
            x = f["inputs"][idx[0]: idx[-1] + 1][idx - idx[0]]
            pred = predict_windows(model, x, batch_size=batch_size)
            absorbers = f["absorbers"][idx[0]: idx[-1] + 1][idx - idx[0]]
            starts = f["start_index"][idx[0]: idx[-1] + 1][idx - idx[0]]
            snrs = f["snr"][idx[0]: idx[-1] + 1][idx - idx[0]]
            for k in range(idx.size):
                valid = x[k, :, 1] > 0
                dets = detect_absorbers(pred["prob"][k], pred["offset"][k], pred["log_nhi"][k], int(starts[k]),
                                        None, valid, detect, Calibration())
                truth = absorbers[k][~np.isnan(absorbers[k][:, 0])]
                truth = truth[truth[:, 1] >= 19.3]
                n_true += len(truth)
                used = set()
                for d in dets:
                    dz = truth[:, 0] - d.z_abs if len(truth) else np.empty(0)
                    j = int(np.argmin(np.abs(dz))) if dz.size else -1
                    ok = j >= 0 and abs(dz[j]) < MATCH_DZ and j not in used
                    if ok:
                        used.add(j)
                    out["mass"].append(d.vote_mass)
                    out["matched"].append(ok)
                    out["raw_nhi"].append(d.raw_log_nhi)
                    out["raw_nhi_err"].append(d.raw_nhi_err)
                    out["raw_z_err"].append(d.raw_z_err)
                    out["true_nhi"].append(truth[j, 1] if ok else np.nan)
                    out["dz"].append(dz[j] if ok else np.nan)
                    out["snr"].append(snrs[k])
    res = {k: np.asarray(v, dtype=float) for k, v in out.items()}
    res["n_true"] = n_true
    res["n_sightlines"] = int(rows.size)
    return res


def fit_calibration(model, h5_path: str | Path, split: str = "validation", max_sightlines: int = 3000,
                    detect: DetectConfig = DetectConfig()) -> tuple[Calibration, dict]:
    """Fit the N_HI polynomial, error scales and confidence map on a held-out split.

    Returns
    -------
    calibration : Calibration
    summary : dict
        Numbers behind the fit (pairs used, coverage achieved, raw N_HI bias).
    """
    d = collect_detections(model, h5_path, split, max_sightlines, detect)
    m = d["matched"].astype(bool)
    cal = Calibration(fitted=True)
    summary = {"n_sightlines": d["n_sightlines"], "n_true": int(d["n_true"]), "n_detections": int(m.size),
               "n_matched": int(m.sum())}
    if m.sum() >= 20:
        x = d["raw_nhi"][m] - cal.nhi_pivot
        y = d["true_nhi"][m] - cal.nhi_pivot
        cal.nhi_poly = [float(c) for c in np.polyfit(x, y, 3)]
        resid_n = d["true_nhi"][m] - cal.log_nhi(d["raw_nhi"][m])
        cal.nhi_err_scale = _coverage_scale(resid_n, d["raw_nhi_err"][m], cal.nhi_err_floor)
        dz = d["dz"][m]
        cal.z_err_scale = _coverage_scale(dz, d["raw_z_err"][m])
        summary.update(raw_nhi_bias=float(np.mean(d["true_nhi"][m] - d["raw_nhi"][m])),
                       cal_nhi_rmse=float(np.sqrt(np.mean(resid_n**2))), z_err_scale=cal.z_err_scale,
                       nhi_err_scale=cal.nhi_err_scale, dz_std=float(np.std(dz)))
    if m.size >= 20:
        kx, ky = isotonic(d["mass"], m.astype(float))
        # thin the knots to at most ~40, keeping the curve monotone
        keep = np.unique(np.linspace(0, kx.size - 1, min(kx.size, 40)).astype(int))
        cal.conf_x = [0.0] + [float(v) for v in kx[keep]] + [max(2.0, float(kx[-1]) + 1e-6)]
        cal.conf_y = [0.0] + [float(v) for v in ky[keep]] + [float(ky[-1])]
        summary["purity_raw"] = float(m.mean())
        summary["completeness_raw"] = float(m.sum() / max(d["n_true"], 1))
    return cal, summary
