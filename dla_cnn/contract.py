"""The input contract between a model and the code that feeds and reads it.

What a trained per-pixel model expects of its inputs, and what its outputs mean, is a
property of the model, recorded in its card (``card["input_contract"]``):

* ``flux_clip``: the normalised flux is clipped to this range before it enters the network
  (channel 0 of :func:`dla_cnn.sightline.window_channels`);
* ``label_radius_px``: pixels within this distance of an absorber were labelled positive in
  training, so a perfectly detected absorber collects ``2 * radius + 1`` votes (121 for the
  default 60 px), the unit of the vote mass that :mod:`dla_cnn.scan.detect` thresholds.

Cards written before the contract was recorded carry the label radius in their training set's
configuration, and the flux clip then was the present default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dla_cnn.exceptions import AssetError

#: Normalised-flux range fed to the network (the readers' and the training sets' default).
FLUX_CLIP: tuple[float, float] = (-2.0, 4.0)
#: Half-width, in pixels, of the positive label around an absorber centre.
LABEL_RADIUS_PX: int = 60


@dataclass(frozen=True)
class InputContract:
    """What a per-pixel model expects of its inputs and what its votes mean.

    Parameters
    ----------
    flux_clip : (float, float)
        Normalised-flux range of input channel 0.
    label_radius_px : int
        Positive-label half-width used in training, pixels.
    """

    flux_clip: tuple[float, float] = FLUX_CLIP
    label_radius_px: int = LABEL_RADIUS_PX

    @property
    def perfect_votes(self) -> float:
        """Votes of a perfectly detected absorber: every pixel within the label radius."""
        return float(2 * self.label_radius_px + 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for a model card."""
        return {"flux_clip": [float(v) for v in self.flux_clip], "label_radius_px": int(self.label_radius_px)}

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> "InputContract":
        """The contract a model card records (older cards: their training set's label radius).

        Parameters
        ----------
        card : mapping
            A model card (:func:`dla_cnn.model.read_card`).

        Returns
        -------
        InputContract
        """
        section = card.get("input_contract")
        if section:
            return cls(tuple(float(v) for v in section["flux_clip"]), int(section["label_radius_px"]))
        labels = ((card.get("training_set") or {}).get("config") or {}).get("labels") or {}
        return cls(FLUX_CLIP, int(labels.get("radius", LABEL_RADIUS_PX)))

    def check_inputs(self, where: str) -> None:
        """Raise if this version's input preparation cannot give the model what it expects.

        The readers clip the flux to :data:`FLUX_CLIP` while preparing a sightline (in
        worker processes, before any model is known), so a model trained with another clip
        would be fed the wrong inputs: a run-wide :class:`~dla_cnn.exceptions.AssetError`.
        """
        if tuple(self.flux_clip) != FLUX_CLIP:
            raise AssetError(f"{where}: the model expects the flux clipped to {list(self.flux_clip)}, "
                             f"this dla-cnn prepares {list(FLUX_CLIP)}")
