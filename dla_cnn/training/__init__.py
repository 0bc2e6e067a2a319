"""Training sets: absorber injection, per-pixel labels and HDF5 storage."""

from dla_cnn.training.build import RECIPE_VERSION, BuildConfig, Host, build_training_set, collect_hosts
from dla_cnn.training.dataset import TrainingSetWriter, read_attrs
from dla_cnn.training.inject import InjectionConfig, draw_injections, inject_into_sightline
from dla_cnn.training.labels import LabelConfig, absorber_centre, make_labels, pixel_to_z

__all__ = [
    "RECIPE_VERSION", "BuildConfig", "Host", "InjectionConfig", "LabelConfig", "TrainingSetWriter",
    "absorber_centre", "build_training_set", "collect_hosts", "draw_injections",
    "inject_into_sightline", "make_labels", "pixel_to_z", "read_attrs",
]
