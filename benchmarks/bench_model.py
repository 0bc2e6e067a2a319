"""Training and inference throughput of each model preset on this machine.

Training: samples per second of ``model.fit`` on batches streamed from a training set
(sightlines for ``fcn``, 400-px windows for ``parks2018``).  Inference: sightlines per second
of :func:`dla_cnn.model.predict_windows` (1748 windows per sightline for ``parks2018``).

Usage: python benchmarks/bench_model.py TRAINING_SET.h5 [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dla_cnn.model import build_model, combined_loss, predict_windows  # noqa: E402
from dla_cnn.model.data import TrainingData  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("training_set")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    print(f"# model throughput (backend {keras.backend.backend()}, {platform.machine()}, {os.cpu_count()} cores)\n")
    print("| preset | parameters | train batch | train samples/s | inference sightlines/s |")
    print("|---|---:|---:|---:|---:|")
    for preset, batch in (("fcn", 32), ("parks2018", 700)):
        data = TrainingData(args.training_set, "train", batch_size=batch, preset=preset)
        model = build_model(preset)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=combined_loss())
        model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)  # tracing
        t0 = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
        train_rate = args.steps * batch / (time.perf_counter() - t0)
        x, _ = TrainingData(args.training_set, "test", batch_size=64, preset="fcn")[0]
        n = 64 if preset == "fcn" else 4
        predict_windows(model, x[:n])
        t0 = time.perf_counter()
        reps = 5 if preset == "fcn" else 1
        for _ in range(reps):
            predict_windows(model, x[:n])
        infer_rate = reps * n / (time.perf_counter() - t0)
        print(f"| {preset} | {model.count_params():,} | {batch} | {train_rate:.0f} | {infer_rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
