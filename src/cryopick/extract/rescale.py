"""The one place coordinates move between working and original pixels.

Fourier cropping puts working pixel ``i`` exactly on original pixel ``i * factor`` (see
``cryopick.preprocess.fourier``), so the mapping is a multiplication both ways.
"""

import numpy as np
import numpy.typing as npt


def to_original_px(coord_px: npt.ArrayLike, *, downsample_factor: int) -> npt.NDArray[np.float64]:
    """Working-pixel coordinates in the original micrograph's pixels."""
    return np.asarray(coord_px, dtype=np.float64) * downsample_factor


def to_working_px(coord_orig_px: npt.ArrayLike, *, downsample_factor: int) -> npt.NDArray[np.float64]:
    """Original-pixel coordinates in working (downsampled) pixels."""
    return np.asarray(coord_orig_px, dtype=np.float64) / downsample_factor


def grid_to_working_px(index: npt.ArrayLike, *, stride_px: int) -> npt.NDArray[np.float64]:
    """Map a strided score grid's indices back to working pixels.

    Working pixels of a score grid's row or column index: scoring every ``stride_px``-th
    pixel puts grid index ``i`` on working pixel ``i * stride_px``.
    """
    return np.asarray(index, dtype=np.float64) * stride_px


def working_to_grid_px(length_px: float, *, stride_px: int) -> float:
    """A length in working pixels (e.g. the NMS radius) measured on the score grid."""
    return length_px / stride_px
