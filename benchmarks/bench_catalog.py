"""Catalog throughput and memory, end to end on simulated BOSS ``spec`` files on disk.

Sections (each prints a markdown table ready for RESULTS.md):

1. FITS reading: the time to read what a catalog run needs from each file (primary
   header ids; COADD ``flux``, ``loglam``, ``ivar``, ``and_mask``; the SPALL row) with
   astropy's ways of reading a binary table and with ``fitsio`` when it is installed,
   page cache warm and cold; every way is checked to return the same values.  The
   library's own reader (``read_spectrum`` with ``engine="astropy"`` and with
   ``engine="fitsio"``, what catalog runs use; it also identifies the format, validates
   and builds the sightline) is timed beside them for scale.
2. ``build_catalog`` end to end (read + normalise in worker processes, batched inference
   and detection, atomic shard checkpoints, FITS catalog) over every file, with 1 and 2
   reader workers, page cache cold and warm.  Cold: ``os.sync()`` and then
   ``os.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`` on every file, which drops their
   clean pages without root (only the spectra: Python, the libraries and the model stay
   cached).  Warm: every file read once first.  Where ``fincore`` (util-linux) exists the
   share of the files' pages in the cache before the run is printed.  Throughput "after
   start-up" counts from the first finished shard (``progress`` callback) to the return
   of ``build_catalog`` (so it includes merging the shards and writing the catalog);
   start-up is model loading, worker start and the first shard.  Peak memory: a thread
   samples the resident memory of this process and all its descendants (``/proc``) every
   0.5 s; RSS summed over processes counts shared pages (libraries) once per process,
   PSS splits them.
3. Inference + detection alone: the first ``--infer-n`` files prepared through
   ``prepare_task`` (the builder's path; its rate in one process is printed too), then
   ``Scanner.scan_prepared`` (both stages of the packaged finder) in the builder's batches,
   on Keras (``KERAS_BACKEND``) and, where the finder has an ONNX export, on ONNX Runtime.
   Sections 2 and 4 use the scanner's default engine (``auto``; ``DLA_CNN_ENGINE`` sets it).
4. Memory along a stream: ``build_catalog`` (2 workers) over ``--stream`` tasks, a
   directory of symbolic links that lists the simulated files again and again; the
   process tree's memory at every 10,000 sightlines, and the wall time of the whole
   catalog (the "100k sightlines in < 5 min" goal).

Goals (from the project's issues): >= 500 sightlines/s after start-up with 2 workers on
2 cores; a 100,000-sightline catalog in < 5 min; memory flat along a stream.  A full run
(10,000 files, a 100,000-sightline stream) takes about half an hour on 2 idle cores.

Usage::

    python benchmarks/bench_catalog.py [--n 10000 | --sims DIR] [--stream 100000]
        [--infer-n 2048] [--fits-n 1000] [--model PATH] [--workers 1 2] [--tmp DIR]

``--sims DIR`` reuses the spectra in DIR (searched recursively) or, when it holds none,
simulates ``--n`` into it to keep them.  Smoke test: ``--n 300 --stream 1000 --infer-n 128
--fits-n 50``.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

COADD_COLUMNS = ("flux", "loglam", "ivar", "and_mask")
SPALL_KEYS = ("Z", "CLASS", "PLUG_RA", "PLUG_DEC", "THING_ID")
HEADER_KEYS = ("PLATEID", "MJD", "FIBERID")
STREAM_MARK = 10_000
THROUGHPUT_GOAL = 500.0
STREAM_GOAL_S = 300.0


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="spectra to simulate (default 10000)")
    ap.add_argument("--sims", default=None, help="reuse the spectra in DIR, or simulate --n into it when empty")
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--dla-rate", type=float, default=0.5, help="injected DLAs per unit z (default 0.5)")
    ap.add_argument("--sim-jobs", type=int, default=os.cpu_count() or 1, help="simulation processes")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="reader workers to run (default 1 2; 0: skip)")
    ap.add_argument("--stream", type=int, default=100000, help="sightlines of the stream run (0: skip)")
    ap.add_argument("--infer-n", type=int, default=2048, help="sightlines of the inference-only run (0: skip)")
    ap.add_argument("--infer-passes", type=int, default=3, help="timed passes over them (default 3)")
    ap.add_argument("--fits-n", type=int, default=1000, help="files of the FITS-reading comparison (0: skip)")
    ap.add_argument("--model", default=None, help="model (default: the packaged one)")
    ap.add_argument("--tmp", default=None, help="where the catalogs and the stream's links go (default: system temp)")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- machine, model
def machine_line() -> str:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    try:
        import keras

        backend = keras.backend.backend()
    except ImportError:
        backend = "?"
    note = "" if load[0] < 0.5 else f" -- the machine is not idle (load {load[0]:.1f}): figures are low"
    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores ({cpu or 'cpu ?'}), {mem:.0f} GiB; "
            f"Keras backend {backend}; load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}{note}.")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- memory of the process tree
def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _status_kb(pid: int, path: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory() -> dict:
    """Resident memory (MB) of this process and its descendants: RSS and PSS summed, largest RSS."""
    pids = _descendants(os.getpid())
    rss = [_status_kb(p, "status", "VmRSS:") for p in pids]
    pss = [_status_kb(p, "smaps_rollup", "Pss:") for p in pids]
    return {"rss_mb": sum(rss) / 1024, "pss_mb": sum(pss) / 1024, "max_rss_mb": max(rss, default=0) / 1024,
            "processes": len(pids)}


class MemorySampler:
    """Samples :func:`tree_memory` in a background thread; keeps the peaks."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.peak = {"rss_mb": 0.0, "pss_mb": 0.0, "max_rss_mb": 0.0, "processes": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def take(self) -> dict:
        now = tree_memory()
        for k, v in now.items():
            self.peak[k] = max(self.peak[k], v)
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()

    def __enter__(self) -> "MemorySampler":
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.take()


