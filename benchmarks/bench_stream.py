"""Throughput of the on-the-fly training stream (simulate -> inject -> label in worker processes).

Reads batches of :class:`dla_cnn.model.stream.StreamData` as fast as it gives them (no
training step in between), for each number of workers, and prints sightlines/s including
the workers' start-up and after the first batch.  The recipe is the ``build-training``
default unless ``--recipe`` names a JSON file.

Usage: python benchmarks/bench_stream.py [--workers 1 2] [--batches 20] [--batch-size 32] [--recipe FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def measure(recipe, workers: int, batches: int, batch_size: int) -> tuple[float, float]:
    """Sightlines/s of ``batches`` batches: (including start-up, after the first batch)."""
    from dla_cnn.model.stream import StreamData

    data = StreamData(recipe, batch_size, batches, workers=workers)
    try:
        t0 = time.perf_counter()
        data[0]
        t1 = time.perf_counter()
        for i in range(1, batches):
            data[i]
        t2 = time.perf_counter()
    finally:
        data.close()
    return batches * batch_size / (t2 - t0), (batches - 1) * batch_size / max(t2 - t1, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--recipe", default=None, help="build-training config as JSON (default: the defaults)")
    args = ap.parse_args()
    from dla_cnn.training.stream import load_recipe

    recipe = load_recipe(args.recipe)
    print(f"# training stream ({platform.machine()}, {os.cpu_count()} cores, {args.batches} batches of "
          f"{args.batch_size})\n")
    print("| workers | sightlines/s (with start-up) | sightlines/s (after the first batch) |")
    print("|---:|---:|---:|")
    for w in args.workers:
        total, steady = measure(recipe, w, args.batches, args.batch_size)
        print(f"| {w} | {total:.0f} | {steady:.0f} |", flush=True)


if __name__ == "__main__":
    main()
