"""Training-set generation throughput and memory.

Measures sightlines per second of the whole build (simulate + inject + label + write) and
the peak resident memory of the writer process and its workers, for increasing sizes, to
show that memory does not grow with the number of sightlines.

Usage: python benchmarks/bench_build.py [--sizes 2000 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time


def run(n: int, workers: int, out: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys, resource; from dla_cnn.cli import app; sys.argv=['dla-cnn']+sys.argv[1:];\n"
         "try:\n    app()\nexcept SystemExit:\n    pass\n"
         "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
         "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
         "build-training", "--n-sightlines", str(n), "--seed", "1", "--workers", str(workers), "--out", out],
        capture_output=True, text=True, check=True)
    dt = time.perf_counter() - t0
    line = [x for x in proc.stdout.splitlines() if x.startswith("MAXRSS")][0].split()
    return dt, max(int(line[1]), int(line[2])) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    print(f"# build-training throughput ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.workers} workers)")
    print("| sightlines | wall s | sightlines/s | peak RSS per process MB | file MB |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            out = os.path.join(tmp, f"b{n}.h5")
            dt, rss = run(n, args.workers, out)
            print(f"| {n} | {dt:.1f} | {n / dt:.0f} | {rss:.0f} | {os.path.getsize(out) / 1e6:.0f} |")
            os.remove(out)


if __name__ == "__main__":
    main()
