"""``dla-cnn build-training``: hosts in, labelled HDF5 training set out.

Hosts are either drawn from the built-in simulator (default; every sightline its own host
quasar) or real DLA-free spectra listed by the user (each host reused with fresh
injections).  Work is cut into chunks of 64 sightlines, each with its own seed derived from
``(seed, chunk)``, so the file is identical whatever the number of workers.  Chunks are
written as they arrive: memory does not grow with the number of sightlines.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from dla_cnn.atomic import atomic_path
from dla_cnn import grid
from dla_cnn.ids import format_sightline_id
from dla_cnn.exceptions import ConfigError, SightlineError
from dla_cnn.sightline import Sightline
from dla_cnn.physics.lyman import lyman_series
from dla_cnn.simulate.forest import mean_rest_equivalent_width
from dla_cnn.simulate.sightlines import SimulatorConfig, draw_z_qso, simulate_host
from dla_cnn.simulate.sky import draw_sky, sky_variation
from dla_cnn.training.dataset import CHUNK_ROWS, MAX_ABSORBERS, TrainingSetWriter, empty_rows, split_of
from dla_cnn.training.inject import InjectionConfig, draw_injections, inject_into_sightline
from dla_cnn.training.labels import LabelConfig, make_labels


RECIPE_VERSION = 3
"""Version of the generation code behind a seeded training set, stored in its ``config``
(``recipe_version``) and as a root attribute.  It changes whenever the same command and seed
give different bytes:

1. (files without ``recipe_version``) Voigt profiles of every line on the whole sub-pixel grid
   (forest lines: Gaussian cores, damping wings only above log N ~16.5).
2. Line optical depths from :mod:`dla_cnn.physics.linegrid` (each line where tau > 1e-5, damping
   wings of every line that has them; transmission within ~2e-4 of the exact Voigt sum), the
   injected absorbers drawn before the host and added in the same pass, the quasar's emission
   lines drawn in one go, the LSF applied at pixel centres.
3. The same lines, windows and approximations evaluated by compiled loops in float64 (numba)
   instead of float32 numpy stencils: the same draws, transmissions within 3e-5 of version 2.