# --------------------------------------------------------------------------- page cache
def drop_cache(files: list[Path]) -> None:
    """Drop the files' pages from the page cache (no root needed: clean pages, one file at a time)."""
    os.sync()  # dirty pages cannot be dropped
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm_cache(files: list[Path]) -> None:
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 20):
                pass


def cached_share(files: list[Path], sample: int = 200) -> float | None:
    """Share of the files' pages in the page cache (``fincore`` on up to ``sample`` files), None without it."""
    exe = shutil.which("fincore")
    if not exe or not files:
        return None
    pick = [str(files[i]) for i in np.linspace(0, len(files) - 1, min(sample, len(files))).astype(int)]
    try:
        out = subprocess.run([exe, "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE", *pick],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    res = size = 0
    for line in out.split("\n"):
        parts = line.split()
        if len(parts) == 2:
            res, size = res + int(parts[0]), size + int(parts[1])
    return min(1.0, res / size) if size else None


# --------------------------------------------------------------------------- spectra
def _simulate_part(out_dir: str, n: int, seed: int, dla_rate: float) -> int:
    from dla_cnn.simulate.export import simulate_to_directory

    simulate_to_directory(out_dir, n, seed=seed, dla_rate=dla_rate, snr_distribution="boss")
    return n


def simulate(root: Path, n: int, seed: int, dla_rate: float, jobs: int) -> None:
    """``n`` BOSS sightlines with DLAs into ``root/part-K`` (one seed per part, run in ``jobs`` processes)."""
    jobs = max(1, min(jobs, n))
    sizes = [n // jobs + (k < n % jobs) for k in range(jobs)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_simulate_part, str(root / f"part-{k}"), size, seed + k, dla_rate)
                   for k, size in enumerate(sizes) if size]
        for fut in futures:
            fut.result()
    print(f"simulated {n} BOSS sightlines (S/N 'boss', {dla_rate} DLAs per unit z, seeds {seed}..{seed + jobs - 1}) "
          f"in {time.perf_counter() - t0:.0f} s with {jobs} processes", file=sys.stderr)


def spectrum_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("spec-*.fits") if p.is_file())


