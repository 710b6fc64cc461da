"""Fully-convolutional region classifiers and their registry."""

from cryopick.models.networks import (
    CONTEXT_DIAMETERS,
    MODEL_NAMES,
    PickerNet,
    RegionDecoder,
    architecture_receptive_fields_px,
    build_model,
    choose_architecture,
    dense_mode,
    receptive_field_px,
)

__all__ = [
    "CONTEXT_DIAMETERS", "MODEL_NAMES", "PickerNet", "RegionDecoder", "architecture_receptive_fields_px",
    "build_model", "choose_architecture", "dense_mode", "receptive_field_px",
]
