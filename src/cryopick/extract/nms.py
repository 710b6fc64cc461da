"""Non-maximum suppression, exact and vectorised.

Greedy NMS (take the best pixel, suppress its disc, repeat) selects exactly the pixels that, in
some round, are the best of the still-active pixels within their own disc; all such pixels of a
round can be taken at once. Each round is one disc-shaped maximum filter over integer priorities
(rank by score, ties broken by position), so the result equals the pixel-by-pixel loop.
"""

import numpy as np
import numpy.typing as npt
from scipy import ndimage


def disc_footprint(radius_px: float) -> npt.NDArray[np.bool_]:
    reach = int(np.floor(radius_px))
    dy, dx = np.mgrid[-reach: reach + 1, -reach: reach + 1]
    return (dy**2 + dx**2) <= radius_px**2


def non_maximum_suppression(
    scores: npt.NDArray[np.floating], *, radius_px: float, threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Peaks of ``scores`` (rows, cols) at least ``radius_px`` apart (strictly more than the
    radius) and >= ``threshold``, as (rows, cols, scores), best first."""
    if radius_px <= 0:
        raise ValueError(f"radius_px must be positive, got {radius_px}")
    scores = np.asarray(scores)
    flat = scores.ravel()
    n = flat.size
    candidate = np.isfinite(flat) & (flat >= threshold)
    if not candidate.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    order = np.lexsort((np.arange(n), -np.where(candidate, flat, -np.inf)))
    priority = np.zeros(n, dtype=np.int64)
    priority[order] = np.arange(n, 0, -1)  # best pixel gets n; ties: earlier position wins
    priority[~candidate] = 0
    priority = priority.reshape(scores.shape)
    footprint = disc_footprint(radius_px)
    active = priority > 0
    chosen = []
    while active.any():
        current = np.where(active, priority, 0)
        local_best = ndimage.maximum_filter(current, footprint=footprint, mode="constant", cval=0)
        winners = active & (current == local_best)
        chosen.append(np.flatnonzero(winners))
        active &= ~ndimage.binary_dilation(winners, structure=footprint)
    picked = np.concatenate(chosen)
    picked = picked[np.argsort(-priority.ravel()[picked], kind="stable")]
    rows, cols = np.unravel_index(picked, scores.shape)
    return rows.astype(np.int64), cols.astype(np.int64), flat[picked].astype(np.float32)