"""


@dataclass(frozen=True)
class BuildConfig:
    """Full recipe of a training set; stored as the file's ``config`` attribute."""

    n_sightlines: int = 1000
    seed: int = 0
    source: str = "simulator"
    simulator: SimulatorConfig = field(default_factory=lambda: SimulatorConfig(z_qso_min=2.2))
    sky: str = "fixed"
    """Sky preset of :mod:`dla_cnn.simulate.sky`: ``fixed``, or ``train`` to draw each simulated
    host with its own forest, LLS, continuum, noise and LSF settings."""
    injection: InjectionConfig = field(default_factory=InjectionConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    split_fractions: tuple[float, float] = (0.8, 0.1)
    chunk_rows: int = CHUNK_ROWS
    recipe_version: int = field(default=RECIPE_VERSION, init=False)
    """:data:`RECIPE_VERSION` of the code that builds the set (recorded, not a setting)."""

    def __post_init__(self) -> None:
        sky_variation(self.sky)  # ConfigError for an unknown preset, before any work starts

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Host:
    """A real host spectrum: where to read it and under which id it is split."""

    path: str
    host_id: str
    quasar_catalog: str | None = None


def _fill_row(rows: dict, i: int, sl: Sightline, absorbers: np.ndarray, host_id: str, cfg: BuildConfig) -> None:
    """Window inputs and labels of one sightline into row ``i``."""
    win = sl.window()
    rows["inputs"][i] = win.channels()
    z_abs, log_n = (absorbers[:, 0], absorbers[:, 1]) if len(absorbers) else (np.empty(0), np.empty(0))
    cls, off, nhi = make_labels(win.start_index, z_abs, log_n, cfg=cfg.labels)
    rows["label_class"][i], rows["label_offset"][i], rows["label_log_nhi"][i] = cls, off, nhi
    labelled = absorbers[absorbers[:, 1] >= cfg.labels.ambiguous_log_nhi] if len(absorbers) else absorbers
    labelled = labelled[np.argsort(-labelled[:, 1])][:MAX_ABSORBERS] if len(labelled) else labelled
    rows["absorbers"][i, : len(labelled)] = labelled
    rows["n_absorbers"][i] = len(labelled)
    rows["z_qso"][i] = sl.z_qso
    rows["snr"][i] = sl.snr()
    rows["start_index"][i] = win.start_index
    rows["host_id"][i] = host_id.encode()
    rows["split"][i] = split_of(host_id, cfg.split_fractions)


def _simulated_chunk(cfg: BuildConfig, chunk: int, start: int, count: int) -> dict:
    rng = np.random.default_rng([cfg.seed, chunk])
    rows = empty_rows(count)
    variation = sky_variation(cfg.sky)
    for i in range(count):
        sim = draw_sky(rng, cfg.simulator, variation)
        zq = float(draw_z_qso(rng, 1, sim)[0])
        s0 = grid.window_start_index(zq)
        npix = grid.loglam_to_index(np.log10(grid.NORM_REST[1] * (1 + zq))) - s0 + 2
        z_min, z_max = grid.search_z_range(zq, sim.lambda_range[0])
        z, log_n, b = draw_injections(rng, z_min, z_max, cfg.injection)
        injected = np.column_stack([z, log_n, b])
        # the injected absorbers join the host's own in one optical-depth pass
        host = simulate_host(rng, zq, sim, start_index=s0, npix=npix, extra_absorbers=injected)
        flux, ivar, mask, _ = host.realise(rng)
        host_id = f"sim-{cfg.seed}-{start + i}"
        sl = Sightline(host_id, zq, s0, flux, ivar, mask)
        absorbers = np.concatenate([host.absorbers, injected]) if len(z) else host.absorbers
        _fill_row(rows, i, sl, absorbers, host_id, cfg)
    return rows


@lru_cache(maxsize=256)
def _read_host(path: str, host_id: str, quasar_catalog: str | None) -> Sightline:
    """The host sightline ``host_id`` of a file (one of several for spPlate / DESI files)."""
    from dla_cnn.io import iter_sightlines

    for item in iter_sightlines(path, quasar_catalog=quasar_catalog):
        if isinstance(item, Sightline) and item.sightline_id == host_id:
            return item
    raise SightlineError(path, f"host {host_id} no longer readable")


def _real_chunk(cfg: BuildConfig, chunk: int, start: int, count: int, hosts: tuple[Host, ...]) -> dict:
    rng = np.random.default_rng([cfg.seed, chunk])
    rows = empty_rows(count)
    for i in range(count):
        host = hosts[int(rng.integers(len(hosts)))]
        sl = _read_host(host.path, host.host_id, host.quasar_catalog)
        z_min, z_max = sl.search_z_range()
        z, log_n, b = draw_injections(rng, z_min, z_max, cfg.injection)
        sl = inject_into_sightline(sl, z, log_n, b, rng)
        _fill_row(rows, i, sl, np.column_stack([z, log_n, b]) if len(z) else np.empty((0, 3)), host.host_id, cfg)
    return rows


def _warm_caches(cfg: BuildConfig) -> None:
    """Compute the simulator's one-off tables (Lyman series, forest curve of growth) in this process."""
    if cfg.source == "simulator":
        lyman_series()
        mean_rest_equivalent_width(cfg.simulator.forest)


def _run_chunk(task: tuple) -> dict:
    cfg, chunk, start, count, hosts = task
    if hosts is None:
        return _simulated_chunk(cfg, chunk, start, count)
    return _real_chunk(cfg, chunk, start, count, hosts)


def collect_hosts(
    source: str | Path,
    quasar_catalog: str | Path | None = None,
    exclude_catalog: str | Path | None = None,
) -> tuple[list[Host], list[str]]:
    """Real host spectra usable for injection.

    Parameters
    ----------
    source : path
        A directory of spectra (searched recursively) or a quasar table whose rows name the
        files (see :func:`dla_cnn.io.read_quasar_catalog`).
    quasar_catalog : path, optional
        Quasar catalog supplying z_qso where the files carry none.
    exclude_catalog : path, optional
        Catalog of known absorbers (any table with a ``sightline_id`` column, or PLATE/MJD/FIBER
        columns); their sightlines are not used as hosts.

    Returns
    -------
    hosts : list of Host
    problems : list of str
        One line per spectrum that was rejected (unreadable, not searchable, excluded).
    """
    from astropy.table import Table

    from dla_cnn.io import iter_spectra

    excluded: set[str] = set()
    if exclude_catalog is not None:
        tab = Table.read(exclude_catalog)
        cols = {c.lower(): c for c in tab.colnames}
        if "sightline_id" in cols:
            excluded = {str(s).strip() for s in tab[cols["sightline_id"]]}
        elif {"plate", "mjd"} <= set(cols) and ("fiber" in cols or "fiberid" in cols):
            fcol = cols.get("fiber", cols.get("fiberid"))
            excluded = {format_sightline_id(p, m, f) for p, m, f in
                        zip(tab[cols["plate"]], tab[cols["mjd"]], tab[fcol])}
        else:
            raise ConfigError(f"{exclude_catalog}: absorber catalog needs sightline_id or PLATE/MJD/FIBER columns")
    hosts: list[Host] = []
    problems: list[str] = []
    for item in iter_spectra([str(source)], quasar_catalog=quasar_catalog):
        if isinstance(item, SightlineError):
            problems.append(str(item))
            continue
        sl = item
        path = str(sl.provenance.get("file", source))
        if sl.sightline_id in excluded:
            problems.append(f"{path}: {sl.sightline_id} has a catalogued absorber; not used as a host")
            continue
        try:
            sl.check_searchable()
        except SightlineError as err:
            problems.append(str(err))
            continue
        hosts.append(Host(path, sl.sightline_id, str(quasar_catalog) if quasar_catalog else None))
    return hosts, problems


def build_training_set(
    out: str | Path,
    cfg: BuildConfig = BuildConfig(),
    workers: int = 1,
    hosts: list[Host] | None = None,
    progress: Callable[[int], None] | None = None,
    command: str = "",
) -> Path:
    """Generate a labelled training set.

    Parameters
    ----------
    out : path
        Output HDF5 file.
    cfg : BuildConfig
        The recipe (number of sightlines, seed, simulator / injection / label settings).
    workers : int
        Processes; the output does not depend on it.
    hosts : list of Host, optional
        Real host spectra (from :func:`collect_hosts`); the simulator is used when None.
    progress : callable, optional
        Called with the number of sightlines finished after each chunk.
    command : str
        The command line, stored in the file.

    Returns
    -------
    Path of the written file.
    """
    if cfg.n_sightlines < 1:
        raise ConfigError(f"--n-sightlines must be >= 1 (got {cfg.n_sightlines})")
    if hosts is not None and not hosts:
        raise ConfigError(f"{cfg.source}: no usable host spectra")
    host_tuple = tuple(hosts) if hosts is not None else None
    tasks = []
    for chunk, start in enumerate(range(0, cfg.n_sightlines, cfg.chunk_rows)):
        tasks.append((cfg, chunk, start, min(cfg.chunk_rows, cfg.n_sightlines - start), host_tuple))
    attrs = {"config": cfg.to_dict(), "seed": cfg.seed, "command": command, "source": cfg.source,
             "recipe_version": cfg.recipe_version}
    out = Path(out)
    with atomic_path(out, ".h5") as tmp:
        done = 0
        with TrainingSetWriter(tmp, attrs) as writer:
            if workers <= 1:
                results = map(_run_chunk, tasks)
                for rows in results:
                    writer.append(rows)
                    done += len(rows["z_qso"])
                    if progress:
                        progress(done)
            else:
                _warm_caches(cfg)  # forked workers inherit the one-off tables
                ctx = mp.get_context("fork" if os.name == "posix" else "spawn")
                with ctx.Pool(workers) as pool:
                    for rows in pool.imap(_run_chunk, tasks, chunksize=1):
                        writer.append(rows)
                        done += len(rows["z_qso"])
                        if progress:
                            progress(done)
    return out
