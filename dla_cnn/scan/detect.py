"""From per-pixel predictions to absorbers (spec section 8, our version).

1. Only pixels the classifier calls positive (``p >= p_vote``) vote, at ``pixel + offset``,
   with weight ``p``; each vote is split linearly between the two nearest bins, so the
   vote histogram has no half-pixel bias.
2. The histogram is smoothed (Gaussian, ~1.5 px) and normalised by the votes of a
   perfectly detected absorber (121 pixels for the 60 px label radius the model card's
   input contract records), so a clean absorber collects a vote mass near 1.
3. Peaks are local maxima whose vote mass within +-10 px is at least ``min_votes``,
   taken greedily by mass, at least ``min_separation`` px apart.
4. The centre is the sub-pixel centroid of the votes within +-6 px of the peak; z follows
   from the Ly-alpha wavelength there.  log N_HI is the vote-weighted mean of the
   per-pixel N_HI head over the voters, passed through the model's calibration polynomial.
5. Uncertainties: the vote scatter (for z) and the voters' N_HI scatter (for log N), times
   scale factors fitted so 68% of held-out truths lie within 1 sigma; the confidence is
   the vote mass mapped through an isotonic calibration to the probability of matching a
   true absorber.
6. A weaker detection at the Ly-beta of a stronger one (within 15 A observed, >= 0.3 dex
   weaker) is typed LYB; others are DLA (log N >= 20.3) or SUBDLA.

Caveats
-------
* Only absorbers inside the searched path (912 A rest to 3000 km/s blueward of Ly-alpha
  emission, where the spectrum has data) are reported.
* Without a fitted calibration (a fresh model), N_HI is uncorrected, the error scales are
  1 and the confidence is the clipped vote mass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from dla_cnn import grid
from dla_cnn.constants import DLA_MIN_LOG_NHI, LOG_NHI_PIVOT  # DLA_MIN_LOG_NHI also importable from here
from dla_cnn.contract import LABEL_RADIUS_PX



@dataclass(frozen=True)
class DetectConfig:
    """Thresholds of the vote-to-absorber step (pixels unless stated)."""

    p_vote: float = 0.5
    smooth_sigma: float = 1.5
    peak_window: int = 10
    min_votes: float = 0.2
    """Minimum vote mass (fraction of a perfect absorber's votes) for a detection."""
    perfect_votes: float = float(2 * LABEL_RADIUS_PX + 1)
    """Votes of a perfectly detected absorber (121); the scanner sets it from the model card's
    input contract (:mod:`dla_cnn.contract`)."""
    min_separation: int = 15
    centroid_halfwidth: int = 6
    lyb_tolerance_aa: float = 15.0
    lyb_min_dex: float = 0.3
    two_stage: bool = True
    """Use the model's absorber-level stage when its card has one (False: per-pixel votes decide)."""
    min_confidence: float | None = None
    """Absorbers below this confidence are not reported; None: the model's default (its card's
    ``stage2.min_confidence``, 0 for a one-stage model)."""


@dataclass
class Calibration:
    """Per-model corrections fitted on a held-out set (stored in the model card)."""

    nhi_poly: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0, 0.0])
    """Cubic (highest power first) mapping raw log N_HI to calibrated log N_HI."""
    nhi_pivot: float = LOG_NHI_PIVOT
    """The polynomial is evaluated at ``raw - pivot`` and returns ``calibrated - pivot``."""
    z_err_scale: float = 1.0
    nhi_err_scale: float = 1.0
    nhi_err_floor: float = 0.05
    conf_x: list[float] = field(default_factory=lambda: [0.0, 1.0])
    conf_y: list[float] = field(default_factory=lambda: [0.0, 1.0])
    fitted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Calibration":
        if not d:
            return cls()
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def log_nhi(self, raw: np.ndarray | float) -> np.ndarray:
        return np.polyval(self.nhi_poly, np.asarray(raw) - self.nhi_pivot) + self.nhi_pivot

    def confidence(self, vote_mass: np.ndarray | float) -> np.ndarray:
        return np.clip(np.interp(vote_mass, self.conf_x, self.conf_y), 0.0, 1.0)


