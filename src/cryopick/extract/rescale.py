"""The one place coordinates move between working and original pixels.

Fourier cropping puts working pixel ``i`` exactly on original pixel ``i * factor`` (see
``cryopick.preprocess.fourier``), so the mapping is a multiplication both ways.
"""

import numpy as np
import numpy.typing as npt


def to_original_px(coord_px: npt.ArrayLike, *, downsample_factor: int) -> npt.NDArray[np.float64]:
    return np.asarray(coord_px, dtype=np.float64) * downsample_factor


def to_working_px(coord_orig_px: npt.ArrayLike, *, downsample_factor: int) -> npt.NDArray[np.float64]:
    return np.asarray(coord_orig_px, dtype=np.float64) / downsample_factor
