"""Scanning: model outputs -> absorbers -> catalogs."""

from dla_cnn.scan.detect import Calibration, DetectConfig, Detection, detect_absorbers

__all__ = ["Calibration", "DetectConfig", "Detection", "detect_absorbers"]
