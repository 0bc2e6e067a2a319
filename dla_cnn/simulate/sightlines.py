"""The built-in sightline simulator: realistic BOSS-like quasar spectra with known truth.

A simulated spectrum is built in two stages so the injector can reuse it:

1. :func:`simulate_host` -- the noiseless parts: quasar continuum (:mod:`.quasar`),
   optical depth of the forest and of natural Lyman-limit systems / sub-DLAs
   (:mod:`.forest`) on a sub-pixel grid.
2. :meth:`SimulatedHost.realise` -- add any extra absorbers, convolve with the LSF,
   average into SDSS pixels and draw BOSS-like noise (:mod:`.noise`).

Caveats
-------
* Natural DLAs appear only if ``dla_rate > 0``; hosts for training sets are DLA-free.
* The quasar redshift is exact (no redshift error is simulated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dla_cnn import grid
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.ids import format_sightline_id
from dla_cnn.physics.linegrid import lines_tau
from dla_cnn.physics.lyman import lyman_series
from dla_cnn.physics.voigt import apply_lsf, fine_grid
from dla_cnn.sightline import Sightline
from dla_cnn.simulate.forest import ForestConfig, draw_forest, draw_thick_absorbers, lyman_continuum_tau
from dla_cnn.simulate.noise import NoiseConfig, draw_snr, mask_runs, noise_sigma
from dla_cnn.simulate.quasar import QuasarConfig, bal_transmission, quasar_continuum

SURVEY_RANGES = {"boss": (3600.0, 10400.0), "sdss": (3800.0, 9200.0)}

SIMULATOR_VERSION = 2
"""Version of the sightline simulator: the same seed and settings give the same spectra and
absorbers only within one version.  Recorded in the truth table of simulated directories
(``simulator_version``); 2 since line optical depths come from :mod:`dla_cnn.physics.linegrid`
and the quasar's emission lines are drawn in one go (the training recipe's version 2, which
it shares).  Version 1 drew other skies from the same seeds.  Changes of numerical precision
that keep every draw and move transmissions by < 1e-4 keep the version (the training recipe's
version 3, compiled line sums, moved them by < 3e-5)."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that defines a simulated sightline population."""

    survey: str = "boss"
    z_qso_min: float = 2.0
    z_qso_max: float = 5.0
    z_qso_distribution: str = "boss"
    """``boss``: peaked near 2.3-2.6 with a tail to 5; ``uniform``."""
    oversample: int = 5
    lsf_sigma_pix: tuple[float, float] = (0.9, 1.2)
    natural_thick_absorbers: bool = True
    forest: ForestConfig = field(default_factory=ForestConfig)
    quasar: QuasarConfig = field(default_factory=QuasarConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    @property
    def lambda_range(self) -> tuple[float, float]:
        return SURVEY_RANGES[self.survey]


def thick_absorber_tau(loglam: np.ndarray, z: np.ndarray, log_n: np.ndarray, b_kms: np.ndarray) -> np.ndarray:
    """Optical depth of optically thick absorbers (whole Lyman series + Lyman limit) on a uniform grid.

    Parameters
    ----------
    loglam : ndarray
        Uniformly spaced log10 observed wavelengths (the simulator's sub-pixel grid).
    z, log_n, b_kms : ndarray
        Absorber redshifts, log10 H I column densities (cm^-2) and Doppler parameters (km/s).

    Returns
    -------
    ndarray, same shape as ``loglam``
        :func:`dla_cnn.physics.linegrid.lines_tau` of every Lyman line (optical depth within
        ~1e-4 in transmission of :func:`dla_cnn.physics.voigt.voigt_tau`) plus the
        Lyman-limit continuum.
    """
    loglam = np.asarray(loglam, dtype=float)
    if np.size(z) == 0 or loglam.size < 2:
        return np.zeros(loglam.size)
    tau = lines_tau(loglam[0], loglam[1] - loglam[0], loglam.size, [(z, log_n, b_kms, lyman_series())])
    return tau + lyman_continuum_tau(loglam, z, log_n)


def draw_z_qso(rng: np.random.Generator, n: int, cfg: SimulatorConfig = SimulatorConfig()) -> np.ndarray:
    """Quasar redshifts; ``boss`` is a gamma-like shape with its mode near 2.35.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of redshifts to draw.
    cfg : SimulatorConfig
        ``z_qso_distribution`` (``"uniform"``, anything else is ``boss``) and the range
        ``z_qso_min .. z_qso_max``.  The ``boss`` shape is ``2 + Gamma(k=2, theta=0.35)``
        truncated to that range by rejection, so it gives nothing below z = 2.

    Returns
    -------
    ndarray, shape (n,)
        Quasar redshifts within ``[cfg.z_qso_min, cfg.z_qso_max]``.
    """
    if cfg.z_qso_distribution == "uniform":
        return rng.uniform(cfg.z_qso_min, cfg.z_qso_max, n)
    out = np.empty(0)
    while out.size < n:
        z = 2.0 + rng.gamma(2.0, 0.35, 2 * n)
        out = np.concatenate([out, z[(z >= cfg.z_qso_min) & (z <= cfg.z_qso_max)]])
    return out[:n]


def draw_dla_log_nhi(rng: np.random.Generator, n: int, lo: float = DLA_MIN_LOG_NHI, hi: float = 22.5) -> np.ndarray:
    """log N_HI from the DLA f(N) gamma function (alpha = -1.8, log N_gamma = 21.48).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of column densities to draw.
    lo, hi : float
        Range of the draw, log10 cm^-2 (default 20.3, the DLA threshold, to 22.5).

    Returns
    -------
    ndarray, shape (n,)
        H I column densities, log10 cm^-2, drawn by inverse CDF from
        ``f(N) ~ N^-1.8 exp(-N / 10^21.48)`` (per dex) tabulated on 2001 points in
        ``[lo, hi]``.
    """
    x = np.linspace(lo, hi, 2001)
    n_col = 10.0 ** (x - 21.48)
    pdf = n_col ** (-1.8) * np.exp(-n_col) * n_col  # per dex
    cdf = np.cumsum(pdf)
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, x)


