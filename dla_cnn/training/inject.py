"""Injection of synthetic absorbers into DLA-free host sightlines (spec section 4).

Two kinds of hosts share one set of rules for *what* is injected
(:func:`draw_injections`):

* simulator hosts get the absorbers added to their noiseless optical depth before the
  noise is drawn;
* real survey spectra are multiplied by the LSF-convolved transmission ``F`` and get extra
  Gaussian noise ``sigma sqrt(1 - F^2)``, which restores the per-pixel variance that the
  multiplication removed (the published generator's ``sigma (1 - F)`` leaves it too low in
  the wings).

Caveats
-------
* Real hosts must be DLA-free: pass a catalogue of known absorbers to exclude sightlines.
* Injection into real spectra cannot remove the host's own noise from absorbed pixels, so
  very saturated troughs keep the host's sky-noise level, as real DLAs do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dla_cnn import grid
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.physics.voigt import apply_lsf, fine_grid
from dla_cnn.sightline import Sightline
from dla_cnn.simulate.sightlines import draw_dla_log_nhi, thick_absorber_tau


@dataclass(frozen=True)
class InjectionConfig:
    """What is injected per sightline."""

    log_nhi_min: float = 19.3
    log_nhi_max: float = 22.5
    log_nhi_distribution: str = "uniform"
    """``uniform`` in log N (default) or ``realistic`` (DLA f(N) above 20.3, uniform below)."""
    max_absorbers: int = 3
    p_none: float = 0.2
    """Share of sightlines that get no injected absorber."""
    p_pair: float = 0.2
    """Share of sightlines with >= 2 absorbers whose second one is a close pair (30-120 px)."""
    pair_separation_px: tuple[int, int] = (30, 120)
    min_separation_px: int = 150
    b_range_kms: tuple[float, float] = (20.0, 40.0)


def draw_injections(
    rng: np.random.Generator, z_min: float, z_max: float, cfg: InjectionConfig = InjectionConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absorbers to inject on a path ``z_min .. z_max``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    z_min, z_max : float
        Absorber redshift path; nothing is drawn if ``z_max <= z_min``.
    cfg : InjectionConfig
        Number of absorbers, share of empty sightlines and close pairs, minimum
        separation (pixels), log N_HI range and distribution (log10 cm^-2), b range (km/s).

    Returns
    -------
    z, log_nhi, b : ndarray
        0 to ``cfg.max_absorbers`` absorbers, z uniform over the path (close pairs and
        well separated absorbers as configured).  Positions are drawn uniformly in
        pixel (log-wavelength) coordinates; an absorber that finds no place at least
        ``cfg.min_separation_px`` from the others in 20 tries, or a close-pair partner
        that falls off the path, is dropped.  ``log_nhi`` in log10 cm^-2, ``b`` in km/s.
    """
    empty = (np.empty(0), np.empty(0), np.empty(0))
    if z_max <= z_min or rng.random() < cfg.p_none:
        return empty
    n = int(rng.integers(1, cfg.max_absorbers + 1))
    x_lo, x_hi = np.log10(1 + z_min) / grid.DLOGLAM, np.log10(1 + z_max) / grid.DLOGLAM  # pixel coords
    pos: list[float] = []
    for k in range(n):
        if k == 1 and rng.random() < cfg.p_pair:
            sep = rng.uniform(*cfg.pair_separation_px) * rng.choice([-1.0, 1.0])
            cand = pos[0] + sep
            if x_lo <= cand <= x_hi:
                pos.append(cand)
            continue
        for _ in range(20):
            cand = rng.uniform(x_lo, x_hi)
            if all(abs(cand - p) >= cfg.min_separation_px for p in pos):
                pos.append(cand)
                break
    z = 10.0 ** (np.array(pos) * grid.DLOGLAM) - 1.0
    if cfg.log_nhi_distribution == "realistic":
        log_n = np.where(rng.random(z.size) < 0.5, rng.uniform(cfg.log_nhi_min, DLA_MIN_LOG_NHI, z.size),
                         draw_dla_log_nhi(rng, z.size, DLA_MIN_LOG_NHI, cfg.log_nhi_max))
    else:
        log_n = rng.uniform(cfg.log_nhi_min, cfg.log_nhi_max, z.size)
    b = rng.uniform(*cfg.b_range_kms, z.size)
    return z, log_n, b


def inject_into_sightline(
    sightline: Sightline,
    z: np.ndarray,
    log_nhi: np.ndarray,
    b_kms: np.ndarray,
    rng: np.random.Generator,
    lsf_sigma_pix: float = 1.0,
    oversample: int = 5,
) -> Sightline:
    """Inject absorbers into a real (noisy) spectrum.

    ``flux' = flux F + N(0, sigma sqrt(1 - F^2))`` with ``F`` the LSF-convolved transmission;
    ivar is unchanged.

    Parameters
    ----------
    sightline : Sightline
        The DLA-free host spectrum.
    z : ndarray
        Absorber redshifts.
    log_nhi : ndarray
        H I column densities, log10 cm^-2.
    b_kms : ndarray
        Doppler parameters, km/s.
    rng : numpy.random.Generator
        Source of the extra noise.
    lsf_sigma_pix : float
        Gaussian LSF sigma, pixels.
    oversample : int
        Sub-pixel samples per pixel for the transmission before it is averaged.

    Returns
    -------
    Sightline
        A new sightline; the input is not modified.  Only good pixels
        (:attr:`Sightline.good`) change; the absorbers are recorded as ``provenance["injected"]``
        ``(z, log_nhi, b)`` tuples.  With no absorbers the input itself is returned.
    """
    if len(z) == 0:
        return sightline
    tau = thick_absorber_tau(fine_grid(sightline.start_index, sightline.npix, oversample), z, log_nhi, b_kms)
    trans = apply_lsf(np.exp(-tau), oversample, lsf_sigma_pix)
    good = sightline.good
    sigma = np.where(good, 1.0 / np.sqrt(np.where(good, sightline.ivar, 1.0)), 0.0)
    extra = sigma * np.sqrt(np.clip(1.0 - trans**2, 0.0, 1.0)) * rng.standard_normal(sightline.npix)
    flux = np.where(good, sightline.flux * trans + extra, sightline.flux)
    prov = dict(sightline.provenance, injected=[(float(a), float(c), float(d)) for a, c, d in zip(z, log_nhi, b_kms)])
    return Sightline(
        sightline.sightline_id, sightline.z_qso, sightline.start_index, flux, sightline.ivar.copy(),
        sightline.mask.copy(), sightline.ra, sightline.dec, sightline.plate, sightline.mjd, sightline.fiber, prov,
        thing_id=sightline.thing_id, targetid=sightline.targetid,
    )