# --------------------------------------------------------------------------- 1. FITS reading
def _library_reader(engine: str):
    def read(path: str) -> dict:
        from dla_cnn.io import read_spectrum

        sl = read_spectrum(path, engine=engine)[0]
        return {"flux": sl.flux, "z": sl.z_qso}
    read.library = True
    return read


def _astropy_fields(hdul) -> dict:
    coadd = hdul["COADD"].data
    spall = hdul["SPALL"].data[0]
    hdr = hdul[0].header
    out = {c: np.asarray(coadd[c]) for c in COADD_COLUMNS}
    out.update({k: spall[k] for k in SPALL_KEYS})
    out.update({k: hdr[k] for k in HEADER_KEYS})
    return out


def _read_astropy(memmap: bool, lazy: bool):
    from astropy.io import fits

    def read(path: str) -> dict:
        with fits.open(path, memmap=memmap, lazy_load_hdus=lazy) as hdul:
            out = _astropy_fields(hdul)
            return {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in out.items()}
    return read


def _read_table(path: str) -> dict:
    from astropy.io import fits
    from astropy.table import Table

    coadd = Table.read(path, hdu="COADD")
    spall = Table.read(path, hdu="SPALL")
    hdr = fits.getheader(path, 0)
    out = {c: np.asarray(coadd[c]) for c in COADD_COLUMNS}
    out.update({k: spall[k][0] for k in SPALL_KEYS})
    out.update({k: hdr[k] for k in HEADER_KEYS})
    return out


def _read_raw(path: str) -> dict:
    """astropy parses the headers; numpy reads each table's bytes in one go."""
    from astropy.io import fits

    out = {}
    with fits.open(path, memmap=False) as hdul, open(path, "rb") as fh:
        out.update({k: hdul[0].header[k] for k in HEADER_KEYS})
        for name, keys in (("COADD", COADD_COLUMNS), ("SPALL", SPALL_KEYS)):
            hdu = hdul[name]
            h = hdu.header
            dtype = hdu.columns.dtype.newbyteorder(">")
            if dtype.itemsize != h["NAXIS1"]:
                raise ValueError(f"{path}[{name}]: row layout {dtype.itemsize} != NAXIS1 {h['NAXIS1']}")
            fh.seek(hdu.fileinfo()["datLoc"])
            rows = np.frombuffer(fh.read(h["NAXIS1"] * h["NAXIS2"]), dtype=dtype)
            if name == "COADD":
                out.update({c: rows[c] for c in keys})
            else:
                out.update({k: rows[k][0] for k in keys})
    return out


def _read_fitsio(path: str) -> dict:
    import fitsio

    with fitsio.FITS(path) as f:
        hdr = f[0].read_header()
        coadd = f["COADD"].read(columns=list(COADD_COLUMNS))
        spall = f["SPALL"].read(columns=list(SPALL_KEYS))
    out = {c: coadd[c] for c in COADD_COLUMNS}
    out.update({k: spall[k][0] for k in SPALL_KEYS})
    out.update({k: hdr[k] for k in HEADER_KEYS})
    return out


def _same(a: dict, b: dict) -> bool:
    for k, v in a.items():
        w = b[k]
        if isinstance(v, np.ndarray) or isinstance(w, np.ndarray):
            if not np.array_equal(np.asarray(v, dtype=np.asarray(v).dtype.newbyteorder("=")),
                                  np.asarray(w, dtype=np.asarray(w).dtype.newbyteorder("="))):
                return False
        elif isinstance(v, (bytes, str)) or isinstance(w, (bytes, str)):
            sv = v.decode() if isinstance(v, bytes) else str(v)
            sw = w.decode() if isinstance(w, bytes) else str(w)
            if sv.strip() != sw.strip():
                return False
        elif not (v == w or (v != v and w != w)):
            return False
    return True


