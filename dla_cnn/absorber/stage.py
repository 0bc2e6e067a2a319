"""The absorber-level stage of a scan: measure, merge and decide each candidate.

For every sightline the per-pixel network proposes candidates with recall-tuned
thresholds (:data:`PROPOSAL_DETECT`).  This stage then

1. cuts each candidate's crop and runs the absorber-level model on all crops of a batch
   of sightlines at once;
2. moves each candidate to its measured centre (candidate + predicted offset), then moves
   the plausible ones (``refine_min_p``) that can reach the caller's threshold once more by
   the offset measured from a crop centred there (``refine_centre``; with ``refine`` that
   second crop's decision and log N_HI replace the first's too);
3. merges candidates whose measured centres are within ``merge_px`` -- one absorber,
   one row -- keeping the most probable;
4. maps the real-absorber probability through the isotonic calibration stored with the
   model (one map per S/N bin and :func:`calibration_cells` cell), scales the predicted
   1-sigma errors so 68% of calibration truths fall within them (one pair of scales per
   S/N bin and measured type), and types each absorber DLA (log N_HI >= 20.3) or SUBDLA.

With ``voigt_fit`` set, absorbers the network measures at log N_HI >= ``voigt_min_log_nhi``
and that reach the model's default ``min_confidence`` then get a damped-profile fit
(:mod:`.voigt_fit`) whose log N_HI replaces the network's where it converges.

Every candidate above ``floor`` confidence is returned; the scanner keeps those at or
above its ``min_confidence`` (recorded in catalog headers).

Caveats
-------
* A candidate the first stage never proposes cannot be found here: the proposal
  thresholds are set for recall, and the merge removes what they duplicate.
* Confidence is calibrated per S/N bin and cell on simulated skies at natural absorber
  incidence (randomised training sky, fresh seeds); on survey data check it with
  ``dla-cnn vet`` against a trusted catalog.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from dla_cnn import grid
from dla_cnn.absorber.crops import EXT_BLUE, ExtendedView, concat_crops, cut_crops, stage1_channels, z_to_window_px
from dla_cnn.absorber.outputs import decode_absorber_outputs
from dla_cnn.median import median_1d
from dla_cnn.scan.detect import (
    DLA_MIN_LOG_NHI, DetectConfig, Detection, detections_from_votes, mark_lyb, vote_histogram, vote_mass,
)

PROPOSAL_DETECT = DetectConfig(p_vote=0.3, min_votes=0.05, min_separation=8)
"""Recall-tuned first-stage thresholds: what the scanner proposes to this stage."""


@dataclass(frozen=True)
class StageConfig:
    """Settings of the absorber-level stage."""

    min_confidence: float = 0.5
    """Default threshold of the ABSORBERS table (the catalog header records it)."""
    merge_px: float = 15.0
    refine: bool = False
    """Measure plausible candidates a second time at their refined centre.  Off by default:
    on held-out skies it lowered the purity of DLA rows (0.87 vs 0.91 at confidence >= 0.4)
    at the same completeness, and it costs a second pass."""
    refine_centre: bool = True
    """Move plausible candidates by the offset measured from a crop centred at their first
    measured centre (at most 3 px), keeping the first crop's decision, type and log N_HI.
    The network's offsets fall short of the truth from an off-centre crop; on the
    randomised-sky validation skies this second look lowered robust sigma(dv) from 102 to
    90 km/s (natural rate) and 117 to 98 km/s (DLA-rich) at the same completeness and
    purity.  It costs a second pass of the absorber-level model over the candidates that were
    at least ``refine_min_offset_px`` off and can reach the caller's threshold (``measure``'s
    ``min_confidence``): a few per cent of a catalog's time."""
    refine_min_offset_px: float = 1.0
    """The centre-only second look skips candidates whose first crop was within this many px
    of their measured centre (the correction would be a fraction of it): a third fewer second
    looks for the same redshift scatter within 2 km/s on the validation skies."""
    refine_min_p: float = 0.02
    """Only candidates at least this probable are measured a second time (also by ``shifts``)."""
    shifts: tuple[float, ...] = ()
    """Crop offsets (px) at which plausible candidates are measured again: their centre and
    log N_HI become the inverse-variance means of the measurements at 0 and these offsets
    (the decision and the DLA probability stay those of the unshifted crop)."""
    floor: float = 0.0
    voigt_fit: str = "none"
    """Profile fit of accepted absorbers (:mod:`.voigt_fit`): ``none`` (default: on held-out
    skies the fit's log N_HI scattered more than the network's), ``nhi`` (its log N_HI
    replaces the network's where the fit converges) or ``nhi+z`` (also its centre)."""
    voigt_min_log_nhi: float = 19.8
    """Absorbers the network measures below this column are not fitted (no damping wings)."""
    dla_rule: str = "log_nhi"
    """How the type is decided: ``log_nhi`` (DLA where the measured log N_HI >= 20.3) or
    ``p_dla`` (DLA where the DLA head's probability >= 0.5)."""
    proposal: DetectConfig = field(default_factory=lambda: PROPOSAL_DETECT)


