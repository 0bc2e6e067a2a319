"""Candidate crops for training the absorber-level model, generated from simulated skies.

Each simulated sightline (randomised sky, :mod:`dla_cnn.simulate.sky`) goes through the
per-pixel network exactly as in a scan; its candidates become labelled crops, together
with the candidates a recall-tuned first stage might miss or invent:

* the first stage's own proposals (low thresholds, so they include its false alarms);
* every true absorber (log N_HI >= 19.0) at jittered centres;
* hard negatives: random positions on the searched path, the Ly-beta of every DLA, the
  Lyman-limit break of every Lyman-limit system, the quasar's Ly-beta/O VI emission, and
  the edges of masked or missing stretches of pixels.

Labels follow :mod:`dla_cnn.absorber.model`: ``real`` when a true absorber with log N_HI
>= 19.0 is within 30 px (its offset and log N_HI are then regressed), ``dla`` when it has
log N_HI >= 20.3.  Work is cut into chunks seeded by ``(seed, chunk)``: the same seed
gives the same crops whatever the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dla_cnn.atomic import atomic_path
from dla_cnn import grid
from dla_cnn.absorber.crops import EXT_BLUE, ExtendedView, concat_crops, cut_crops, extended_view, z_to_window_px
from dla_cnn.absorber.outputs import REAL_MIN_LOG_NHI, REAL_RADIUS_PX
from dla_cnn.constants import DLA_MIN_LOG_NHI, LOG_NHI_PIVOT
from dla_cnn.absorber.stage import propose
from dla_cnn.sightline import Sightline
from dla_cnn.simulate.sightlines import SimulatorConfig, draw_dla_log_nhi, draw_z_qso, simulate_host
from dla_cnn.simulate.sky import draw_sky, sky_variation
from dla_cnn.training.inject import InjectionConfig, draw_injections

@dataclass(frozen=True)
class CropSetConfig:
    """Recipe of a crop set."""

    n_sightlines: int = 10000
    seed: int = 100
    sky: str = "train"
    simulator: SimulatorConfig = field(default_factory=lambda: SimulatorConfig(z_qso_min=2.1))
    injection: InjectionConfig = field(default_factory=lambda: InjectionConfig(log_nhi_min=19.0))
    p_natural: float = 0.4
    """Share of sightlines with absorbers at their natural rate instead of the injection recipe."""
    natural_dla_rate: float = 0.25
    p_crowded: float = 0.0
    """Share of *crowded* sightlines: DLAs at ``crowded_dla_rate`` per unit z (drawn per
    sightline, log-uniform), placed at random with no minimum separation, so that four or
    more DLAs, overlapping wings and DLAs at each other's Ly-beta occur (0: none, and no
    random number is drawn for it, so earlier recipes give the same crops)."""
    crowded_dla_rate: tuple[float, float] = (1.0, 3.0)
    jitter_px: float = 8.0
    n_jitter: int = 2
    n_random: int = 2
    n_edges: int = 2
    """Hard negatives at the edges of masked or missing stretches of the searched path (at most
    this many per sightline, jittered by 8 px)."""
    chunk: int = 32


@dataclass
class SimulatedView:
    """One simulated sightline as the scanner sees it, plus its truth."""

    view: ExtendedView
    window: np.ndarray
    valid: np.ndarray
    z_range: tuple[float, float]
    truth: np.ndarray
    """(n, 2): window-pixel centre and log N_HI of every absorber with log N >= 17.2."""
    lyb_emission_px: float


def simulate_view(rng: np.random.Generator, cfg: CropSetConfig) -> SimulatedView:
    """Simulate one sightline (randomised sky) and its scanner inputs."""
    sim = draw_sky(rng, cfg.simulator, sky_variation(cfg.sky))
    zq = float(draw_z_qso(rng, 1, sim)[0])
    w0 = grid.window_start_index(zq)
    s0 = w0 - EXT_BLUE
    npix = grid.loglam_to_index(np.log10(grid.NORM_REST[1] * (1 + zq))) - s0 + 2
    host = simulate_host(rng, zq, sim, start_index=s0, npix=npix)
    z_min, z_max = grid.search_z_range(zq, sim.lambda_range[0])
    dla_rate = None  # per unit z, for DLAs at random redshifts (crowded or natural sightlines)
    if cfg.p_crowded > 0 and rng.random() < cfg.p_crowded:
        dla_rate = np.exp(rng.uniform(*np.log(cfg.crowded_dla_rate)))
    elif rng.random() < cfg.p_natural:
        dla_rate = cfg.natural_dla_rate
    if dla_rate is not None:
        n = rng.poisson(dla_rate * max(z_max - z_min, 0.0))
        z, log_n, b = rng.uniform(z_min, z_max, n), draw_dla_log_nhi(rng, n), rng.uniform(20, 40, n)
    else:
        z, log_n, b = draw_injections(rng, z_min, z_max, cfg.injection)
    extra = host.absorber_tau(z, log_n, b) if len(z) else None
    flux, ivar, mask, _ = host.realise(rng, extra)
    sl = Sightline("sim", zq, s0, flux, ivar, mask)
    absorbers = np.concatenate([host.absorbers, np.column_stack([z, log_n, b])]) if len(z) else host.absorbers
    truth = np.column_stack([z_to_window_px(absorbers[:, 0], w0), absorbers[:, 1]]) if len(absorbers) else np.empty((0, 2))
    lyb_em = float(np.log10(1033.0 * (1 + zq)) / grid.DLOGLAM - w0)
    view = extended_view(sl)
    return SimulatedView(view, view.window_channels, view.window_valid, (z_min, z_max), truth, lyb_em)


def _simulate_chunk(task: tuple[CropSetConfig, int]) -> list[SimulatedView]:
    cfg, chunk = task
    rng = np.random.default_rng([cfg.seed, chunk])
    n = min(cfg.chunk, cfg.n_sightlines - chunk * cfg.chunk)
    return [simulate_view(rng, cfg) for _ in range(n)]


def label_candidates(centres: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Labels ``[real, dla, offset_px, log_nhi - 20.5]`` (k, 4) of candidates at ``centres``."""
    out = np.zeros((centres.size, 4), dtype=np.float32)
    cand = truth[truth[:, 1] >= REAL_MIN_LOG_NHI] if len(truth) else truth
    if len(cand) == 0 or centres.size == 0:
        return out
    d = cand[None, :, 0] - centres[:, None]
    k = np.argmin(np.abs(d), axis=1)
    off = d[np.arange(centres.size), k]
    real = np.abs(off) <= REAL_RADIUS_PX
    log_n = cand[k, 1]
    out[:, 0] = real
    out[:, 1] = real & (log_n >= DLA_MIN_LOG_NHI)
    out[:, 2] = np.where(real, off, 0.0)
    out[:, 3] = np.where(real, log_n - LOG_NHI_PIVOT, 0.0)
    return out


