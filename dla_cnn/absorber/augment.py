"""Random nuisance changes of training crops: continuum errors, extra noise, mis-reported errors.

The absorber-level model trains on crops of simulated sightlines whose continuum
normalisation and noise model come from one simulator (randomised within its ranges).
Survey spectra differ from it in ways no sky setting names: the normalisation is off by a
few per cent over hundreds of pixels, the noise is higher than the simulator drew, and the
pipeline's errors are a little too small or too large.  :class:`CropAugment` applies such
changes to a share of the crops of each training batch, consistently across a candidate's
three segments:

* a smooth multiplicative continuum error ``g(u) = 1 + c1 u + c2 u^2`` (``u`` = pixels from
  the candidate / :data:`CONTINUUM_SCALE_PX`, ``c1, c2 ~ N(0, continuum)``), applied to the
  flux and its error alike;
* extra noise: the flux gains Gaussian noise of ``sigma sqrt(a^2 - 1)`` and the error
  becomes ``a sigma`` (``a`` uniform in ``extra_noise``), the S/N scalar falls by ``a``;
* a mis-reported error: the error (and the S/N the sightline would measure) is scaled by
  ``r`` (log-uniform in ``misreport``) while the flux stays.

Labels do not change.  The first stage's per-pixel curves in the ``lya`` segment are left
as cut (they were measured on the unchanged spectrum).

Caveats
-------
* The changes are generic, not drawn from any sky preset; they make the model less
  dependent on one simulator's noise and continuum, and they cost a little accuracy on that
  simulator's own skies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dla_cnn.absorber.crops import LL_SHIFT, LYA_HALF, LYB_SHIFT, SIDE_HALF
from dla_cnn.contract import FLUX_CLIP

CONTINUUM_SCALE_PX = 1250.0
"""Pixels from the candidate at which the continuum error's ``u`` is 1 (about its Lyman limit)."""

_POS = {
    "lya": np.arange(-LYA_HALF, LYA_HALF, dtype=np.float64),
    "lyb": LYB_SHIFT + np.arange(-SIDE_HALF, SIDE_HALF, dtype=np.float64),
    "ll": LL_SHIFT + np.arange(-SIDE_HALF, SIDE_HALF, dtype=np.float64),
}
"""Pixel offsets of each crop segment from the candidate (the crops of :mod:`.crops`)."""


@dataclass(frozen=True)
class CropAugment:
    """Settings of the training-crop changes (see the module docstring)."""

    p: float = 0.5
    """Share of the crops of a batch that are changed."""
    continuum: float = 0.05
    """Standard deviation of the continuum error's linear and quadratic coefficients."""
    extra_noise: tuple[float, float] = (1.0, 1.3)
    """Range of the noise factor ``a`` (uniform)."""
    misreport: tuple[float, float] = (0.87, 1.15)
    """Range of the error mis-report factor ``r`` (log-uniform)."""

    def to_dict(self) -> dict:
        return asdict(self)

    def apply(self, inputs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Changed copies of a batch of crops.

        Parameters
        ----------
        inputs : list of ndarray
            ``lya`` (k, 512, 5), ``lyb`` (k, 128, 2), ``ll`` (k, 128, 2), ``scalars`` (k, 6).
        rng : numpy.random.Generator

        Returns
        -------
        list of ndarray, float32
            The same arrays with a share :attr:`p` of the crops changed; the others, and every
            pixel without data (weight 0), are as given.
        """
        out = [np.array(x, dtype=np.float32) for x in inputs]
        k = len(out[0])
        sel = np.flatnonzero(rng.random(k) < self.p)
        if sel.size == 0:
            return out
        n = sel.size
        c1, c2 = rng.normal(0.0, self.continuum, (2, n))
        a = rng.uniform(*self.extra_noise, n)
        r = np.exp(rng.uniform(*np.log(self.misreport), n))
        for arr, name in zip(out[:3], ("lya", "lyb", "ll")):
            u = _POS[name] / CONTINUUM_SCALE_PX
            g = np.clip(1.0 + c1[:, None] * u + c2[:, None] * u**2, 0.5, 1.5)
            flux, weight = arr[sel, :, 0].astype(np.float64), arr[sel, :, 1].astype(np.float64)
            valid = weight > 0
            sigma = np.where(valid, 1.0 / np.where(valid, weight, 1.0) - 1.0, 0.0)
            noisy = flux + sigma * np.sqrt(a**2 - 1.0)[:, None] * rng.standard_normal(flux.shape)
            new_flux = np.clip(g * noisy, *FLUX_CLIP)
            new_sigma = g * sigma * (a * r)[:, None]
            arr[sel, :, 0] = np.where(valid, new_flux, 0.0)
            arr[sel, :, 1] = np.where(valid, 1.0 / (1.0 + new_sigma), 0.0)
        snr = 10.0 ** out[3][sel, 0].astype(np.float64) - 1.0  # the sightline S/N scalar, log10(1 + S/N)
        out[3][sel, 0] = np.log10(1.0 + snr / (a * r))
        return out
