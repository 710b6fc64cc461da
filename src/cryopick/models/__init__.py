"""Fully-convolutional region classifiers and their registry."""

from cryopick.models.networks import (
    MODEL_NAMES,
    PickerNet,
    RegionDecoder,
    build_model,
    dense_mode,
    receptive_field_px,
)

__all__ = ["MODEL_NAMES", "PickerNet", "RegionDecoder", "build_model", "dense_mode", "receptive_field_px"]