@dataclass
class StageCalibration:
    """Corrections of the absorber-level outputs, fitted on simulated calibration skies."""

    conf_x: list[float] = field(default_factory=lambda: [0.0, 1.0])
    conf_y: list[float] = field(default_factory=lambda: [0.0, 1.0])
    z_err_scale: float = 1.0
    nhi_err_scale: float = 1.0
    z_err_floor_px: float = 0.05
    nhi_err_floor: float = 0.02
    fit_nhi_err_scale: float = 1.0
    """Scale of the profile fit's log N_HI errors (where the fit replaced the network's value)."""
    snr_edges: list[float] = field(default_factory=list)
    """S/N bin edges of per-bin confidence maps (empty: the one map ``conf_x``/``conf_y``)."""
    snr_kind: str = "sightline"
    """Which S/N the bins are of: ``sightline`` (the sightline's median S/N at 1420-1480 A
    rest, the catalog's ``snr``) or ``local`` (the candidate's own neighbourhood,
    :func:`local_snr`)."""
    err_snr_kind: str = ""
    """Which S/N the error-scale bins (:attr:`err_scales`) are of, with :attr:`err_snr_edges`;
    empty: those of the confidence maps (:attr:`snr_kind`, :attr:`snr_edges`)."""
    err_snr_edges: list[float] = field(default_factory=list)
    """S/N bin edges of the error scales where :attr:`err_snr_kind` is set."""
    conf_maps: list[list[list[float]]] = field(default_factory=list)
    """``[[x knots], [y knots]]`` per S/N bin (``len(snr_edges) + 1`` bins)."""
    cell_maps: dict[str, list[list[float]]] = field(default_factory=dict)
    """``[[x knots], [y knots]]`` per S/N bin and candidate cell (:func:`calibration_cells`),
    keyed ``"BIN:CELL"``; a cell without a map uses its S/N bin's map."""
    err_scales: dict[str, list[float]] = field(default_factory=dict)
    """``[z scale, log N_HI scale]`` per S/N bin and measured type, keyed ``"BIN:dla"`` or
    ``"BIN:sub"`` (:func:`measured_kind`); a key without scales uses ``z_err_scale`` and
    ``nhi_err_scale``.  The network's errors of sub-DLA-like candidates need a larger scale
    than those of DLA-like ones, and its DLA errors a smaller scale the higher the S/N."""
    fitted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "StageCalibration":
        return cls(**{k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__})

    def confidence(self, p: np.ndarray, snr: float | np.ndarray | None = None,
                   cells: np.ndarray | None = None) -> np.ndarray:
        """Calibrated confidence of real-absorber probabilities ``p``.

        ``snr`` is the S/N of :attr:`snr_kind`: one value (a sightline's) or one per value
        of ``p``; ``cells`` (one :func:`calibration_cells` label per value of ``p``) selects
        the maps of those cells where the calibration has them.
        """
        p = np.atleast_1d(np.asarray(p, dtype=float))
        snr = None if snr is None or not self.conf_maps else np.asarray(snr, dtype=float)
        if snr is not None and snr.ndim == 0:  # one sightline's S/N: one bin for all
            if np.isfinite(snr):
                return np.clip(self._in_bin(p, int(np.searchsorted(self.snr_edges, snr, side="right")), cells), 0.0, 1.0)
            snr = None
        out = np.interp(p, self.conf_x, self.conf_y)
        if snr is not None:
            bins = np.where(np.isfinite(snr), np.searchsorted(self.snr_edges, snr, side="right"), -1)
            cells = None if cells is None else np.broadcast_to(np.asarray(cells), p.shape)
            for b in np.unique(bins[bins >= 0]):
                sel = bins == b
                out[sel] = self._in_bin(p[sel], int(b), None if cells is None else cells[sel])
        return np.clip(out, 0.0, 1.0)

    def _in_bin(self, p: np.ndarray, b: int, cells: np.ndarray | None) -> np.ndarray:
        """The maps of S/N bin ``b`` (its cells' where they have one) at probabilities ``p``."""
        out = np.interp(p, *self.conf_maps[b])
        if cells is not None and self.cell_maps:
            cells = np.asarray(cells)
            for cell in np.unique(cells):
                knots = self.cell_maps.get(f"{b}:{cell}")
                if knots is not None:
                    sel = cells == cell
                    out[sel] = np.interp(p[sel], *knots)
        return out

    @property
    def error_snr_kind(self) -> str:
        """The S/N the error scales are binned by (``sightline`` or ``local``)."""
        return self.err_snr_kind or self.snr_kind

    def error_scales(self, snr: float | None, log_nhi: float) -> tuple[float, float]:
        """Scales ``(z, log N_HI)`` of the network's errors for a candidate measured at ``log_nhi``
        at S/N ``snr`` (of :attr:`error_snr_kind`)."""
        edges = self.err_snr_edges if self.err_snr_kind else self.snr_edges
        b = int(np.searchsorted(edges, snr, side="right")) if snr is not None and np.isfinite(snr) else -1
        z_s, n_s = self.err_scales.get(f"{b}:{measured_kind(log_nhi)}", (self.z_err_scale, self.nhi_err_scale))
        return float(z_s), float(n_s)


