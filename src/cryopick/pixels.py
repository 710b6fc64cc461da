"""Pixel-grid geometry shared by labelling and non-maximum suppression.

Labelling (which pixels a label marks) and non-maximum suppression (which pixels a pick
suppresses) use the same disc.
"""

import numpy as np
import numpy.typing as npt


def disc_offsets(radius_px: float) -> npt.NDArray[np.int64]:
    """Integer (dy, dx) offsets within ``radius_px`` of a centre, as an (n, 2) array."""
    reach = int(np.floor(radius_px))
    dy, dx = np.mgrid[-reach: reach + 1, -reach: reach + 1]
    inside = dy**2 + dx**2 <= radius_px**2
    return np.stack([dy[inside], dx[inside]], axis=1).astype(np.int64)