@dataclass
class SimulatedHost:
    """Noiseless parts of one simulated sightline on pixels ``start_index .. +npix``."""

    z_qso: float
    start_index: int
    npix: int
    continuum: np.ndarray
    tau_fine: np.ndarray
    absorbers: np.ndarray
    """Optically thick absorbers already in ``tau_fine``: (n, 3) of z, log N, b."""
    snr: float
    lsf_sigma_pix: float
    cfg: SimulatorConfig
    is_bal: bool = False
    """The quasar carries broad absorption troughs (part of ``continuum``)."""

    @property
    def wave(self) -> np.ndarray:
        return 10.0 ** ((self.start_index + np.arange(self.npix)) * grid.DLOGLAM)

    def norm_level(self, wave: np.ndarray | None = None) -> float:
        """Noiseless continuum level at 1450 A rest (``wave``: :attr:`wave`, if already at hand)."""
        w = self.wave if wave is None else wave
        return float(np.interp(1450.0 * (1 + self.z_qso), w, self.continuum))

    def absorber_tau(self, z: np.ndarray, log_n: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Optical depth of extra absorbers (all Lyman lines + Lyman limit) on this host's sub-pixel grid."""
        if len(z) == 0:
            return np.zeros_like(self.tau_fine)
        return thick_absorber_tau(fine_grid(self.start_index, self.npix, self.cfg.oversample), z, log_n, b)

    def realise(
        self, rng: np.random.Generator, extra_tau: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Observed spectrum: LSF-convolved, pixel-averaged, with noise.

        Returns
        -------
        flux, ivar, mask, model : ndarray
            ``model`` is the noiseless flux; ``mask`` marks pixels outside the survey's
            wavelength range and masked runs (their ivar is 0).
        """
        tau = self.tau_fine if extra_tau is None else self.tau_fine + extra_tau
        trans = apply_lsf(np.exp(-tau), self.cfg.oversample, self.lsf_sigma_pix)
        model = self.continuum * trans
        wave = self.wave
        level = self.norm_level(wave)
        sigma = noise_sigma(wave, model, level, self.snr, rng, 1450.0 * (1 + self.z_qso), self.cfg.noise)
        flux = model + sigma * rng.standard_normal(self.npix)
        lo, hi = self.cfg.lambda_range
        mask = mask_runs(rng, self.npix, self.cfg.noise) | (wave < lo) | (wave > hi)
        ivar = np.where(mask, 0.0, 1.0 / sigma**2)
        return flux, ivar, mask, model


def simulate_host(
    rng: np.random.Generator,
    z_qso: float,
    cfg: SimulatorConfig = SimulatorConfig(),
    start_index: int | None = None,
    npix: int | None = None,
    snr: float | None = None,
    extra_absorbers: np.ndarray | None = None,
) -> SimulatedHost:
    """Draw the noiseless parts of a DLA-free sightline.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    z_qso : float
        Quasar redshift.
    cfg : SimulatorConfig
        Survey, quasar, forest and noise parameters.
    start_index, npix : int, optional
        Pixel range; default the survey's whole wavelength range.
    snr : float, optional
        Target S/N at 1450 A rest (default drawn from ``cfg.noise``).
    extra_absorbers : ndarray (n, 3), optional
        z, log N_HI and b (km/s) of absorbers to add to the optical depth (all Lyman lines
        and the Lyman limit), e.g. injected DLAs; they draw no random numbers and are not
        listed in ``absorbers``.  Adding them here costs one pass over the sub-pixel grid
        instead of the two of :meth:`SimulatedHost.absorber_tau`.

    Returns
    -------
    SimulatedHost
        Continuum (BAL troughs included), sub-pixel optical depth of the forest and,
        if ``cfg.natural_thick_absorbers``, of Lyman-limit systems / sub-DLAs (listed in
        ``absorbers``), with the S/N and LSF sigma (pixels) drawn for this sightline.
        No DLA is added here unless given in ``extra_absorbers``.
    """
    lo, hi = cfg.lambda_range
    if start_index is None:
        start_index = grid.loglam_to_index(np.log10(lo))
    if npix is None:
        npix = grid.loglam_to_index(np.log10(hi)) - start_index + 1
    wave = 10.0 ** ((start_index + np.arange(npix)) * grid.DLOGLAM)
    loglam_f = fine_grid(start_index, npix, cfg.oversample)
    continuum = quasar_continuum(wave, z_qso, rng, cfg.quasar)
    bal, is_bal = bal_transmission(wave, z_qso, rng, cfg.quasar)
    continuum = continuum * bal
    z_lo = max(wave[0] / grid.LYA_REST - 1.0, 0.0)
    fz, fn, fb = draw_forest(rng, z_lo, z_qso, cfg.forest)
    # every absorber's Lyman lines in one pass (forest: the first n_series lines; optically
    # thick systems: the whole series), then the Lyman-limit continuum of all in one more
    groups = [(fz, fn, fb, lyman_series(cfg.forest.n_series))]
    thick_lines = fn > cfg.forest.ll_continuum_min_log_n
    ll_z, ll_n = [fz[thick_lines]], [fn[thick_lines]]
    absorbers = np.empty((0, 3))
    if cfg.natural_thick_absorbers:
        # optically thick systems matter where their Lyman series or limit falls on the grid
        z_lo_thick = max(wave[0] / grid.LYA_REST - 1.0, 0.0)
        tz, tn, tb = draw_thick_absorbers(rng, z_lo_thick, z_qso, cfg.forest)
        if tz.size:
            absorbers = np.column_stack([tz, tn, tb])
    for arr in (absorbers, extra_absorbers):
        if arr is not None and len(arr):
            arr = np.asarray(arr, dtype=float)
            groups.append((arr[:, 0], arr[:, 1], arr[:, 2], lyman_series()))
            ll_z.append(arr[:, 0])
            ll_n.append(arr[:, 1])
    tau = lines_tau(loglam_f[0], loglam_f[1] - loglam_f[0], loglam_f.size, groups)
    tau += lyman_continuum_tau(loglam_f, np.concatenate(ll_z), np.concatenate(ll_n))
    snr_v = float(draw_snr(rng, 1, cfg.noise)[0]) if snr is None else float(snr)
    lsf = float(rng.uniform(*cfg.lsf_sigma_pix))
    return SimulatedHost(z_qso, int(start_index), int(npix), continuum, tau, absorbers, snr_v, lsf, cfg, bool(is_bal))


def boss_ids(index: int, seed: int) -> tuple[int, int, int]:
    """Fake but well-formed BOSS (plate, mjd, fiber) for simulated sightline ``index``."""
    plate = 10000 + (seed % 1000) * 10 + index // 1000
    return plate, 60000 + seed % 1000, index % 1000 + 1


def simulate_sightline(
    rng: np.random.Generator,
    index: int = 0,
    seed: int = 0,
    cfg: SimulatorConfig = SimulatorConfig(),
    z_qso: float | None = None,
    dla_rate: float = 0.0,
) -> tuple[Sightline, list[dict]]:
    """One complete simulated BOSS sightline and its truth.

    Parameters
    ----------
    rng : numpy.random.Generator
    index, seed : int
        Used for the fake PLATE-MJD-FIBER identifiers.
    cfg : SimulatorConfig
    z_qso : float, optional
        Quasar redshift (default drawn from the BOSS-like distribution).
    dla_rate : float
        Expected DLAs per unit redshift of searched path (0 = DLA-free), log N_HI from
        the DLA f(N).

    Returns
    -------
    sightline : Sightline
    truth : list of dict
        Every absorber with log N_HI >= 19.0: sightline_id, z_abs, log_nhi, b, kind.
    """
    zq = float(draw_z_qso(rng, 1, cfg)[0]) if z_qso is None else float(z_qso)
    host = simulate_host(rng, zq, cfg)
    plate, mjd, fiber = boss_ids(index, seed)
    sid = format_sightline_id(plate, mjd, fiber)
    extra = None
    dlas = np.empty((0, 3))
    if dla_rate > 0:
        z_min, z_max = grid.search_z_range(zq, cfg.lambda_range[0])
        if z_max > z_min:
            n = rng.poisson(dla_rate * (z_max - z_min))
            if n:
                dlas = np.column_stack([rng.uniform(z_min, z_max, n), draw_dla_log_nhi(rng, n), rng.uniform(20, 40, n)])
                extra = host.absorber_tau(dlas[:, 0], dlas[:, 1], dlas[:, 2])
    flux, ivar, mask, _model = host.realise(rng, extra)
    sl = Sightline(
        sightline_id=sid, z_qso=zq, start_index=host.start_index, flux=flux, ivar=ivar, mask=mask,
        ra=float(rng.uniform(0, 360)), dec=float(np.degrees(np.arcsin(rng.uniform(-0.3, 1.0)))),
        plate=plate, mjd=mjd, fiber=fiber,
        provenance={"source": "simulator", "seed": seed, "index": index, "snr_target": host.snr,
                    "bal": host.is_bal},
    )
    truth = []
    for kind, arr in (("natural", host.absorbers), ("dla", dlas)):
        for z, ln, b in arr:
            if ln >= 19.0:
                truth.append({"sightline_id": sid, "z_qso": zq, "z_abs": float(z), "log_nhi": float(ln),
                              "b": float(b), "snr": host.snr, "kind": kind})
    return sl, truth