def measured_kind(log_nhi):
    """``"dla"`` where the measured column reaches the DLA threshold, else ``"sub"`` (element-wise)."""
    kind = np.where(np.asarray(log_nhi) >= DLA_MIN_LOG_NHI, "dla", "sub")
    return str(kind) if kind.ndim == 0 else kind


def _snr_of(kind: str, view: ExtendedView, centres: np.ndarray) -> float | np.ndarray:
    """The S/N of ``kind`` of candidates at ``centres``: their sightline's, or each one's local S/N."""
    return local_snr(view, centres) if kind == "local" else view.snr


LOCAL_SNR_PX = (20, 150)
"""Pixels from a candidate's centre (inner, outer) whose S/N makes its :func:`local_snr`:
outside the trough of a log N 21 absorber, within a few thousand km/s of it."""


def local_snr(view: ExtendedView, centres: np.ndarray) -> np.ndarray:
    """Median S/N per pixel around each candidate (the flux of the forest over its error).

    Parameters
    ----------
    view : ExtendedView
        The sightline's normalised flux and weight.
    centres : array
        Candidate centres, window px.

    Returns
    -------
    ndarray
        ``median(flux / sigma)`` over the valid pixels :data:`LOCAL_SNR_PX` from each centre,
        on both sides; 0 where fewer than 10 such pixels have data.  Unlike the sightline's
        S/N (measured redward of Ly-alpha), it follows the blue-end noise rise of BOSS and
        the forest's absorption at the candidate: the S/N the candidate was found at.
    """
    inner, outer = LOCAL_SNR_PX
    n = view.channels.shape[0]
    centres = np.rint(np.atleast_1d(centres)).astype(np.int64) + EXT_BLUE
    out = np.zeros(centres.size)
    for k, c in enumerate(centres):
        ch = np.concatenate([view.channels[max(c - outer, 0): min(max(c - inner + 1, 0), n)],
                             view.channels[min(max(c + inner, 0), n): min(c + outer + 1, n)]]).astype(float)
        w = ch[ch[:, 1] > 0]
        if len(w) >= 10:
            out[k] = median_1d(w[:, 0] * w[:, 1] / np.maximum(1.0 - w[:, 1], 1e-6))  # flux / sigma
    return out