def fits_methods() -> list[tuple[str, object]]:
    methods = [
        ("astropy fits.open(memmap=False, lazy_load_hdus=False), hdul[...].data fields "
         "(the library's astropy engine)",
         _read_astropy(False, False)),
        ("astropy fits.open(memmap=False), lazy HDUs, .data fields", _read_astropy(False, True)),
        ("astropy fits.open(memmap=True), lazy HDUs, .data fields", _read_astropy(True, True)),
        ("astropy Table.read per HDU + fits.getheader", _read_table),
        ("astropy headers + numpy reads the table bytes", _read_raw),
    ]
    try:
        import fitsio

        methods.append((f"fitsio {fitsio.__version__}: FITS(path)[...].read(columns=...)", _read_fitsio))
    except ImportError:
        pass
    for engine in ("astropy", "fitsio"):
        methods.append((f"dla_cnn read_spectrum(engine='{engine}') (whole reader, for scale)",
                        _library_reader(engine)))
    return methods


def bench_fits(files: list[Path]) -> dict:
    methods = fits_methods()
    paths = [str(f) for f in files]
    reference = [methods[0][1](p) for p in paths[: min(20, len(paths))]]
    rows = []
    for name, fn in methods:
        same = None
        if not getattr(fn, "library", False):
            same = all(_same(ref, fn(p)) for ref, p in zip(reference, paths))
        fn(paths[0])  # first-call imports and set-up, not timed
        times, cached = {}, {}
        for state in ("warm", "cold"):
            if state == "cold":
                drop_cache(files)
            else:
                warm_cache(files)
            cached[state] = cached_share(files)
            t0 = time.perf_counter()
            for p in paths:
                fn(p)
            times[state] = (time.perf_counter() - t0) / len(paths) * 1e3
        rows.append({"method": name, "same": same, "warm_ms": times["warm"], "cold_ms": times["cold"],
                     "cached_cold": cached["cold"], "cached_warm": cached["warm"]})
    base = rows[0]["warm_ms"]
    print(f"\n## FITS reading: {len(paths)} BOSS spec files, what a catalog run needs "
          f"(primary ids, COADD {', '.join(COADD_COLUMNS)}, the SPALL row)\n")
    print("| way of reading | same values | ms / file, warm cache | ms / file, cold cache | files/s (warm) | "
          "vs the first row (warm) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        same = "—" if r["same"] is None else ("yes" if r["same"] else "**no**")
        print(f"| {r['method']} | {same} | {r['warm_ms']:.2f} | {r['cold_ms']:.2f} | {1e3 / r['warm_ms']:.0f} | "
              f"{base / r['warm_ms']:.2f}x |")
    readers = [r for r in rows if r["same"]]
    best = min(readers, key=lambda r: r["warm_ms"])
    print(f"\nFastest that returns the same values: {best['method']}, {base / best['warm_ms']:.1f}x the first row "
          f"warm ({best['warm_ms']:.2f} vs {base:.2f} ms per file) and "
          f"{rows[0]['cold_ms'] / best['cold_ms']:.1f}x cold.")
    cold = [r["cached_cold"] for r in rows if r["cached_cold"] is not None]
    warm = [r["cached_warm"] for r in rows if r["cached_warm"] is not None]
    if cold and warm:
        print(f"Page cache before each timed pass (`fincore`): warm {min(warm):.0%}-{max(warm):.0%} of the files' "
              f"pages, cold {min(cold):.0%}-{max(cold):.0%} (dropped with posix_fadvise DONTNEED, no root needed).")
    if not any("fitsio" in r["method"] for r in rows):
        print("fitsio is not installed (pip install fitsio): not measured.")
    return {"rows": rows, "best": best["method"]}


# --------------------------------------------------------------------------- 2. end to end
def run_catalog(source: Path, out: Path, model: str | None, workers: int, marks_every: int = 0):
    """One ``build_catalog`` run, timed and memory-sampled; ``marks_every``: memory at every N sightlines."""
    from dla_cnn.scan.builder import build_catalog

    marks: list[tuple[float, int]] = []
    memory_marks: list[dict] = []
    next_mark = [marks_every]
    with MemorySampler() as mem:
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            marks.append((now, done))
            if marks_every and (done >= next_mark[0] or (done == total and done > 0)):
                memory_marks.append({"done": done, "elapsed_s": now - t0, **mem.take(),
                                     "peak_rss_mb": mem.peak["rss_mb"], "peak_pss_mb": mem.peak["pss_mb"]})
                while next_mark[0] <= done:
                    next_mark[0] += marks_every

        res = build_catalog(source, out, model_path=model, workers=workers, progress=progress)
        t1 = time.perf_counter()
    after = [(t, d) for t, d in marks if d > 0]
    n = res["n_sightlines"]
    out_ = {"n": n, "n_ok": res["n_ok"], "n_dla": res["n_dla"], "wall_s": t1 - t0,
            "startup_s": after[0][0] - t0 if after else float("nan"),
            "first_shard": after[0][1] if after else 0,
            "rate_after": (n - after[0][1]) / (t1 - after[0][0]) if len(after) > 1 else float("nan"),
            "rate_all": n / (t1 - t0), "peak": dict(mem.peak), "memory_marks": memory_marks,
            "last_shard_s": after[-1][0] - t0 if after else float("nan")}
    return out_


def bench_end_to_end(files: list[Path], source: Path, tmp: Path, model: str | None, workers_list: list[int]) -> dict:
    runs = []
    for workers in workers_list:
        for cache in ("cold", "warm"):
            if cache == "cold":
                drop_cache(files)
            else:
                warm_cache(files)
            share = cached_share(files)
            r = run_catalog(source, tmp / f"e2e-w{workers}-{cache}.fits", model, workers)
            r.update(workers=workers, cache=cache, cached_share=share)
            runs.append(r)
            print(f"[end to end] {workers} workers, {cache} cache: {r['rate_after']:.0f} sightlines/s after start-up",
                  file=sys.stderr, flush=True)
    print(f"\n## Catalog end to end: {runs[0]['n']} BOSS spec files on disk ({runs[0]['n_ok']} searched, "
          f"{runs[0]['n_dla']} DLA rows), `build_catalog` defaults\n")
    print("| workers | page cache | cached before | wall s | start-up s | sightlines/s after start-up | "
          "sightlines/s overall | peak RSS MB (tree, sum) | peak PSS MB (tree) | largest process MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        share = "—" if r["cached_share"] is None else f"{r['cached_share']:.0%}"
        print(f"| {r['workers']} | {r['cache']} | {share} | {r['wall_s']:.1f} | {r['startup_s']:.1f} | "
              f"{r['rate_after']:.0f} | {r['rate_all']:.0f} | {r['peak']['rss_mb']:.0f} | {r['peak']['pss_mb']:.0f} | "
              f"{r['peak']['max_rss_mb']:.0f} |")
    print("\nCold: `os.sync()` then `posix_fadvise(POSIX_FADV_DONTNEED)` on every spectrum file before the run "
          "(no root needed; Python, the libraries and the model stay cached); warm: every file read once first. "
          "'cached before': share of the files' pages in the page cache just before the run (`fincore`, 200 files). "
          "Start-up: model loading, worker start and the first shard; after start-up: from the first finished "
          "shard to the written catalog (merge and write included).")
    two = [r for r in runs if r["workers"] == 2]
    if two:
        worst = min(r["rate_after"] for r in two)
        best = max(r["rate_after"] for r in two)
        verdict = "met" if worst >= THROUGHPUT_GOAL else "not met"
        print(f"\nGoal >= {THROUGHPUT_GOAL:.0f} sightlines/s after start-up with 2 workers on {os.cpu_count()} cores: "
              f"**{verdict}** ({worst:.0f}-{best:.0f}/s, cold and warm).")
    return {"runs": runs}


# --------------------------------------------------------------------------- 3. inference only
def bench_inference(files: list[Path], model: str | None, passes: int) -> dict:
    from dla_cnn.scan.builder import Task, prepare_task
    from dla_cnn.scan.pipeline import Scanner

    warm_cache(files)
    t0 = time.perf_counter()
    prepared = [p for f in files for p in prepare_task(Task(str(f)))]
    prep_s = time.perf_counter() - t0
    n_ok = sum(p.inputs is not None for p in prepared)
    from dla_cnn.assets import resolve_model
    from dla_cnn.modelcard import read_card
    from dla_cnn.runtime import choose_engine

    path = resolve_model(model)
    engines = ["keras"] + (["onnx"] if choose_engine("auto", read_card(path), path) == "onnx" else [])
    rows, n, n_det, stage = [], len(prepared) * max(1, passes), 0, ""
    for engine in engines:
        scanner = Scanner(model, engine=engine)  # the builder's defaults: DetectConfig(), batch size 128
        bs = scanner.batch_size
        scanner.scan_prepared(prepared[:bs])  # warm-up (graph tracing), not timed
        n_det = 0
        t0 = time.perf_counter()
        for _ in range(max(1, passes)):
            for i in range(0, len(prepared), bs):
                n_det += sum(len(r.detections) for r in scanner.scan_prepared(prepared[i:i + bs]))
        dt = time.perf_counter() - t0
        stage = "two-stage" if scanner.stage is not None else "one-stage"
        rows.append((engine, bs, dt, n / dt, n_det // max(1, passes)))
    print(f"\n## Inference + detection alone: {len(prepared)} simulated sightlines with absorbers "
          f"({n_ok} searched), {max(1, passes)} timed pass{'es' if passes > 1 else ''}\n")
    print("| step | sightlines | s | sightlines/s | detections per pass |")
    print("|---|---:|---:|---:|---:|")
    print(f"| read + prepare (`prepare_task`, 1 process, warm cache) | {len(prepared)} | {prep_s:.1f} | "
          f"{len(prepared) / prep_s:.0f} | |")
    for engine, bs, dt, rate, det in rows:
        label = "Keras (" + os.environ.get("KERAS_BACKEND", "tensorflow") + ")" if engine == "keras" else "ONNX Runtime"
        print(f"| `Scanner.scan_prepared`, {stage}, batch {bs}, {label} | {n} | {dt:.1f} | {rate:.0f} | {det} |")
    print("\nThe models run in this one process (their own threads); start-up and the warm-up batch are not timed.")
    return {"n": len(prepared), "n_ok": n_ok, "prepare_rate": len(prepared) / prep_s, "rate": rows[-1][3],
            "rates": {r[0]: r[3] for r in rows}, "batch": rows[-1][1], "finder": stage}


# --------------------------------------------------------------------------- 4. stream
def link_stream(files: list[Path], root: Path, n: int) -> Path:
    """A directory of ``n`` symbolic links to ``files``, repeated (``rep-NNN/`` sub-directories)."""
    root.mkdir(parents=True, exist_ok=True)
    made = 0
    rep = 0
    while made < n:
        d = root / f"rep-{rep:03d}"
        d.mkdir(exist_ok=True)
        for f in files[: n - made]:
            os.symlink(f.resolve(), d / f.name)
        made += min(len(files), n - made)
        rep += 1
    return root


def bench_stream(files: list[Path], tmp: Path, n: int, model: str | None) -> dict:
    source = link_stream(files, tmp / "stream", n)
    warm_cache(files)
    r = run_catalog(source, tmp / "stream.fits", model, 2, marks_every=STREAM_MARK)
    marks = r["memory_marks"]
    print(f"\n## Memory along a stream: `build_catalog`, 2 workers, {r['n']} sightlines "
          f"({len(files)} files listed {-(-n // len(files))} times through symbolic links)\n")
    print("| sightlines | elapsed s | sightlines/s since last row | RSS MB (tree, sum) | PSS MB (tree) | "
          "largest process MB | processes |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    prev_t, prev_d = r["startup_s"] if marks else 0.0, r["first_shard"]
    for m in marks:
        rate = (m["done"] - prev_d) / (m["elapsed_s"] - prev_t) if m["elapsed_s"] > prev_t else float("nan")
        print(f"| {m['done']} | {m['elapsed_s']:.0f} | {rate:.0f} | {m['rss_mb']:.0f} | {m['pss_mb']:.0f} | "
              f"{m['max_rss_mb']:.0f} | {m['processes']} |")
        prev_t, prev_d = m["elapsed_s"], m["done"]
    print(f"\nWhole run: {r['wall_s']:.0f} s wall ({r['rate_all']:.0f} sightlines/s overall, {r['rate_after']:.0f} after "
          f"start-up; last shard at {r['last_shard_s']:.0f} s, then merging and writing the catalog); peak of the "
          f"tree {r['peak']['rss_mb']:.0f} MB RSS / {r['peak']['pss_mb']:.0f} MB PSS (merge and write included).")
    if len(marks) >= 3:
        growth = marks[-1]["pss_mb"] - marks[1]["pss_mb"]
        print(f"Memory from the second row to the last: {growth:+.0f} MB PSS.")
    scale = 100_000 / r["n"]
    est = r["startup_s"] + (100_000 - r["first_shard"]) / r["rate_after"] if r["rate_after"] == r["rate_after"] else float("nan")
    if r["n"] >= 100_000:
        verdict = "met" if r["wall_s"] < STREAM_GOAL_S else "not met"
        print(f"Goal: a 100,000-sightline catalog in < {STREAM_GOAL_S / 60:.0f} min: **{verdict}** "
              f"({r['wall_s'] / 60:.1f} min for {r['n']}).")
    else:
        print(f"Goal: a 100,000-sightline catalog in < {STREAM_GOAL_S / 60:.0f} min: not measured ({r['n']} "
              f"sightlines; at this rate 100k would take ~{est / 60:.1f} min, x{scale:.0f} extrapolated).")
    return r


# --------------------------------------------------------------------------- main
def main(argv=None) -> None:
    args = parse_args(argv)
    from dla_cnn.assets import resolve_model
    from dla_cnn.model.card import read_card

    print(machine_line())
    model_path = resolve_model(args.model)
    card = read_card(model_path)
    stage2 = card.get("stage2") or {}
    print(f"Model: {card.get('name', model_path.stem)} ({model_path.name}, sha256 {file_sha256(model_path)})"
          + (f"; second stage {stage2.get('file')} (sha256 {stage2.get('sha256')})" if stage2 else "; one stage") + ".")

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_:
        tmp = Path(tmp_)
        root = Path(args.sims) if args.sims else tmp / "sims"
        if not (root.is_dir() and spectrum_files(root)):
            simulate(root, args.n, args.seed, args.dla_rate, args.sim_jobs)
        files = spectrum_files(root)
        print(f"Spectra: {len(files)} simulated BOSS spec files in {root if args.sims else '(temporary directory)'}, "
              f"{sum(f.stat().st_size for f in files) / 2**20:.0f} MiB.")
        results: dict = {}
        if args.fits_n:
            results["fits"] = bench_fits(files[: args.fits_n])
        workers = [w for w in args.workers if w > 0]
        if workers:
            results["end_to_end"] = bench_end_to_end(files, root, tmp, args.model, workers)
        if args.infer_n:
            results["inference"] = bench_inference(files[: args.infer_n], args.model, args.infer_passes)
        if args.stream:
            results["stream"] = bench_stream(files, tmp, args.stream, args.model)


if __name__ == "__main__":
    main()
