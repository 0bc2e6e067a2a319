"""Catalog throughput and memory on this machine.

1. ``catalog`` end to end (read BOSS spec files + normalise + batched inference + detection +
   checkpoints + FITS catalog) over N simulated sightlines, with 1 and 2 reader workers.
2. Inference + detection alone on in-memory windows, per model preset, and the resident
   memory after every 10k sightlines over a long stream (it must stay flat).

Usage: python benchmarks/bench_catalog.py [--n 2000] [--stream 100000] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--stream", type=int, default=100000)
    ap.add_argument("--model", default=None)
    ap.add_argument("--sims", default=None, help="reuse a directory of simulated spectra")
    args = ap.parse_args()

    from dla_cnn.scan.builder import build_catalog
    from dla_cnn.scan.detect import detect_absorbers
    from dla_cnn.scan.pipeline import Scanner
    from dla_cnn.simulate.export import simulate_to_directory

    with tempfile.TemporaryDirectory() as tmp:
        sims = args.sims or os.path.join(tmp, "sims")
        if not args.sims:
            t0 = time.perf_counter()
            simulate_to_directory(sims, args.n, seed=99, dla_rate=0.3)
            print(f"simulated {args.n} BOSS sightlines in {time.perf_counter() - t0:.0f} s")
        n = len([f for f in os.listdir(sims) if f.startswith("spec-")])
        print(f"\n## catalog end to end ({n} BOSS spec files, {os.cpu_count()} cores)\n")
        print("| workers | wall s | sightlines/s |")
        print("|---:|---:|---:|")
        for workers in (1, 2):
            out = os.path.join(tmp, f"cat{workers}.fits")
            t0 = time.perf_counter()
            res = build_catalog(sims, out, model_path=args.model, workers=workers)
            dt = time.perf_counter() - t0
            print(f"| {workers} | {dt:.1f} | {res['n_sightlines'] / dt:.0f} |")

    scanner = Scanner(args.model)
    rng = np.random.default_rng(0)
    batch = 256
    x = np.stack([np.stack([1 + 0.3 * rng.standard_normal(1748), np.full(1748, 0.8)], -1) for _ in range(batch)]).astype("float32")
    scanner.predict(x[:8])
    print(f"\n## inference + detection, preset {scanner.card.get('preset')}, batch {batch}\n")
    print("| sightlines | sightlines/s | RSS MB |")
    print("|---:|---:|---:|")
    t0 = time.perf_counter()
    done = 0
    while done < args.stream:
        pred = scanner.predict(x)
        for k in range(batch):
            detect_absorbers(pred["prob"][k], pred["offset"][k], pred["log_nhi"][k], 36000)
        done += batch
        if done % (batch * 40) == 0 or done >= args.stream:
            print(f"| {done} | {done / (time.perf_counter() - t0):.0f} | {rss_mb():.0f} |", flush=True)


if __name__ == "__main__":
    main()