def calibration_cells(rest_lya: np.ndarray, log_nhi: np.ndarray) -> np.ndarray:
    """Calibration cell of each candidate: where it lies and what it measures.

    Parameters
    ----------
    rest_lya : array
        The candidate's Ly-alpha wavelength in the quasar's rest frame, Angstrom.
    log_nhi : array
        The column density the network measures, log10 cm^-2.

    Returns
    -------
    ndarray of str
        ``"lyb-dla"``, ``"lyb-sub"``, ``"lya-dla"`` or ``"lya-sub"``: in the Ly-beta forest
        (bluer than the quasar's Ly-beta emission, where Ly-beta lines, Lyman-limit breaks
        and the quasar's Ly-beta/O VI emission crowd the crops) or the Ly-alpha-only forest,
        and measured at or above the DLA threshold or below it.  The same network output
        means a different fraction of real absorbers in each.
    """
    region = np.where(np.asarray(rest_lya) < grid.LYB_REST, "lyb", "lya")
    return np.char.add(np.char.add(region, "-"), measured_kind(np.atleast_1d(log_nhi)))


_BUCKETS = (16, 64, 256, 512)
"""Crop batches are padded to one of these sizes, so a compiled model sees few shapes (models
that run any batch size, ``any_batch_size``, such as the ONNX graphs, are not padded)."""


def _predict(model, crops: dict[str, np.ndarray], batch_size: int = 512) -> dict[str, np.ndarray]:
    inputs = [crops[k] for k in ("lya", "lyb", "ll", "scalars")]
    n = len(inputs[0])
    if n == 0:
        return decode_absorber_outputs(np.empty((0, 6)))
    out = []
    fixed_shapes = not getattr(model, "any_batch_size", False)
    for i in range(0, n, batch_size):
        part = [x[i:i + batch_size] for x in inputs]
        size = next((b for b in _BUCKETS if b >= len(part[0])), batch_size) if fixed_shapes else len(part[0])
        pad = size - len(part[0])
        if pad:
            part = [np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]) for x in part]
        out.append(np.asarray(model.predict_on_batch(part))[: size - pad])
    return decode_absorber_outputs(np.concatenate(out))


def propose(prob: np.ndarray, offset: np.ndarray, log_nhi: np.ndarray, window_start: int,
            z_range: tuple[float, float], valid: np.ndarray | None,
            cfg: DetectConfig = PROPOSAL_DETECT) -> tuple[np.ndarray, np.ndarray]:
    """First-stage proposals of one sightline and the per-pixel curves its crops carry.

    Returns
    -------
    centres : ndarray
        Candidate Ly-alpha centres (window px) within 15 px of the searched path.
    curves : ndarray (N_EXT, 3)
        :func:`~dla_cnn.absorber.crops.stage1_channels` of the sightline.
    """
    votes = vote_histogram(np.asarray(prob, dtype=float), np.asarray(offset, dtype=float), cfg.p_vote, valid)
    dets = detections_from_votes(prob, log_nhi, votes, window_start, None, cfg)
    centres = np.array([d.centre_px for d in dets], dtype=float)
    lo, hi = z_to_window_px(np.array(z_range, dtype=float), window_start)
    if np.isfinite(lo) and np.isfinite(hi):
        centres = centres[(centres >= lo - 15) & (centres <= hi + 15)]
    return centres, stage1_channels(prob, vote_mass(votes[0], cfg), log_nhi)


