"""Measurements of ``benchmarks/gpu/run.sh`` after its streamed training run.

Subcommands (each writes ``OUT/NAME.json`` and prints what it measured):

* ``evaluate RUN``: per-pixel figures of the new model and of the packaged one on the
  stream's fixed test set (``RUN/model.heldout.h5``);
* ``detect RUN``: detection figures on held-out skies (``--sky heldout``, seed 9101, DLAs
  at 0.25 per unit z, S/N log-uniform 1-30; ``benchmarks/bench_detection.py``'s set and
  scoring), per-pixel votes alone for both models, the packaged two-stage finder beside;
* ``infer RUN``: sightlines/s of ``Scanner.predict`` (and of the bare model) on windows of
  the test set tiled to ``--n``, per batch size;
* ``summary RUN``: the lines ``run.sh`` ends with, goals marked.

Only ``dla_cnn`` (with Keras on any backend; TensorFlow not needed) has to be importable.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRAIN_GOAL_S = 15 * 60
INFER_GOAL = 20_000


def _bench_detection():
    """``benchmarks/bench_detection.py`` as a module (its held-out sets and scoring)."""
    spec = importlib.util.spec_from_file_location("bench_detection", HERE.parent / "bench_detection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(run: Path, name: str, data: dict) -> None:
    (run / f"{name}.json").write_text(json.dumps(data, indent=1, default=float) + "\n")


def _read(run: Path, name: str) -> dict:
    path = run / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def evaluate_models(run: Path) -> dict:
    """Per-pixel test figures of the new and the packaged model on the stream's test set."""
    from dla_cnn.assets import resolve_model
    from dla_cnn.model import evaluate, load_model

    out = {}
    for name, path in (("new", run / "model.keras"), ("packaged", None)):
        model, _ = load_model(resolve_model(path))
        m = evaluate(model, run / "model.heldout.h5", "test")
        out[name] = {k: m[k] for k in ("pixel_accuracy", "offset_rmse_px", "log_nhi_rmse_dex", "n_sightlines")}
        print(f"{name}: test pixel accuracy {m['pixel_accuracy']:.4f}, offset RMSE {m['offset_rmse_px']:.2f} px, "
              f"N_HI RMSE {m['log_nhi_rmse_dex']:.3f} dex ({m['n_sightlines']} sightlines)", flush=True)
    _write(run, "evaluate", out)
    return out


def detect(run: Path, n: int, data: Path, workers: int) -> dict:
    """Detection figures on held-out skies: new and packaged per-pixel votes, packaged two-stage."""
    from dla_cnn.scan.builder import build_catalog
    from dla_cnn.scan.detect import DetectConfig

    bd = _bench_detection()
    sims = bd.simulate(data / f"natural{n}", n, 9101, 0.25)
    out = {}
    for name, model, two in (("new", run / "model.keras", False), ("packaged", None, False),
                             ("packaged_two_stage", None, True)):
        cat = run / f"heldout_{name}.fits"
        t0 = time.perf_counter()
        build_catalog(sims, cat, model_path=model, workers=workers, detect=DetectConfig(two_stage=two))
        res = bd.score(cat, sims / "truth.ecsv")
        comp, pur = res["completeness"], res["purity"]
        out[name] = {"completeness": comp, "purity": pur, "dv_robust_sigma": res["dv_robust_sigma"],
                     "dlogn_robust_sigma": res["dlogn_robust_sigma"], "seconds": time.perf_counter() - t0}
        print(f"{name}: completeness {bd.fmt_rate(*comp)}, purity {bd.fmt_rate(*pur)}, "
              f"robust sigma dv {res['dv_robust_sigma']:.0f} km/s, dlog N {res['dlogn_robust_sigma']:.3f} dex",
              flush=True)
    _write(run, "detect", out)
    return out


def _rate(fn, x: np.ndarray, reps: int) -> float:
    """Best sightlines/s of ``fn(x)`` over ``reps`` timed calls."""
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x)
        best = max(best, len(x) / (time.perf_counter() - t0))
    return best


