#!/usr/bin/env bash
# GPU benchmark: train the default model (preset fcn) from scratch on the training stream, then
# held-out figures beside the packaged model's, then inference throughput.  Goals on one H100/H200:
# training < 15 min, inference >= 20,000 sightlines/s.
#
# Needs: python (3.10+) with dla_cnn importable (installed, or this repository on PYTHONPATH) and its
# dependencies (numpy, scipy, astropy, h5py, typer, rich, numba for the simulator's compiled line sums),
# keras >= 3 and jax with CUDA (jax[cuda12]).
# TensorFlow is not needed: everything runs with KERAS_BACKEND=jax (the default here).
#
# Usage: bash benchmarks/gpu/run.sh          (from any directory; results in $DLA_CNN_GPU_OUT)
#
# Knobs (environment; the defaults are the full benchmark, CI runs a tiny configuration on the CPU):
#   DLA_CNN_GPU_EPOCHS=10 DLA_CNN_GPU_STEPS=600 DLA_CNN_GPU_BATCH=32
#                                  training length: the packaged model's 10 x 600 x 32, here never repeated
#   DLA_CNN_GPU_WORKERS=<cores-1>  processes simulating the stream
#   DLA_CNN_GPU_VAL=2000 DLA_CNN_GPU_TEST=2000   the stream's fixed validation / test sightlines
#   DLA_CNN_GPU_HELDOUT=2000       held-out-sky sightlines for detection figures (seed 9101, --sky heldout)
#   DLA_CNN_GPU_INFER_N=65536 DLA_CNN_GPU_INFER_BATCHES="1024 4096 16384" DLA_CNN_GPU_INFER_REPS=3
#   DLA_CNN_GPU_SEED=0             seeds the stream and Keras
#   DLA_CNN_GPU_OUT=runs/gpu       run directory (training starts afresh; the held-out sets are reused)
#
# Prints the training log, each measurement, then "== summary ==" with the lines "train:",
# "heldout per-pixel", "heldout detection", "inference:" (figures also in $DLA_CNN_GPU_OUT/*.json).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"  # one GPU, several processes
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"   # dla_cnn from this checkout unless installed
PY="${PYTHON:-python}"

cores="$(nproc 2>/dev/null || echo 2)"
epochs="${DLA_CNN_GPU_EPOCHS:-10}"
steps="${DLA_CNN_GPU_STEPS:-600}"
batch="${DLA_CNN_GPU_BATCH:-32}"
workers="${DLA_CNN_GPU_WORKERS:-$(( cores > 1 ? cores - 1 : 1 ))}"
n_val="${DLA_CNN_GPU_VAL:-2000}"
n_test="${DLA_CNN_GPU_TEST:-2000}"
n_heldout="${DLA_CNN_GPU_HELDOUT:-2000}"
infer_n="${DLA_CNN_GPU_INFER_N:-65536}"
infer_batches="${DLA_CNN_GPU_INFER_BATCHES:-1024 4096 16384}"
infer_reps="${DLA_CNN_GPU_INFER_REPS:-3}"
seed="${DLA_CNN_GPU_SEED:-0}"
out="${DLA_CNN_GPU_OUT:-runs/gpu}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

echo "== machine =="
echo "backend $KERAS_BACKEND, $cores cores, run directory $out"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PY" -c "import sys, keras, dla_cnn; from dla_cnn.model.runstate import devices; \
print('dla_cnn', dla_cnn.__version__, 'keras', keras.__version__, 'devices', devices()); \
print('tensorflow imported:', 'tensorflow' in sys.modules)"

echo "== train: $epochs epochs x $steps steps x $batch sightlines, $workers stream workers =="
t0="$(date +%s.%N)"
"$PY" -m dla_cnn.cli train --stream --out "$out/model.keras" --preset fcn --epochs "$epochs" \
    --steps-per-epoch "$steps" --batch-size "$batch" --stream-workers "$workers" --seed "$seed" \
    --validation-sightlines "$n_val" --test-sightlines "$n_test"
t1="$(date +%s.%N)"
"$PY" -c "print(f'{$t1 - $t0:.1f}')" > "$out/train_wall_s.txt"

echo "== held-out per-pixel figures (the stream's test set) =="
"$PY" "$here/measure.py" evaluate "$out"

echo "== held-out detection ($n_heldout sightlines, --sky heldout, seed 9101) =="
"$PY" "$here/measure.py" detect "$out" --n "$n_heldout" --workers "$workers"

echo "== inference =="
"$PY" "$here/measure.py" infer "$out" --n "$infer_n" --batches "$infer_batches" --reps "$infer_reps"

"$PY" "$here/measure.py" summary "$out"
