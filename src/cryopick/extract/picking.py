"""Turn a score map into picks in original pixels.

A score map to picks in original pixels: non-maximum suppression on the strided grid, then
back through working pixels to the original micrograph's.
"""

import numpy as np
import numpy.typing as npt

from cryopick.extract.nms import non_maximum_suppression
from cryopick.extract.rescale import grid_to_working_px, to_original_px, working_to_grid_px


def peaks_working_px(score_map: npt.NDArray[np.float32], *, score_stride_px: int, nms_radius_px: float,
                     threshold: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Peaks of one strided score map: (centres as (x, y) in working px, scores), best first.

    The one path from a map scored every ``score_stride_px`` working pixels to picks, shared by
    extract and by training's held-out scoring and calibration, so they pick alike.
    """
    radius_grid_px = working_to_grid_px(nms_radius_px, stride_px=score_stride_px)
    rows, cols, values = non_maximum_suppression(score_map, radius_px=radius_grid_px, threshold=threshold)
    centres_xy = np.stack([grid_to_working_px(cols, stride_px=score_stride_px),
                           grid_to_working_px(rows, stride_px=score_stride_px)], axis=1)
    return centres_xy, values.astype(np.float64)


def peaks_orig_px(score_map: npt.NDArray[np.float32], *, score_stride_px: int, nms_radius_px: float,
                  threshold: float, downsample_factor: int) -> dict[str, npt.NDArray[np.float64]]:
    """Picks of one strided score map, in original pixels.

    Peaks of a map scored every ``score_stride_px`` working pixels, as ``x_orig_px``,
    ``y_orig_px`` and ``score`` arrays, best first.
    """
    centres_xy, scores = peaks_working_px(score_map, score_stride_px=score_stride_px, nms_radius_px=nms_radius_px,
                                          threshold=threshold)
    return {"x_orig_px": to_original_px(centres_xy[:, 0], downsample_factor=downsample_factor),
            "y_orig_px": to_original_px(centres_xy[:, 1], downsample_factor=downsample_factor),
            "score": scores}
