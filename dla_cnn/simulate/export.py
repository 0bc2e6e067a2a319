"""Write simulated sightlines as BOSS ``spec-PLATE-MJD-FIBER.fits`` files plus a truth table.

The files are read by the same readers as survey data (and by specutils' ``SDSS-III/IV
spec`` loader), so every command runs on simulated data exactly as on BOSS spectra.  The
truth table (ECSV) lists every absorber with log N_HI >= 19.0 with units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from dla_cnn.ids import spec_file_name
from dla_cnn.simulate.sightlines import SIMULATOR_VERSION, SimulatorConfig, simulate_sightline

TRUTH_NAME = "truth.ecsv"


def truth_table(rows: list[dict]):
    """Truth rows as an astropy Table with units and descriptions."""
    import astropy.units as u
    from astropy.table import Table

    names = ("sightline_id", "z_qso", "z_abs", "log_nhi", "b", "snr", "kind")
    tab = Table(rows=[[r[k] for k in names] for r in rows], names=names,
                dtype=("U20", "f8", "f8", "f8", "f8", "f8", "U10")) if rows else Table(
        names=names, dtype=("U20", "f8", "f8", "f8", "f8", "f8", "U10"))
    tab["b"].unit = u.km / u.s
    tab["log_nhi"].description = "log10 N_HI [cm^-2]"
    tab["snr"].description = "target median S/N per pixel at 1420-1480 A rest"
    tab["kind"].description = "natural (sub-DLA of the simulated IGM) or dla (injected at --dla-rate)"
    return tab


def simulate_to_directory(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    dla_rate: float = 0.0,
    snr_distribution: str = "boss",
    cfg: SimulatorConfig | None = None,
    sky: str = "fixed",
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Simulate ``n`` sightlines into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Created if needed; receives ``spec-*.fits`` and ``truth.ecsv``.
    n : int
        Number of sightlines.
    seed : int
        Random seed (sightline ``i`` uses the stream ``(seed, i)``).
    dla_rate : float
        DLAs per unit redshift of searched path (0: DLA-free hosts).
    snr_distribution : str
        ``boss`` or ``loguniform``.
    sky : str
        A preset of :data:`dla_cnn.simulate.sky.SKIES`: ``fixed`` (default), ``train``
        (per-sightline randomised settings) or ``heldout`` (settings outside the training
        ranges, for accuracy measurements).

    Returns
    -------
    dict with ``files``, ``truth`` (path) and ``n_truth``.
    """
    from dla_cnn.io import write_boss_spec

    from dla_cnn.simulate.sky import draw_sky, sky_variation

    variation = sky_variation(sky)
    cfg = cfg or SimulatorConfig()
    cfg = replace(cfg, noise=replace(cfg.noise, snr_distribution=snr_distribution))
    if snr_distribution not in ("boss", "loguniform"):
        from dla_cnn.exceptions import ConfigError

        raise ConfigError(f"--snr must be 'boss' or 'loguniform' (got {snr_distribution!r})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files, truth = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        cfg_i = draw_sky(rng, cfg, variation)
        sl, t = simulate_sightline(rng, index=i, seed=seed, cfg=cfg_i, dla_rate=dla_rate)
        path = out_dir / spec_file_name(sl.plate, sl.mjd, sl.fiber)
        write_boss_spec(sl, path)
        files.append(path)
        truth += t
        if progress:
            progress(i + 1)
    tpath = out_dir / TRUTH_NAME
    tab = truth_table(truth)
    tab.meta.update({"seed": seed, "dla_rate": dla_rate, "n_sightlines": n, "snr_distribution": snr_distribution,
                     "sky": sky, "simulator_version": SIMULATOR_VERSION})
    tab.write(tpath, format="ascii.ecsv", overwrite=True)
    return {"files": files, "truth": tpath, "n_truth": len(truth)}
