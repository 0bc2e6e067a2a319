"""``dla-cnn catalog``: run the model over many sightlines, resumably, locally or on Dask.

The work list (every spectrum file, or every row of a quasar table) is cut into shards of
fixed size in a fixed order.  Each finished shard is checkpointed atomically as
``OUT.parts/shard-NNNNNN.json`` (write to a temp file, then ``os.replace``), so a run killed
at any moment (even ``kill -9``) resumes with ``--resume`` without losing or duplicating a
sightline: finished shards are skipped, a shard in flight is redone.  When all shards are
done they are merged, in order, into the catalog.

Locally, worker processes read and normalise spectra while the main process runs batched
inference; on the ONNX engine the workers also run the per-pixel network (one thread each)
and the main process the absorber-level stage, which balances the two cores.  On Dask (``scheduler=ADDRESS``) each task processes a whole shard with a model
loaded once per worker.  Spectra are read with fitsio where it is installed
(``DLA_CNN_FITS_ENGINE=astropy`` reads them with astropy: the same values, slower).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from dla_cnn.atomic import write_text_atomic
from dla_cnn.ids import spec_file_name
from dla_cnn.exceptions import DATA_ERRORS, ConfigError, SightlineError, describe
from dla_cnn.scan.detect import DetectConfig
from dla_cnn.scan.pipeline import Prepared, Scanner, error_row, prepare

SPECTRUM_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz")


@dataclass(frozen=True)
class Task:
    """One spectrum to scan: a file and what the user already knows about it."""

    file: str
    z_qso: float | None = None
    sightline_id: str | None = None
    plate: int = -1
    mjd: int = -1
    fiber: int = -1
    ra: float = float("nan")
    dec: float = float("nan")
    thing_id: int = -1
    targetid: int = -1


def boss_path(spectra_dir: Path, plate: int, mjd: int, fiber: int) -> Path:
    """``PLATE/spec-PLATE-MJD-FIBER.fits`` as BOSS lays it out, or flat if that is how the files are."""
    name = spec_file_name(plate, mjd, fiber)
    nested = spectra_dir / f"{plate:04d}" / name
    return nested if nested.exists() or not (spectra_dir / name).exists() else spectra_dir / name


def enumerate_tasks(source: str | Path, spectra_dir: str | Path | None = None) -> list[Task]:
    """The work list of a catalog run.

    Parameters
    ----------
    source : path
        A directory of spectra (searched recursively, sorted), a single spectrum, or a
        DR12Q/DR16Q-style quasar table (plate, mjd, fiber, z, ra, dec; THING_ID and
        TARGETID when it has them) with ``spectra_dir``.
    spectra_dir : path, optional
        Where the table's spectra live (BOSS ``PLATE/`` sub-directories or flat).
    """
    source = Path(source)
    if not source.exists():
        raise ConfigError(f"{source}: no such file or directory")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.name.lower().endswith(SPECTRUM_SUFFIXES))
        if not files:
            raise ConfigError(f"{source}: no spectrum files (*.fits, *.fit) found")
        return [Task(str(p)) for p in files]
    if spectra_dir is None:
        return [Task(str(source))]
    from dla_cnn.io import read_quasar_catalog

    cat = read_quasar_catalog(source)
    sdir = Path(spectra_dir)
    n = len(cat)
    thing = cat["thing_id"] if "thing_id" in cat.colnames else np.full(n, -1)
    target = cat["targetid"] if "targetid" in cat.colnames else np.full(n, -1)
    tasks = []
    for r, t_id, tgt in zip(cat, thing, target):
        plate, mjd, fiber = int(r["plate"]), int(r["mjd"]), int(r["fiber"])
        tasks.append(Task(str(boss_path(sdir, plate, mjd, fiber)), float(r["z_qso"]), str(r["sightline_id"]),
                          plate, mjd, fiber, float(r["ra"]), float(r["dec"]), int(t_id), int(tgt)))
    return tasks


def prepare_task(task: Task) -> list[Prepared]:
    """Read and normalise the sightline(s) of one task; failures become error rows."""
    from dla_cnn.io import read_spectrum
    from dla_cnn.io._fits import fits_engine

    ids = {k: getattr(task, k) for k in ("plate", "mjd", "fiber", "ra", "dec", "thing_id", "targetid")}
    if task.z_qso is not None:
        ids["z_qso"] = task.z_qso
    try:
        sightlines = read_spectrum(task.file, z_qso=task.z_qso, engine=fits_engine())
    except SightlineError as err:
        return [Prepared(error_row(err, task.sightline_id, **ids))]
    except DATA_ERRORS as err:  # an unreadable file must not stop the run (a bug in dla-cnn does)
        wrapped = SightlineError(task.file, f"unexpected {describe(err)}")
        return [Prepared(error_row(wrapped, task.sightline_id, **ids))]
    out = []
    for sl in sightlines:
        p = prepare(sl)
        row = p.row
        if task.sightline_id and not row["sightline_id"]:
            row["sightline_id"] = task.sightline_id
        # what the quasar table knows fills what the file lacks (the fast BOSS read skips SPALL)
        for key in ("thing_id", "targetid"):
            if row[key] < 0 <= getattr(task, key):
                row[key] = int(getattr(task, key))
        if not (np.isfinite(row["ra"]) and np.isfinite(row["dec"])) and np.isfinite(task.ra) and np.isfinite(task.dec):
            row["ra"], row["dec"] = float(task.ra), float(task.dec)
        out.append(p)
    return out


@lru_cache(maxsize=2)
def _reader_network(graph: str):
    """The per-pixel ONNX graph in a reader process (one thread: the processes share the cores)."""
    from dla_cnn.runtime import OnnxNetwork

    return OnnxNetwork(graph, threads=1)


def prepare_and_predict(tasks: list[Task], graph: str, batch_size: int = 64) -> list[Prepared]:
    """Read and normalise the sightlines of ``tasks`` and run the per-pixel network on them.

    Catalog readers on the ONNX engine call this: the main process then runs only the
    absorber-level stage.  ``graph`` is the per-pixel ONNX graph, already checked against
    the model card by the main process.
    """
    from dla_cnn.inference import predict_pixels

    prepared = [p for t in tasks for p in prepare_task(t)]
    ok = [p for p in prepared if p.inputs is not None]
    if ok:
        pred = predict_pixels(_reader_network(graph), np.stack([p.inputs for p in ok]), batch_size)
        for j, p in enumerate(ok):
            p.pred = {k: v[j] for k, v in pred.items()}
    return prepared


def _shard_rows(scanner: Scanner, prepared: list[Prepared]) -> dict:
    results = scanner.scan_prepared(prepared)
    return {"absorbers": [a for r in results for a in r.absorber_rows()], "sightlines": [r.row for r in results]}


@lru_cache(maxsize=2)
def _worker_scanner(model_path: str, detect_json: str, batch_size: int, engine: str | None = None) -> Scanner:
    return Scanner(model_path or None, DetectConfig(**json.loads(detect_json)), batch_size, engine)


def process_shard(tasks: list[Task], model_path: str, detect_json: str, batch_size: int = 128,
                  engine: str | None = None) -> dict:
    """Read, scan and detect one shard in this process (the unit of work on Dask)."""
    scanner = _worker_scanner(model_path, detect_json, batch_size, engine)
    prepared = [p for t in tasks for p in prepare_task(t)]
    return _shard_rows(scanner, prepared)


def _write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, allow_nan=True))


def build_catalog(
    source: str | Path,
    out: str | Path,
    model_path: str | Path | None = None,
    spectra_dir: str | Path | None = None,
    workers: int = 1,
    resume: bool = False,
    scheduler: str | None = None,
    shard_size: int = 256,
    batch_size: int = 128,
    detect: DetectConfig = DetectConfig(),
    progress: Callable[[int, int], None] | None = None,
    command: str = "",
    fmt: str = "fits",
    restart: bool = False,
    engine: str | None = None,
) -> dict:
    """Scan every sightline of ``source`` and write a catalog.

    Parameters
    ----------
    source, spectra_dir : path
        See :func:`enumerate_tasks`.
    out : path
        Catalog file (FITS with ABSORBERS and SIGHTLINES HDUs, or ECSV pair).
    model_path : path, optional
        Model (default: the packaged pretrained model).
    workers : int
        Local reader processes.
    resume : bool
        Continue a killed run from its checkpoints (``OUT.parts/``); on a run that has
        finished (no checkpoints, catalog written) nothing is recomputed.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler to run the shards on.
    shard_size : int
        Sightlines per checkpointed shard.
    progress : callable, optional
        Called with ``(sightlines_done, sightlines_total)``.
    command, fmt : str
        The command line recorded in the header; ``"fits"`` or ``"ecsv"``.
    restart : bool
        Discard the checkpoints of an unfinished run.  Without it (or ``resume``) such
        checkpoints are an error rather than silently thrown away.
    engine : str, optional
        Inference engine (``keras``, ``onnx`` or ``auto``; see :class:`~dla_cnn.scan.pipeline.Scanner`).

    Returns
    -------
    dict
        Counts: ``n_sightlines``, ``n_ok``, ``n_error``, ``n_skipped``, ``n_dla``, ``n_subdla``,
        the output ``path`` and every written file (``paths``), and ``already_finished``.

    Raises
    ------
    ConfigError
        Checkpoints of an unfinished run and neither ``resume`` nor ``restart``, or
        checkpoints of a different run with ``resume``.
    """
    from dla_cnn.catalog import write_catalog
    from dla_cnn.io._fits import fits_engine

    fits_engine()  # an unknown $DLA_CNN_FITS_ENGINE stops the run before it starts
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    if resume and not parts.exists() and all(p.exists() for p in _written_paths(out, fmt)):
        from dla_cnn.catalog import read_catalog

        absorbers, sightlines, _ = read_catalog(out)
        return {**_summary(_written_paths(out, fmt), absorbers, sightlines), "already_finished": True}
    tasks = enumerate_tasks(source, spectra_dir)
    shards = [tasks[i: i + shard_size] for i in range(0, len(tasks), shard_size)]
    scanner = Scanner(model_path, detect, batch_size, engine)  # on Dask too: the header's provenance comes from it
    mpath = str(scanner.model_path if scanner else (model_path or ""))
    manifest = {"source": str(Path(source).resolve()), "n_tasks": len(tasks), "shard_size": shard_size,
                "model": mpath, "detect": asdict(detect),
                "tasks_sha256": hashlib.sha256("\n".join(t.file for t in tasks).encode()).hexdigest()}
    _open_checkpoints(parts, manifest, len(shards), resume, restart)
    shard_file = [parts / f"shard-{i:06d}.json" for i in range(len(shards))]
    pending = [i for i in range(len(shards)) if not shard_file[i].exists()]
    done = sum(len(shards[i]) for i in range(len(shards)) if shard_file[i].exists())
    total = len(tasks)
    if progress:
        progress(done, total)

    def finish(i: int, rows: dict) -> None:
        nonlocal done
        _write_json_atomic(shard_file[i], rows)
        done += len(shards[i])
        if progress:
            progress(done, total)

    if scheduler:
        _run_dask(scheduler, shards, pending, finish, mpath, detect, batch_size, scanner.engine)
    elif workers > 1 and pending:
        _run_pool(scanner, shards, pending, workers, finish)
    else:
        for k, i in enumerate(pending):
            _read_ahead(shards, pending, k)
            prepared = [p for t in shards[i] for p in prepare_task(t)]
            finish(i, _shard_rows(scanner, prepared))

    absorbers, sightlines = _merge_shards(shard_file)
    meta = (scanner.catalog_meta(command) if scanner else
            {"model_name": Path(mpath).stem if mpath else "pretrained", "command": command})
    paths = write_catalog(out, absorbers, sightlines, meta, format=fmt)
    shutil.rmtree(parts, ignore_errors=True)
    return {**_summary(paths, absorbers, sightlines), "already_finished": False}


def _open_checkpoints(parts: Path, manifest: dict, n_shards: int, resume: bool, restart: bool) -> None:
    """Create (or, resuming, check) the checkpoint directory of a run and write its manifest."""
    mfile = parts / "manifest.json"
    if parts.exists() and not (resume or restart):
        n_done = len(list(parts.glob("shard-*.json")))
        raise ConfigError(f"{parts}: checkpoints of an unfinished run ({n_done} of {n_shards} shards done); "
                          "rerun with --resume to continue it, or --restart to discard them")
    if parts.exists() and not resume:
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if resume and mfile.exists():
        old = json.loads(mfile.read_text())
        if {k: old.get(k) for k in manifest} != manifest:
            raise ConfigError(f"{parts}: checkpoints belong to a different run (source, model or settings differ); "
                              "run without --resume to start afresh")
    _write_json_atomic(mfile, manifest)


READ_AHEAD_BYTES = 16 << 20
"""At most this much of each file is advised: all of a BOSS spec file (a few hundred kB), the
start of a large multi-spectrum file without flooding the page cache."""


def advise_read_ahead(tasks: list[Task]) -> None:
    """Ask the kernel to start reading the files of ``tasks`` into the page cache, without waiting.

    The readers then find their files cached instead of blocking on one small read after
    another (a FITS file is read header by header).  At most :data:`READ_AHEAD_BYTES` of a
    file are advised; files that cannot be opened, and anything but regular files, are left to
    the reader, which reports them.  A no-op where ``posix_fadvise`` does not exist.
    """
    if not hasattr(os, "posix_fadvise"):
        return
    for task in tasks:
        try:
            fd = os.open(task.file, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                os.posix_fadvise(fd, 0, min(st.st_size, READ_AHEAD_BYTES), os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _read_ahead(shards: list[list[Task]], pending: list[int], k: int, depth: int = 2) -> None:
    """Before the ``k``-th pending shard is scanned: advise the shards up to ``depth`` ahead of it
    (all of them at the start, then the one that comes into reach)."""
    for j in (pending[: depth + 1] if k == 0 else pending[k + depth: k + depth + 1]):
        advise_read_ahead(shards[j])


def _run_pool(scanner: "Scanner", shards: list[list], pending: list[int], workers: int,
              finish: Callable[[int, dict], None]) -> None:
    """Pending shards on local reader processes, which read the next shard while this one is scanned
    (the kernel reads two ahead, :func:`advise_read_ahead`)."""
    ctx = mp.get_context("spawn")
    graph = scanner.stage1_graph()

    def submit(pool, shard):
        if graph is None:
            return pool.map_async(prepare_task, shard, chunksize=8)
        # on ONNX the readers also run the per-pixel network, 16 files at a time
        chunks = [shard[j: j + 16] for j in range(0, len(shard), 16)]
        return pool.map_async(partial(prepare_and_predict, graph=graph), chunks, chunksize=1)

    with ctx.Pool(workers) as pool:
        ahead = None
        for k, i in enumerate(pending):
            _read_ahead(shards, pending, k)  # the kernel reads two shards ahead of the scan
            current = ahead if ahead is not None else submit(pool, shards[i])
            if k + 1 < len(pending):
                ahead = submit(pool, shards[pending[k + 1]])
            prepared = [p for ps in current.get() for p in ps]
            finish(i, _shard_rows(scanner, prepared))


def _merge_shards(shard_files: list[Path]):
    """The ABSORBERS and SIGHTLINES tables of all shard checkpoints, in shard order."""
    from dla_cnn.catalog import absorber_table, sightline_table

    abs_rows: list[dict] = []
    sl_rows: list[dict] = []
    for f in shard_files:
        rows = json.loads(f.read_text())
        abs_rows += rows["absorbers"]
        sl_rows += rows["sightlines"]
    return absorber_table(abs_rows), sightline_table(sl_rows)


def _written_paths(out: Path, fmt: str) -> list[Path]:
    """The files a finished catalog run leaves behind."""
    from dla_cnn.catalog import ecsv_paths

    return list(ecsv_paths(out)) if fmt == "ecsv" else [out]


def _summary(paths: list[Path], absorbers, sightlines) -> dict:
    """Counts of a written catalog, as returned by :func:`build_catalog`."""
    status = np.asarray(sightlines["status"]).astype(str)
    types = np.asarray(absorbers["type"]).astype(str) if len(absorbers) else np.array([], str)
    return {"path": str(paths[0]), "paths": [str(p) for p in paths], "n_sightlines": len(sightlines),
            "n_ok": int((status == "ok").sum()), "n_error": int((status == "error").sum()),
            "n_skipped": int((status == "skipped").sum()),
            "n_dla": int((types == "DLA").sum()), "n_subdla": int((types == "SUBDLA").sum())}


def _run_dask(scheduler: str, shards, pending, finish, model_path: str, detect: DetectConfig, batch_size: int,
              engine: str | None = None) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:  # pragma: no cover - optional dependency
        raise ConfigError("--scheduler needs dask.distributed: pip install 'dla-cnn[dask]'") from None
    detect_json = json.dumps(asdict(detect))
    # workers run elsewhere (another directory, another machine sharing the file system): give them
    # absolute paths, and put the user's own spelling back into the rows they return
    if model_path and not os.path.isabs(model_path) and os.path.exists(model_path):
        model_path = os.path.abspath(model_path)
    with Client(scheduler, timeout="30s") as client:
        futures = {}
        for i in pending:
            absolute = [replace(t, file=os.path.abspath(t.file)) for t in shards[i]]
            spelled = {a.file: t.file for a, t in zip(absolute, shards[i])}
            futures[client.submit(process_shard, absolute, model_path, detect_json, batch_size, engine, pure=False)] = (i, spelled)
        for fut in as_completed(futures):
            i, spelled = futures[fut]
            rows = fut.result()
            for row in rows["sightlines"]:
                row["file"] = spelled.get(row.get("file"), row.get("file"))
            finish(i, rows)