def masked_edges(valid: np.ndarray) -> np.ndarray:
    """Window pixels (half-integers) where a stretch of missing or masked pixels begins or ends."""
    v = np.asarray(valid, dtype=np.int8)
    return np.flatnonzero(np.diff(v) != 0) + 0.5


def candidate_centres(rng: np.random.Generator, sv: SimulatedView, proposals: np.ndarray, cfg: CropSetConfig) -> np.ndarray:
    """Proposals, jittered truths and hard negatives of one sightline (window pixels)."""
    lo, hi = (z_to_window_px(np.array(sv.z_range), sv.view.window_start) if sv.z_range[1] > sv.z_range[0]
              else (np.array([0.0, grid.N_WINDOW - 1.0])))
    parts = [proposals]
    real = sv.truth[sv.truth[:, 1] >= REAL_MIN_LOG_NHI] if len(sv.truth) else sv.truth
    for t in real:
        parts.append(t[0] + rng.normal(0.0, cfg.jitter_px, cfg.n_jitter))
        parts.append(t[0] + rng.uniform(-REAL_RADIUS_PX, REAL_RADIUS_PX, 1))
        if t[1] >= DLA_MIN_LOG_NHI:
            parts.append(t[0] + np.log10(grid.LYB_REST / grid.LYA_REST) / grid.DLOGLAM + rng.normal(0, 3, 1))
            parts.append(t[0] + rng.choice([-1, 1]) * rng.uniform(35, 120, 1))  # beside a strong absorber
    for t in sv.truth[sv.truth[:, 1] >= 17.0] if len(sv.truth) else []:
        parts.append(t[0] + np.log10(grid.LYMAN_LIMIT_REST / grid.LYA_REST) / grid.DLOGLAM + rng.normal(0, 10, 1))
    parts.append(rng.uniform(lo, hi, cfg.n_random))
    parts.append(sv.lyb_emission_px + rng.normal(0, 20, 1))
    edges = masked_edges(sv.valid)
    if edges.size and cfg.n_edges > 0:
        pick = rng.choice(edges, min(edges.size, cfg.n_edges), replace=False)
        parts.append(pick + rng.normal(0.0, 8.0, pick.size))
    c = np.concatenate(parts)
    return c[(c >= lo - 10) & (c <= hi + 10)]


