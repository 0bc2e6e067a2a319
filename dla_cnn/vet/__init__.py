"""Vet a catalog against a list of true absorbers (the ``dla-cnn vet`` backend).

Three steps:

1. :func:`read_truth` / :func:`normalise_truth` turn a truth list into one table with
   columns ``sightline_id``, ``z_abs``, ``log_nhi`` (log10 cm^-2) and, when the source
   has them, ``z_qso``, ``snr``, ``b`` (km/s) and ``confidence``.
2. :func:`match` pairs detections with true absorbers on the same sightline.
3. :func:`vet` computes the metrics of the specification's validation section into a
   :class:`VetReport`; :func:`vet_plots` draws them.

:func:`reliability` and :func:`expected_calibration_error` check whether the catalog's
``confidence`` behaves as the probability that a detection is real; :func:`vet` applies
them to its detections.

Modules
-------
* :mod:`~dla_cnn.vet.truth` -- the truth formats (a registry: identify + normalise per
  format, asked in order of priority), :func:`read_truth`, :func:`normalise_truth`;
  :mod:`~dla_cnn.vet.truth_columns` -- the column aliases and the shared normaliser;
* :mod:`~dla_cnn.vet.matching` -- :func:`match`;
* :mod:`~dla_cnn.vet.metrics` -- binned rates, residual statistics, reliability,
  expected calibration error, completeness and purity against a confidence threshold;
* :mod:`~dla_cnn.vet.ceiling` -- :func:`typing_ceiling`, :func:`sigma_for_completeness`:
  the completeness and purity a given log N_HI scatter allows when rows are typed by
  their measured column;
* :mod:`~dla_cnn.vet.report` -- :class:`VetReport`;
* :mod:`~dla_cnn.vet.evaluate` -- :func:`vet`, :func:`vet_files`;
* the figures are in :mod:`dla_cnn.plots.vet` (:func:`vet_plots`, imported on first use
  so that vetting does not load matplotlib).

Definitions used throughout
---------------------------
* A detection of type ``LYB`` is left out of matching, purity and false positives;
  LYB counts are reported on their own.
* A non-LYB detection is a *predicted DLA* when its ``log_nhi >= dla_min`` (its
  catalog ``type`` when ``log_nhi`` is NaN), otherwise a *predicted SUBDLA*.
* A *true DLA* has ``log_nhi >= dla_min``; a *true sub-DLA* has
  ``subdla_min <= log_nhi < dla_min``.
* Only sightlines with ``status == "ok"`` count.  True absorbers on sightlines that
  are missing from the catalog or not ``ok`` are counted apart, never as misses.
* ``dz = z_pred - z_true`` and ``dlogn = log_nhi_pred - log_nhi_true``.
* Scatter is given as the standard deviation (``ddof=0``) and as the robust
  ``1.4826 * MAD`` (median absolute deviation from the median).
* The confidence threshold ``t`` keeps detections with ``confidence >= t``; a true
  DLA is recovered at ``t`` when the detection matched to it (with all detections)
  passes ``t``.
* For the reliability diagram a detection is *real* when :func:`match` pairs it with a
  true absorber of any log N_HI (so a second detection of one absorber is not real).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dla_cnn.vet._common import canonical_ids
from dla_cnn.vet.evaluate import vet, vet_files
from dla_cnn.vet.matching import match
from dla_cnn.vet.metrics import (
    NHI_BINS,
    RELIABILITY_BINS,
    RELIABILITY_LEVEL,
    SNR_BINS,
    expected_calibration_error,
    reliability,
)
from dla_cnn.vet.ceiling import TypingCeiling, sigma_for_completeness, typing_ceiling
from dla_cnn.vet.report import CONFUSION_LABELS, VetReport
from dla_cnn.vet.truth import (
    GP_MIN_CONFIDENCE,  # noqa: F401  (a module constant of dla_cnn.vet, outside __all__)
    TRUTH_FORMATS,
    detect_truth_format,
    normalise_truth,
    read_truth,
)

if TYPE_CHECKING:
    from dla_cnn.plots.vet import vet_plots

__all__ = [
    "CONFUSION_LABELS",
    "NHI_BINS",
    "RELIABILITY_BINS",
    "RELIABILITY_LEVEL",
    "SNR_BINS",
    "TRUTH_FORMATS",
    "TypingCeiling",
    "VetReport",
    "canonical_ids",
    "detect_truth_format",
    "expected_calibration_error",
    "match",
    "normalise_truth",
    "read_truth",
    "reliability",
    "sigma_for_completeness",
    "typing_ceiling",
    "vet",
    "vet_files",
    "vet_plots",
]


def __getattr__(name: str) -> Any:
    """``vet_plots``, imported from :mod:`dla_cnn.plots.vet` when first asked for."""
    # importing it on first use keeps ``import dla_cnn.vet`` free of matplotlib and of
    # an import cycle with dla_cnn.plots, which imports from dla_cnn.vet
    if name == "vet_plots":
        from dla_cnn.plots.vet import vet_plots

        return vet_plots
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