@dataclass
class Detection:
    """One absorber found on a sightline."""

    centre_px: float
    z_abs: float
    z_abs_err: float
    log_nhi: float
    log_nhi_err: float
    confidence: float
    type: str
    lambda_obs: float
    vote_mass: float
    raw_log_nhi: float
    raw_z_err: float
    raw_nhi_err: float
    p_real: float = float("nan")
    """Uncalibrated real-absorber probability of the absorber-level stage (NaN: one-stage scan)."""
    p_dla: float = float("nan")
    """Probability from the absorber-level stage that log N_HI >= 20.3 (NaN: one-stage scan)."""
    nhi_fit: bool = False
    """log N_HI (and its error) come from the damped-profile fit rather than the network."""


def vote_histogram(prob: np.ndarray, offset: np.ndarray, p_vote: float, valid: np.ndarray | None = None):
    """Sub-pixel vote histogram of positive pixels.

    Returns
    -------
    hist : ndarray (n,)
        Votes per window pixel (weights are classifier probabilities).
    target : ndarray
        Vote position of every pixel (``pixel + offset``).
    voter : ndarray of bool
        Pixels that voted.
    """
    n = prob.size
    target = np.arange(n) + offset
    voter = prob >= p_vote
    if valid is not None:
        voter &= valid
    voter &= (target > -1) & (target < n)
    t = target[voter]
    w = prob[voter]
    lo = np.floor(t).astype(np.int64)
    frac = t - lo
    # both neighbours of every vote in one pass, summed in the order np.add.at would use
    hist = np.bincount(np.concatenate([lo + 1, lo + 2]), np.concatenate([w * (1 - frac), w * frac]), minlength=n + 2)
    return hist[1:-1], target, voter


def vote_mass_curve(prob: np.ndarray, offset: np.ndarray, cfg: DetectConfig = DetectConfig(),
                    valid: np.ndarray | None = None) -> np.ndarray:
    """Vote mass within +-``cfg.peak_window`` px of every pixel, in units of a perfect absorber.

    This is the curve whose peaks :func:`detect_absorbers` thresholds at ``cfg.min_votes``.
    """
    hist, _, _ = vote_histogram(prob, offset, cfg.p_vote, valid)
    return vote_mass(hist, cfg)