def crops_from_views(views: list[SimulatedView], stage1, rng: np.random.Generator, cfg: CropSetConfig,
                     batch_size: int = 64) -> tuple[dict, np.ndarray]:
    """Run the first stage on simulated views and cut labelled candidate crops."""
    from dla_cnn.model import predict_windows

    pred = predict_windows(stage1, np.stack([v.window for v in views]), batch_size=batch_size)
    parts, labels = [], []
    for k, sv in enumerate(views):
        prob, off, nhi = pred["prob"][k], pred["offset"][k], pred["log_nhi"][k]
        props, curves = propose(prob, off, nhi, sv.view.window_start, sv.z_range, sv.valid)
        centres = candidate_centres(rng, sv, props, cfg)
        if centres.size == 0:
            continue
        parts.append(cut_crops(sv.view, curves, centres))
        labels.append(label_candidates(centres, sv.truth))
    return concat_crops(parts), (np.concatenate(labels) if labels else np.empty((0, 4), np.float32))


def iter_views(cfg: CropSetConfig, workers: int = 1) -> Iterator[list[SimulatedView]]:
    """Simulated views chunk by chunk, in chunk order, from ``workers`` processes."""
    tasks = [(cfg, c) for c in range(-(-cfg.n_sightlines // cfg.chunk))]
    if workers <= 1:
        yield from map(_simulate_chunk, tasks)
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_simulate_chunk, tasks)


def build_crop_set(cfg: CropSetConfig, stage1, out: str | Path, workers: int = 1,
                   progress: Callable[[int], None] | None = None) -> Path:
    """Write a crop set (``.npz``: lya, lyb, ll as float16, scalars, labels) for ``cfg``."""
    rng = np.random.default_rng([cfg.seed, 10**6])
    parts, labels, done, pending = [], [], 0, []
    for views in iter_views(cfg, workers):
        pending += views
        if len(pending) >= 256:
            c, y = crops_from_views(pending, stage1, rng, cfg)
            parts.append(c), labels.append(y)
            done += len(pending)
            pending = []
            if progress:
                progress(done)
    if pending:
        c, y = crops_from_views(pending, stage1, rng, cfg)
        parts.append(c), labels.append(y)
    crops = concat_crops(parts)
    out = Path(out)
    with atomic_path(out, ".npz") as tmp:
        np.savez(tmp, lya=crops["lya"].astype(np.float16), lyb=crops["lyb"].astype(np.float16),
                 ll=crops["ll"].astype(np.float16), scalars=crops["scalars"], labels=np.concatenate(labels),
                 recipe=np.array(json.dumps(asdict(cfg))))
    return out

