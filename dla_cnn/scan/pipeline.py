"""Sightlines in, catalog rows out: preparation, batched inference and detection.

A sightline passes three stages, each of which can end it with a status:

* ``error``   -- unreadable or invalid spectrum (a :class:`SightlineError`);
* ``skipped`` -- a valid spectrum that cannot be searched (no forest coverage, too few
  good pixels);
* ``ok``      -- searched: zero absorbers is then a real result.

Preparation (reading, validation, normalisation) is pure Python/numpy and runs in worker
processes; inference runs in batches across sightlines in the process that holds the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dla_cnn.absorber.crops import extended_view
from dla_cnn.constants import DLA_MIN_LOG_NHI
from dla_cnn.contract import InputContract
from dla_cnn.ids import format_sightline_id
from dla_cnn.exceptions import SightlineError
from dla_cnn.scan.detect import Calibration, DetectConfig, Detection, detect_absorbers, vote_mass_curve
from dla_cnn.sightline import Sightline

_SPEC_NAME = re.compile(r"spec-(\d+)-(\d+)-(\d+)")
_TARGET_SOURCE = re.compile(r"\[TARGETID (-?\d+)\]")


@dataclass
class Prepared:
    """A sightline ready for the model, or the reason it is not."""

    row: dict
    """SIGHTLINES row (without the detection counts)."""
    inputs: np.ndarray | None = None
    start_index: int = 0
    valid: np.ndarray | None = None
    z_range: tuple[float, float] = (np.nan, np.nan)
    sightline: Sightline | None = None
    view: object | None = None
    """:class:`~dla_cnn.absorber.crops.ExtendedView` for the absorber-level stage."""
    pred: dict | None = None
    """Per-pixel ``prob``, ``offset`` and ``log_nhi`` when the process that prepared the
    sightline already ran the per-pixel network (catalog readers on the ONNX engine)."""


@dataclass
class SightlineResult:
    """Everything the scan learned about one sightline."""

    row: dict
    detections: list[Detection] = field(default_factory=list)
    prob: np.ndarray | None = None
    votes: np.ndarray | None = None
    sightline: Sightline | None = None

    @property
    def status(self) -> str:
        return self.row["status"]

    def absorber_rows(self) -> list[dict]:
        """ABSORBERS rows of this sightline (spec section 9)."""
        keys = ("sightline_id", "plate", "mjd", "fiber", "thing_id", "targetid", "ra", "dec", "z_qso")
        base = {k: self.row[k] for k in keys}
        return [
            dict(base, z_abs=d.z_abs, z_abs_err=d.z_abs_err, log_nhi=d.log_nhi, log_nhi_err=d.log_nhi_err,
                 confidence=d.confidence, type=d.type, lambda_obs=d.lambda_obs, snr=self.row["snr"])
            for d in self.detections
        ]


def id_from_path(path: str) -> tuple[str, int, int, int]:
    """Best-effort (sightline_id, plate, mjd, fiber) from a file name."""
    m = _SPEC_NAME.search(Path(path).name)
    if m:
        plate, mjd, fiber = (int(x) for x in m.groups())
        return format_sightline_id(plate, mjd, fiber), plate, mjd, fiber
    return Path(path).name.split(".")[0], -1, -1, -1


def _base_row(sightline_id: str, file: str, plate=-1, mjd=-1, fiber=-1, ra=np.nan, dec=np.nan, z_qso=np.nan,
              thing_id=-1, targetid=-1) -> dict:
    return {"sightline_id": sightline_id, "plate": int(plate), "mjd": int(mjd), "fiber": int(fiber),
            "thing_id": int(thing_id), "targetid": int(targetid),
            "ra": float(ra), "dec": float(dec), "file": str(file), "z_qso": float(z_qso), "snr": np.nan,
            "z_min": np.nan, "z_max": np.nan, "n_dla": 0, "n_subdla": 0, "status": "ok", "message": ""}


def error_row(err: SightlineError, sightline_id: str | None = None, **ids) -> dict:
    """SIGHTLINES row for a sightline that failed (status ``error`` or ``skipped``).

    ``ids`` may give ``plate``, ``mjd``, ``fiber``, ``thing_id``, ``targetid``, ``ra``,
    ``dec`` and ``z_qso`` known from elsewhere (a quasar catalog); the rest is guessed
    from the error's source (a ``spec-PLATE-MJD-FIBER`` name, a DESI ``[TARGETID n]``).
    """
    sid, plate, mjd, fiber = id_from_path(err.source.split(":")[0].split("[")[0])
    m = _TARGET_SOURCE.search(err.source)
    targetid = int(m.group(1)) if m else -1
    if m and sightline_id is None:
        sid = str(targetid)
    row = _base_row(sightline_id or sid, err.source, ids.get("plate", plate), ids.get("mjd", mjd),
                    ids.get("fiber", fiber), ids.get("ra", np.nan), ids.get("dec", np.nan), ids.get("z_qso", np.nan),
                    ids.get("thing_id", -1), ids.get("targetid", targetid))
    row["status"] = err.status
    row["message"] = err.problem
    row["n_dla"] = row["n_subdla"] = -1  # unknown: never mistaken for "searched, none found"
    return row


def prepare(item: Sightline | SightlineError, keep_sightline: bool = False) -> Prepared:
    """Validate and normalise one sightline for the model (never raises a SightlineError)."""
    if isinstance(item, SightlineError):
        return Prepared(error_row(item))
    sl = item
    row = _base_row(sl.sightline_id, sl.provenance.get("file", ""), sl.plate, sl.mjd, sl.fiber, sl.ra, sl.dec, sl.z_qso,
                    sl.thing_id, sl.targetid)
    try:
        sl.validate()
        row["snr"] = sl.snr()
        z_min, z_max = sl.search_z_range()
        row["z_min"], row["z_max"] = z_min, z_max
        sl.check_searchable()
        view = extended_view(sl, row["snr"])
    except SightlineError as err:
        row["status"], row["message"] = err.status, err.problem
        row["n_dla"] = row["n_subdla"] = -1
        return Prepared(row, sightline=sl if keep_sightline else None)
    return Prepared(row, view.window_channels, view.window_start, view.window_valid, (z_min, z_max),
                    sl if keep_sightline else None, view)


class Scanner:
    """A loaded model plus the detection settings: turns prepared sightlines into results.

    Parameters
    ----------
    model_path : path, optional
        ``.keras`` file with its model card; the packaged pretrained model by default.
    detect : DetectConfig
        One-stage detection thresholds, ``two_stage`` (use the model's absorber-level stage
        when it has one) and ``min_confidence`` for both kinds of model.
    batch_size : int
        Sightlines per inference batch.
    engine : str, optional
        ``keras``, ``onnx`` or ``auto`` (:mod:`dla_cnn.runtime`; default: the environment's
        ``DLA_CNN_ENGINE``, else ``auto``: the ONNX graphs where the finder has them and
        onnxruntime is installed, without importing Keras).
    """

    def __init__(self, model_path: str | Path | None = None, detect: DetectConfig = DetectConfig(), batch_size: int = 128,
                 engine: str | None = None):
        from dla_cnn.absorber.load import load_stage
        from dla_cnn.assets import resolve_model
        from dla_cnn.modelcard import read_card
        from dla_cnn.runtime import choose_engine

        self.model_path = resolve_model(model_path)
        card = read_card(self.model_path)
        self.engine = choose_engine(engine, card, self.model_path)
        stage_network = None
        if self.engine == "onnx":
            from dla_cnn.runtime import load_onnx_finder

            self.card = card
            self.model, stage_network = load_onnx_finder(self.model_path, self.card)
        else:
            from dla_cnn.model import load_model

            self.model, self.card = load_model(self.model_path)
        self.calibration = Calibration.from_dict(self.card.get("calibration"))
        # the vote unit and the flux clip come from the model's card, not from this module
        self.contract = InputContract.from_card(self.card)
        self.contract.check_inputs(str(self.model_path))
        votes = self.contract.perfect_votes
        self.stage = load_stage(self.model_path, self.card, stage_network) if detect.two_stage else None
        if self.stage is not None:
            self.stage.cfg = replace(self.stage.cfg, proposal=replace(self.stage.cfg.proposal, perfect_votes=votes))
        self.detect = replace(detect, perfect_votes=votes)
        self.batch_size = batch_size
        default = self.stage.cfg.min_confidence if self.stage else 0.0
        self.min_confidence = float(default if detect.min_confidence is None else detect.min_confidence)

    def stage1_graph(self) -> str | None:
        """Path of the per-pixel ONNX graph (checked at load) on the ONNX engine, else None."""
        if self.engine != "onnx":
            return None
        return str(self.model_path.parent / self.card["onnx"]["stage1"]["file"])

    @property
    def model_name(self) -> str:
        return str(self.card.get("name", self.model_path.stem))

    @property
    def model_sha256(self) -> str:
        return str(self.card.get("sha256", ""))

    def predict(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Per-pixel prob, offset and log N_HI for a stack of windows (n, 1748, 2)."""
        if self.engine == "onnx":
            from dla_cnn.inference import predict_pixels

            return predict_pixels(self.model, inputs, self.batch_size)
        from dla_cnn.model import predict_windows

        return predict_windows(self.model, inputs, batch_size=self.batch_size)

    def scan_prepared(self, prepared: list[Prepared], keep_curves: bool = False) -> list[SightlineResult]:
        """Run the model on the ``ok`` sightlines of a batch and detect absorbers."""
        results = [SightlineResult(p.row, sightline=p.sightline) for p in prepared]
        todo = [i for i, p in enumerate(prepared) if p.inputs is not None]
        if not todo:
            return results
        if all(prepared[i].pred is not None for i in todo):
            pred = {k: np.stack([prepared[i].pred[k] for i in todo]) for k in ("prob", "offset", "log_nhi")}
        else:
            pred = self.predict(np.stack([prepared[i].inputs for i in todo]))
        if self.stage is not None:
            found = self._two_stage(prepared, todo, pred)
        else:
            found = [detect_absorbers(pred["prob"][k], pred["offset"][k], pred["log_nhi"][k], prepared[i].start_index,
                                      prepared[i].z_range, prepared[i].valid, self.detect, self.calibration)
                     for k, i in enumerate(todo)]
        for k, i in enumerate(todo):
            p = prepared[i]
            dets = [d for d in found[k] if d.confidence >= self.min_confidence]
            res = results[i]
            res.detections = dets
            res.row["n_dla"] = sum(d.type == "DLA" for d in dets)
            res.row["n_subdla"] = sum(d.type == "SUBDLA" for d in dets)
            if keep_curves:
                res.prob = pred["prob"][k]
                # the curve whose peaks were thresholded: the proposals' for a two-stage finder
                vote_cfg = self.stage.cfg.proposal if self.stage is not None else self.detect
                res.votes = vote_mass_curve(pred["prob"][k], pred["offset"][k], vote_cfg, p.valid)
        return results

    def _two_stage(self, prepared: list[Prepared], todo: list[int], pred: dict) -> list[list[Detection]]:
        """Proposals of the per-pixel network, measured and decided by the absorber-level stage."""
        views, curves, props, ranges = [], [], [], []
        for k, i in enumerate(todo):
            p = prepared[i]
            c, cur = self.stage.propose(pred["prob"][k], pred["offset"][k], pred["log_nhi"][k], p.start_index,
                                        p.z_range, p.valid)
            views.append(p.view), curves.append(cur), props.append(c), ranges.append(p.z_range)
        return self.stage.measure(views, curves, props, ranges, min_confidence=self.min_confidence)

    def scan(self, items: Iterable[Sightline | SightlineError], keep_curves: bool = False) -> Iterator[SightlineResult]:
        """Scan sightlines (or the errors of those that could not be read), batch by batch."""
        batch: list[Prepared] = []
        for item in items:
            batch.append(prepare(item, keep_sightline=keep_curves))
            if sum(p.inputs is not None for p in batch) >= self.batch_size:
                yield from self.scan_prepared(batch, keep_curves)
                batch = []
        if batch:
            yield from self.scan_prepared(batch, keep_curves)

    def catalog_meta(self, command: str = "") -> dict:
        """Provenance for catalog headers, in the form :func:`dla_cnn.catalog.write_catalog` takes."""
        d = self.detect
        if self.stage is not None:
            p = self.stage.cfg.proposal
            thresholds = {"finder": "two-stage", "min_confidence": self.min_confidence, "proposal_p_vote": p.p_vote,
                          "proposal_min_votes": p.min_votes, "merge_px": self.stage.cfg.merge_px,
                          "dla_min_log_nhi": DLA_MIN_LOG_NHI}
        else:
            thresholds = {"finder": "one-stage", "min_confidence": self.min_confidence, "p_vote": d.p_vote,
                          "min_votes": d.min_votes, "min_separation": d.min_separation,
                          "dla_min_log_nhi": DLA_MIN_LOG_NHI}
        return {"model_name": self.model_name, "model_sha256": self.model_sha256, "command": command,
                "stage2_sha256": self.stage.sha256 if self.stage is not None else None, "engine": self.engine,
                "thresholds": thresholds}