class AbsorberStage:
    """A loaded absorber-level model with its calibration and settings.

    Parameters
    ----------
    model : keras.Model
        From :func:`dla_cnn.absorber.model.build_absorber_model` (trained).
    calibration : StageCalibration
    cfg : StageConfig
    """

    def __init__(self, model, calibration: StageCalibration | None = None, cfg: StageConfig = StageConfig()):
        self.model = model
        self.calibration = calibration or StageCalibration()
        self.cfg = cfg
        self.sha256 = ""

    def propose(self, prob, offset, log_nhi, window_start, z_range, valid) -> tuple[np.ndarray, np.ndarray]:
        """First-stage proposals (window px) and the per-pixel curves of the crops."""
        return propose(prob, offset, log_nhi, window_start, z_range, valid, self.cfg.proposal)

    def measure(self, views: list[ExtendedView], curves: list[np.ndarray], proposals: list[np.ndarray],
                z_ranges: list[tuple[float, float]], min_confidence: float = 0.0) -> list[list[Detection]]:
        """Detections of each sightline from its proposals (see the module docstring).

        Parameters
        ----------
        views, curves, proposals, z_ranges : list
            Per sightline: its extended view, its per-pixel curves, its candidate centres
            (window px) and its searched redshift range.
        min_confidence : float
            The threshold the caller keeps detections at.  Candidates whose calibrated
            confidence after the first look is below it get no second look
            (``refine_centre``): they are returned with their first measured centre.  The
            detections at or above the threshold are those of 0 (the default: every plausible
            candidate is looked at again) with one rare exception: a row at the Ly-beta of a
            stronger candidate below the threshold is typed ``LYB`` by that candidate's centre,
            which is now its first one (no row differed on the held-out skies).
        """
        owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(proposals)]) if proposals else np.empty(0)
        centres = np.concatenate(proposals) if proposals else np.empty(0)
        out: list[list[Detection]] = [[] for _ in views]
        if centres.size == 0:
            return out
        owner = owner.astype(int)
        pred = self._run(views, curves, owner, centres)
        if self.cfg.shifts:
            self._average_shifted(views, curves, owner, centres, pred)
        centres = centres + pred["offset"]
        if self.cfg.refine or self.cfg.refine_centre:
            again = pred["p_real"] >= self.cfg.refine_min_p
            if not self.cfg.refine:  # a centre-only look where the first crop was off by enough to matter
                again &= np.abs(pred["offset"]) >= self.cfg.refine_min_offset_px
                if min_confidence > 0.0 and again.any():  # ... and only where the row can reach the caller's table
                    # (the look moves a centre by <= 3 px: its calibration cell is one of the ends')
                    idx = np.flatnonzero(again)
                    reach = np.zeros(idx.size)
                    for i in np.unique(owner[idx]):
                        sel = owner[idx] == i
                        k = idx[sel]
                        reach[sel] = np.max([self._view_confidence(views[i], centres[k] + d, pred["p_real"][k],
                                                                   pred["log_nhi"][k]) for d in (-3.0, 0.0, 3.0)], axis=0)
                    again[idx] = reach >= min_confidence
            if again.any():
                second = self._run(views, curves, owner[again], centres[again])
                centres[again] += np.clip(second["offset"], -3.0, 3.0)
                if self.cfg.refine:
                    for key, value in second.items():
                        pred[key][again] = value
        for i in range(len(views)):
            sel = np.flatnonzero(owner == i)
            out[i] = self._decide(views[i], curves[i], z_ranges[i], centres[sel], {k: v[sel] for k, v in pred.items()})
        return out

    def _view_confidence(self, view: ExtendedView, centres: np.ndarray, p_real: np.ndarray,
                         log_nhi: np.ndarray) -> np.ndarray:
        """Calibrated confidence of candidates of one sightline at ``centres`` (window px)."""
        rest = 10.0 ** ((view.window_start + centres) * grid.DLOGLAM) / (1.0 + view.z_qso)
        cal = self.calibration
        return cal.confidence(p_real, _snr_of(cal.snr_kind, view, centres), calibration_cells(rest, log_nhi))

    def _average_shifted(self, views, curves, owner: np.ndarray, centres: np.ndarray, pred: dict) -> None:
        """Replace the offset and log N_HI of plausible candidates by inverse-variance means over
        crops shifted by ``cfg.shifts`` (in place).  The errors stay those of the unshifted crop:
        the measurements share the same pixels, so they are not independent."""
        sel = np.flatnonzero(pred["p_real"] >= self.cfg.refine_min_p)
        if sel.size == 0:
            return
        w_off = 1.0 / np.maximum(pred["offset_err"][sel], 1e-3) ** 2
        w_n = 1.0 / np.maximum(pred["log_nhi_err"][sel], 1e-3) ** 2
        sum_off, sum_n = w_off * pred["offset"][sel], w_n * pred["log_nhi"][sel]
        tot_off, tot_n = w_off.copy(), w_n.copy()
        for shift in self.cfg.shifts:
            r = self._run(views, curves, owner[sel], centres[sel] + shift)
            wo = 1.0 / np.maximum(r["offset_err"], 1e-3) ** 2
            wn = 1.0 / np.maximum(r["log_nhi_err"], 1e-3) ** 2
            sum_off += wo * (r["offset"] + shift)
            sum_n += wn * r["log_nhi"]
            tot_off += wo
            tot_n += wn
        pred["offset"][sel] = sum_off / tot_off
        pred["log_nhi"][sel] = sum_n / tot_n

    def _run(self, views, curves, owner: np.ndarray, centres: np.ndarray) -> dict[str, np.ndarray]:
        """Model outputs for candidates ``centres`` of sightlines ``owner`` (in that order)."""
        order = np.argsort(owner, kind="stable")
        parts = [cut_crops(views[i], curves[i], centres[order][owner[order] == i]) for i in np.unique(owner)]
        pred = _predict(self.model, concat_crops(parts))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return {k: v[inverse] for k, v in pred.items()}

    def _decide(self, view: ExtendedView, curves: np.ndarray, z_range, centres: np.ndarray,
                pred: dict[str, np.ndarray]) -> list[Detection]:
        cal, cfg = self.calibration, self.cfg
        conf = self._view_confidence(view, centres, pred["p_real"], pred["log_nhi"])
        order = np.argsort(-conf)
        taken: list[int] = []
        for k in order:
            if conf[k] < cfg.floor:
                break
            if all(abs(centres[k] - centres[j]) >= cfg.merge_px for j in taken):
                taken.append(int(k))
        dets = []
        snr = np.zeros(centres.shape)  # the S/N of the error scales, of the candidates kept
        snr[taken] = _snr_of(cal.error_snr_kind, view, centres[taken]) if taken else 0.0
        for k in taken:
            ln = float(pred["log_nhi"][k])
            z_scale, n_scale = cal.error_scales(float(snr[k]), ln)
            n_err = float(np.hypot(pred["log_nhi_err"][k] * n_scale, cal.nhi_err_floor))
            raw_n_err = float(pred["log_nhi_err"][k])
            fitted = False
            if cfg.voigt_fit != "none" and ln >= cfg.voigt_min_log_nhi and conf[k] >= cfg.min_confidence:
                fit = self._fit(view, centres[k], ln)
                fitted = fit.ok
                if fit.ok:
                    ln, raw_n_err = fit.log_nhi, fit.log_nhi_err
                    n_err = float(np.hypot(fit.log_nhi_err * cal.fit_nhi_err_scale, cal.nhi_err_floor))
                    if cfg.voigt_fit == "nhi+z":
                        centres[k] = fit.centre_px
            loglam = (view.window_start + centres[k]) * grid.DLOGLAM
            lam = 10.0**loglam
            z = lam / grid.LYA_REST - 1.0
            if not (z_range[0] <= z <= z_range[1]):
                continue
            dz_dpx = (1.0 + z) * np.log(10.0) * grid.DLOGLAM
            z_err_px = float(np.hypot(pred["offset_err"][k] * z_scale, cal.z_err_floor_px))
            ci = int(np.clip(np.rint(centres[k]), 0, grid.N_WINDOW - 1))
            dets.append(Detection(
                centre_px=float(centres[k]), z_abs=float(z), z_abs_err=z_err_px * dz_dpx, log_nhi=ln,
                log_nhi_err=n_err,
                confidence=float(conf[k]), type="DLA" if self._is_dla(ln, pred["p_dla"][k]) else "SUBDLA",
                lambda_obs=float(lam),
                vote_mass=float(curves[ci + EXT_BLUE, 1]), raw_log_nhi=ln,
                raw_z_err=float(pred["offset_err"][k] * dz_dpx), raw_nhi_err=raw_n_err,
                p_real=float(pred["p_real"][k]), p_dla=float(pred["p_dla"][k]), nhi_fit=fitted,
            ))
        dets.sort(key=lambda d: d.z_abs)
        mark_lyb(dets)
        return dets


    def _is_dla(self, log_nhi: float, p_dla: float) -> bool:
        if self.cfg.dla_rule == "p_dla":
            return bool(p_dla >= 0.5)
        return bool(log_nhi >= DLA_MIN_LOG_NHI)

    def _fit(self, view: ExtendedView, centre: float, log_nhi: float):
        """Profile fit on the extended view (flux and sigma recovered from the weight channel)."""
        from dla_cnn.absorber.voigt_fit import fit_damped_lya

        flux, weight = view.channels[:, 0].astype(float), view.channels[:, 1].astype(float)
        valid = weight > 0
        with np.errstate(divide="ignore"):
            sigma = np.where(valid, 1.0 / np.where(valid, weight, 1.0) - 1.0, np.inf)
        return fit_damped_lya(flux, sigma, valid & (sigma > 0), view.window_start, float(centre), float(log_nhi),
                              offset=EXT_BLUE)

