"""Non-maximum suppression, exact and vectorised.

Greedy NMS (take the best pixel, suppress its disc, repeat) selects exactly the pixels that, in
some round, are the best of the still-active pixels within their own disc; all such pixels of a
round can be taken at once (ranks are unique: score, ties broken by position). Per round:
a separable maximum filter over the disc's inscribed square finds a few candidates cheaply
(a disc winner must win its inscribed square), each candidate is checked against its whole disc,
and the winners' discs are switched off by scattering offsets. The result equals the
pixel-by-pixel loop, which the tests check.
"""

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from cryopick.pixels import disc_offsets


def non_maximum_suppression(
    scores: npt.NDArray[np.floating], *, radius_px: float, threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Non-maximum suppression: the local peaks of a score map.

    Peaks of ``scores`` (rows, cols) more than ``radius_px`` apart and >= ``threshold``, as
    (rows, cols, scores), best first.
    """
    if not radius_px > 0:
        raise ValueError(f"radius_px must be positive, got {radius_px}")
    scores = np.asarray(scores)
    rows, cols = scores.shape
    flat = scores.ravel()
    n = flat.size
    candidate = np.isfinite(flat) & (flat >= threshold)
    if not candidate.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    order = np.lexsort((np.arange(n), -np.where(candidate, flat, -np.inf)))
    rank = np.zeros(n, dtype=np.int64)
    rank[order] = np.arange(n, 0, -1)  # best pixel gets n; ties: earlier position wins
    rank[~candidate] = 0  # 0: inactive
    offsets = disc_offsets(radius_px)
    reach = int(np.floor(radius_px))
    square = 2 * int(np.floor(radius_px / np.sqrt(2))) + 1
    # active ranks, padded by the disc's reach with zeros so gathers need no bounds checks
    padded = np.zeros((rows + 2 * reach, cols + 2 * reach), dtype=np.int64)
    active = padded[reach: reach + rows, reach: reach + cols]
    active[...] = rank.reshape(rows, cols)
    chosen = []
    while True:
        square_best = ndimage.maximum_filter(active, size=square, mode="constant", cval=0)
        cand = np.flatnonzero((active > 0) & (active == square_best))
        if not len(cand):
            break
        cy, cx = np.divmod(cand, cols)
        neighbourhood = padded[cy[:, None] + reach + offsets[None, :, 0], cx[:, None] + reach + offsets[None, :, 1]]
        winner = neighbourhood.max(axis=1) <= active[cy, cx]
        wy, wx = cy[winner], cx[winner]
        chosen.append(wy * cols + wx)
        padded[wy[:, None] + reach + offsets[None, :, 0], wx[:, None] + reach + offsets[None, :, 1]] = 0
    picked = np.concatenate(chosen)
    picked = picked[np.argsort(-rank[picked], kind="stable")]
    out_rows, out_cols = np.divmod(picked, cols)
    return out_rows.astype(np.int64), out_cols.astype(np.int64), flat[picked].astype(np.float32)
