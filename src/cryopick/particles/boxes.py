"""Cut particle boxes from a micrograph, normalised as RELION does.

Particle boxes from a micrograph, normalised the way RELION's extraction does: the
background (outside a circle) to mean 0 and standard deviation 1, contrast optionally inverted
so that particles are white.
"""

import numpy as np
import numpy.typing as npt


def box_corners(x_px: npt.NDArray[np.float64], y_px: npt.NDArray[np.float64], box_size_px: int) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Top-left pixel of each box, centred on the nearest pixel to each centre."""
    half = box_size_px // 2
    return np.rint(y_px).astype(np.int64) - half, np.rint(x_px).astype(np.int64) - half


def inside(shape: tuple[int, int], rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
           box_size_px: int) -> npt.NDArray[np.bool_]:
    """Boxes wholly inside the micrograph (those reaching past an edge are left out, not padded)."""
    return (rows >= 0) & (cols >= 0) & (rows + box_size_px <= shape[0]) & (cols + box_size_px <= shape[1])


def cut_boxes(image: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
              box_size_px: int) -> npt.NDArray[np.float32]:
    """(n, box, box) in one gather; every box must be inside (see :func:`inside`)."""
    offsets = np.arange(box_size_px)
    boxes: npt.NDArray[np.float32] = image[(rows[:, None, None] + offsets[None, :, None]),
                                           (cols[:, None, None] + offsets[None, None, :])]
    return boxes


def normalize_boxes(boxes: npt.NDArray[np.float32], *, background_radius_px: float,
                    invert_contrast: bool) -> npt.NDArray[np.float32]:
    """Normalise each box by its background's mean and standard deviation.

    Per box: subtract the mean of the pixels outside ``background_radius_px`` from the
    centre and divide by their standard deviation (a flat background has none: divide by 1).
    """
    size = boxes.shape[-1]
    centre = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    background = np.hypot(yy - centre, xx - centre) > background_radius_px
    if not background.any():
        background = np.ones_like(background)
    values = boxes[:, background].astype(np.float64)
    mean = values.mean(axis=1)
    std = values.std(axis=1)
    std = np.where(std > 0, std, 1.0)
    out = (boxes - mean[:, None, None]) / std[:, None, None]
    normalized: npt.NDArray[np.float32] = (-out if invert_contrast else out).astype(np.float32)
    return normalized