def vote_mass(hist: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    """Votes of a :func:`vote_histogram` within +-``cfg.peak_window`` px, per perfect absorber."""
    return np.convolve(hist, np.ones(2 * cfg.peak_window + 1), mode="same") / cfg.perfect_votes


def detect_absorbers(
    prob: np.ndarray,
    offset: np.ndarray,
    log_nhi: np.ndarray,
    start_index: int,
    z_range: tuple[float, float] | None = None,
    valid: np.ndarray | None = None,
    cfg: DetectConfig = DetectConfig(),
    calibration: Calibration | None = None,
) -> list[Detection]:
    """Absorbers of one sightline from the model's per-pixel outputs.

    Parameters
    ----------
    prob, offset, log_nhi : ndarray (1748,)
        Classifier probability, offset to the absorber centre (px) and log N_HI per pixel.
    start_index : int
        Universal-grid index of window pixel 0.
    z_range : (float, float), optional
        Searched redshift path; detections outside it are dropped.
    valid : ndarray of bool, optional
        Pixels with data; others cannot vote.
    cfg : DetectConfig
    calibration : Calibration, optional

    Returns
    -------
    list of Detection, ordered by redshift.
    """
    prob = np.asarray(prob, dtype=float)
    votes = vote_histogram(prob, np.asarray(offset, dtype=float), cfg.p_vote, valid)
    return detections_from_votes(prob, log_nhi, votes, start_index, z_range, cfg, calibration)


def detections_from_votes(
    prob: np.ndarray,
    log_nhi: np.ndarray,
    votes: tuple[np.ndarray, np.ndarray, np.ndarray],
    start_index: int,
    z_range: tuple[float, float] | None = None,
    cfg: DetectConfig = DetectConfig(),
    calibration: Calibration | None = None,
) -> list[Detection]:
    """:func:`detect_absorbers` from the :func:`vote_histogram` ``votes`` (at ``cfg.p_vote``) of
    the same outputs, for callers that need the votes too (the absorber stage's proposals)."""
    cal = calibration or Calibration()
    prob = np.asarray(prob, dtype=float)
    log_nhi = np.asarray(log_nhi, dtype=float)
    hist, target, voter = votes
    if not voter.any():
        return []
    smooth = gaussian_filter1d(hist, cfg.smooth_sigma, mode="constant")
    mass = vote_mass(hist, cfg)
    is_max = np.r_[False, (smooth[1:-1] >= smooth[:-2]) & (smooth[1:-1] > smooth[2:]), False]
    cand = np.flatnonzero(is_max & (mass >= cfg.min_votes))
    taken: list[int] = []
    for c in cand[np.argsort(-mass[cand])]:
        if all(abs(c - t) >= cfg.min_separation for t in taken):
            taken.append(int(c))
    dets: list[Detection] = []
    pix_all = np.flatnonzero(voter)
    for c in sorted(taken):
        near = np.abs(target[pix_all] - c) <= cfg.centroid_halfwidth
        idx = pix_all[near]
        if idx.size == 0:
            continue
        w = prob[idx]
        centre = float(np.average(target[idx], weights=w))
        spread = float(np.sqrt(np.average((target[idx] - centre) ** 2, weights=w)))
        n_eff = w.sum() ** 2 / np.sum(w**2)
        raw_z_px = max(spread, 0.3) / np.sqrt(n_eff)
        voters_n = pix_all[np.abs(target[pix_all] - c) <= cfg.peak_window]
        wn = prob[voters_n]
        raw_n = float(np.average(log_nhi[voters_n], weights=wn))
        raw_n_err = float(np.sqrt(np.average((log_nhi[voters_n] - raw_n) ** 2, weights=wn)))
        loglam = (start_index + centre) * grid.DLOGLAM
        lam = 10.0**loglam
        z = lam / grid.LYA_REST - 1.0
        if z_range is not None and not (z_range[0] <= z <= z_range[1]):
            continue
        dz_dpx = (1.0 + z) * np.log(10.0) * grid.DLOGLAM
        ln = float(cal.log_nhi(raw_n))
        dets.append(Detection(
            centre_px=centre, z_abs=float(z), z_abs_err=float(raw_z_px * dz_dpx * cal.z_err_scale),
            log_nhi=ln, log_nhi_err=float(np.hypot(raw_n_err * cal.nhi_err_scale, cal.nhi_err_floor)),
            confidence=float(cal.confidence(mass[c])), type="DLA" if ln >= DLA_MIN_LOG_NHI else "SUBDLA",
            lambda_obs=float(lam), vote_mass=float(mass[c]), raw_log_nhi=raw_n,
            raw_z_err=float(raw_z_px * dz_dpx), raw_nhi_err=raw_n_err,
        ))
    mark_lyb(dets, cfg)
    return dets


def mark_lyb(dets: list[Detection], cfg: DetectConfig = DetectConfig()) -> None:
    """Type as LYB any detection sitting at the Ly-beta of a clearly stronger one."""
    for d in dets:
        for s in dets:
            if s is d or s.log_nhi - d.log_nhi < cfg.lyb_min_dex:
                continue
            if abs(d.lambda_obs - grid.LYB_REST * (1.0 + s.z_abs)) <= cfg.lyb_tolerance_aa:
                d.type = "LYB"
                break
