"""Held-out per-pixel accuracy of a model, overall and by S/N and log N_HI, against the goals.

Goals (the CNN issue): pixel accuracy >= 0.97, offset RMSE <= 5 px and N_HI RMSE <= 0.20 dex
on positive pixels, on a test split of different host quasars with S/N ~1-30.

Usage: python benchmarks/bench_accuracy.py TRAINING_SET.h5 [--model MODEL.keras] [--split test]
       [--max-sightlines 2000]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from dla_cnn.assets import default_model_path  # noqa: E402
from dla_cnn.constants import DLA_MIN_LOG_NHI  # noqa: E402
from dla_cnn.model import evaluate, load_model, pixel_metrics, predict_windows  # noqa: E402
from dla_cnn.model.data import LABELS, split_code  # noqa: E402

GOALS = {"pixel_accuracy": (0.97, ">="), "offset_rmse_px": (5.0, "<="), "log_nhi_rmse_dex": (0.20, "<=")}


def _fmt(v, digits: int = 3) -> str:
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("training_set")
    ap.add_argument("--model", default=None, help="default: the packaged model")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-sightlines", type=int, default=None,
                    help="score only the first N sightlines of the split (default: the whole split)")
    args = ap.parse_args()
    path = args.model or default_model_path()
    model, card = load_model(path)
    m = evaluate(model, args.training_set, args.split, max_sightlines=args.max_sightlines)
    import h5py

    with h5py.File(args.training_set, "r") as f:
        n_split = int((f["split"][:] == split_code(args.split)).sum())
    part = "the whole" if m["n_sightlines"] >= n_split else f"the first {m['n_sightlines']} of {n_split} sightlines of the"
    print(f"# {card['name']} ({card['preset']}, sha256 {card['sha256'][:12]}) on {part} {args.split} split "
          f"({n_split} sightlines), {m['n_positive_pixels']:,} positive pixels\n")
    print("| metric | value | goal | met |")
    print("|---|---:|---:|---|")
    for key, (goal, op) in GOALS.items():
        ok = m[key] >= goal if op == ">=" else m[key] <= goal
        print(f"| {key} | {_fmt(m[key], 1 if key.endswith('px') else 3)} | {op} {goal} | {'yes' if ok else '**no**'} |")
    print("\nBy sightline S/N (pixel accuracy over all non-ignored pixels):\n")
    _bin_table(m["by_snr"], "snr", "S/N", ["pixels", "positive pixels", "pixel accuracy"])
    print("\nBy the log N_HI of the pixel's absorber (positives only; recall = share called positive):\n")
    _bin_table(m["by_log_nhi"], "log_nhi", "log N_HI", ["positive pixels", "recall"])
    print("\nThe regime of the published test sets (spec section 7: offset RMSE 3.7-7 px, N_HI RMSE "
          "0.15-0.23 dex), positive pixels only:\n")
    print("| subset | positive pixels | offset RMSE px | N_HI RMSE dex |")
    print("|---|---:|---:|---:|")
    for name, sub in _published_like(model, args.training_set, args.split, args.max_sightlines).items():
        print(f"| {name} | {sub['n_positive_pixels']:,} | {_fmt(sub['offset_rmse_px'], 1)} | "
              f"{_fmt(sub['log_nhi_rmse_dex'])} |")


def _published_like(model, path: str, split: str, max_sightlines: int | None) -> dict[str, dict]:
    """Metrics on DLA pixels (log N_HI >= 20.3) of sightlines with S/N > 5, all and single-absorber."""
    with h5py.File(path, "r") as f:
        rows = np.flatnonzero(f["split"][:] == split_code(split))[:max_sightlines]
        snr, n_abs = f["snr"][:][rows], f["n_absorbers"][:][rows]
        x = f["inputs"][rows[0]: rows[-1] + 1][rows - rows[0]]
        cls, off, nhi = (f[name][rows[0]: rows[-1] + 1][rows - rows[0]] for name in LABELS)
    pred = predict_windows(model, x)
    dla = (cls == 1) & (nhi >= DLA_MIN_LOG_NHI) & (snr[:, None] > 5)
    subsets = {"log N_HI >= 20.3, S/N > 5": dla, "the same, sightlines with one absorber": dla & (n_abs[:, None] == 1)}
    return {name: pixel_metrics(pred, np.where(keep, cls, -1), off, nhi) for name, keep in subsets.items()}


def _bin_table(bins: list[dict], key: str, label: str, counts: list[str]) -> None:
    """One markdown row per bin: its edges, the chosen count/accuracy columns, the two RMSEs."""
    source = {"pixels": "n_pixels", "positive pixels": "n_positive_pixels", "pixel accuracy": "pixel_accuracy",
              "recall": "pixel_accuracy"}
    cols = [label, *counts, "offset RMSE px", "N_HI RMSE dex"]
    print("| " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * (len(cols) - 1))
    for b in bins:
        lo, hi = b[key]
        cells = [f"{b[source[c]]:,}" if c.endswith("pixels") else _fmt(b[source[c]]) for c in counts]
        print(f"| {lo:g}-{hi:g} | " + " | ".join(cells) + f" | {_fmt(b['offset_rmse_px'], 1)} | "
              f"{_fmt(b['log_nhi_rmse_dex'])} |")

if __name__ == "__main__":
    main()