def infer(run: Path, n: int, batches: list[int], reps: int) -> dict:
    """Inference sightlines/s of ``Scanner.predict`` and of the bare model, per batch size."""
    import h5py

    from dla_cnn.model.predict import predict_raw
    from dla_cnn.scan.detect import DetectConfig
    from dla_cnn.scan.pipeline import Scanner

    with h5py.File(run / "model.heldout.h5", "r") as f:
        rows = np.flatnonzero(f["split"][:] == 2)[:512]
        base = f["inputs"][: rows[-1] + 1][rows]
    scanner = Scanner(run / "model.keras", DetectConfig(two_stage=False), engine="keras")  # the GPU runs Keras (JAX)
    out = {"devices": _devices(), "by_batch": []}
    for b in batches:
        m = max(b, n // b * b)
        x = np.ascontiguousarray(np.resize(base, (m, *base.shape[1:])))
        scanner.batch_size = b
        scanner.predict(x[:b])  # compiles the batch shape (the bare model below shares it)
        scan_rate = _rate(scanner.predict, x, reps)
        raw_rate = _rate(lambda v: predict_raw(scanner.model, v, b), x, reps)
        out["by_batch"].append({"batch": b, "sightlines": m, "scanner_per_s": scan_rate, "model_per_s": raw_rate})
        print(f"batch {b}: Scanner.predict {scan_rate:,.0f} sightlines/s, model alone {raw_rate:,.0f} sightlines/s "
              f"({m} sightlines)", flush=True)
    out["best_scanner_per_s"] = max(r["scanner_per_s"] for r in out["by_batch"])
    _write(run, "infer", out)
    return out


def _devices() -> list[str]:
    from dla_cnn.model.runstate import devices

    return devices()


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def summary(run: Path) -> None:
    """The closing lines of run.sh: training speed, held-out figures, inference, goals."""
    card = json.loads((run / "model.card.json").read_text())
    wall = float((run / "train_wall_s.txt").read_text().strip()) if (run / "train_wall_s.txt").exists() \
        else float(card["wall_time_s"])
    seen = card["training_set"].get("sightlines_trained", 0)
    epochs = _read(run, "model.state").get("epoch_train", [])
    later = epochs[1:] if len(epochs) > 1 else epochs
    secs = sum(s for s, _ in later)
    steady = f"{sum(b for _, b in later) * card['training']['batch_size'] / secs:.0f}" if secs > 0 else "n/a"
    print("== summary ==")
    print(f"devices: {', '.join(card.get('devices', []))}")
    print(f"train: {card['samples_per_s']:.0f} samples/s ({steady} after the first epoch), wall {wall:.0f} s, "
          f"{seen} sightlines, {card['epochs_run']} epochs (goal < {TRAIN_GOAL_S} s: {_met(wall < TRAIN_GOAL_S)})")
    ev = _read(run, "evaluate")
    if ev:
        new, old = ev["new"], ev["packaged"]
        ok = (new["pixel_accuracy"] >= old["pixel_accuracy"] and new["offset_rmse_px"] <= old["offset_rmse_px"]
              and new["log_nhi_rmse_dex"] <= old["log_nhi_rmse_dex"])
        print(f"heldout per-pixel (new | packaged): pixel accuracy {new['pixel_accuracy']:.4f} | "
              f"{old['pixel_accuracy']:.4f}, offset RMSE {new['offset_rmse_px']:.2f} | {old['offset_rmse_px']:.2f} px, "
              f"N_HI RMSE {new['log_nhi_rmse_dex']:.3f} | {old['log_nhi_rmse_dex']:.3f} dex "
              f"(goal, as good as the packaged model: {_met(ok)})")
    det = _read(run, "detect")
    if det:
        def rate(k: list[int]) -> str:
            return f"{k[0] / k[1]:.3f}" if k[1] else "n/a"

        print("heldout detection, per-pixel votes (new | packaged | packaged two-stage): completeness "
              + " | ".join(rate(det[k]["completeness"]) for k in ("new", "packaged", "packaged_two_stage"))
              + ", purity " + " | ".join(rate(det[k]["purity"]) for k in ("new", "packaged", "packaged_two_stage")))
    inf = _read(run, "infer")
    if inf:
        best = max(inf["by_batch"], key=lambda r: r["scanner_per_s"])
        print(f"inference: {best['scanner_per_s']:.0f} sightlines/s (Scanner.predict, batch {best['batch']}; "
              f"model alone {best['model_per_s']:.0f}) (goal >= {INFER_GOAL}: {_met(best['scanner_per_s'] >= INFER_GOAL)})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("evaluate", "detect", "infer", "summary"))
    ap.add_argument("run", type=Path, help="the run directory (model.keras, model.heldout.h5, ...)")
    ap.add_argument("--n", type=int, default=2000, help="detect: held-out sightlines; infer: sightlines timed")
    ap.add_argument("--data", type=Path, default=None, help="detect: where the held-out spectra are kept")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--batches", default="1024 4096 16384", help="infer: batch sizes")
    ap.add_argument("--reps", type=int, default=3, help="infer: timed repetitions (best kept)")
    args = ap.parse_args(argv)
    if args.what == "evaluate":
        evaluate_models(args.run)
    elif args.what == "detect":
        detect(args.run, args.n, args.data or args.run / "heldout", args.workers)
    elif args.what == "infer":
        infer(args.run, args.n, [int(b) for b in args.batches.split()], args.reps)
    else:
        summary(args.run)


if __name__ == "__main__":
    sys.exit(main())
