"""Fully-convolutional region classifiers and their registry."""

from cryopick.config import MAX_INPUT_POOL
from cryopick.models.networks import (
    CONTEXT_DIAMETERS,
    MODEL_NAMES,
    InputPool,
    PickerNet,
    RegionDecoder,
    architecture_receptive_fields_px,
    build_model,
    choose_architecture,
    choose_input_pool,
    dense_mode,
    pool_blocks,
    receptive_field_px,
    with_input_pool,
)

__all__ = [
    "CONTEXT_DIAMETERS", "MAX_INPUT_POOL", "MODEL_NAMES", "InputPool", "PickerNet", "RegionDecoder",
    "architecture_receptive_fields_px", "build_model", "choose_architecture", "choose_input_pool", "dense_mode",
    "pool_blocks", "receptive_field_px", "with_input_pool",
]
