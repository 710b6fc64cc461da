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

from cryopick.pixels import disc_offsets


def _window_maximum(values: npt.NDArray[np.signedinteger], size: int, axis: int) -> npt.NDArray[np.signedinteger]:
    """Maximum over each run of ``size`` along ``axis`` (``size - 1`` shorter), by doubling: log2(size) passes."""

    def cut(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(start, stop),)

    width = 1
    while 2 * width <= size:
        values = np.maximum(values[cut(None, -width)], values[cut(width, None)])
        width *= 2
    if width < size:  # two overlapping runs of ``width`` cover one of ``size``
        values = np.maximum(values[cut(None, width - size)], values[cut(size - width, None)])
    return values


def _square_maximum(values: npt.NDArray[np.signedinteger], size: int) -> npt.NDArray[np.signedinteger]:
    """Maximum over the ``size`` x ``size`` square around each pixel (outside counts as 0; values >= 0).

    scipy.ndimage's maximum filter gives the same, but importing it costs 0.25 s of every
    extract's start.
    """
    padded = np.pad(values, size // 2)
    return _window_maximum(_window_maximum(padded, size, axis=0), size, axis=1)


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
    rank_dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64  # half the memory traffic per round
    rank = np.zeros(n, dtype=rank_dtype)
    rank[order] = np.arange(n, 0, -1)  # best pixel gets n; ties: earlier position wins
    rank[~candidate] = 0  # 0: inactive
    offsets = disc_offsets(radius_px)
    reach = int(np.floor(radius_px))
    square = 2 * int(np.floor(radius_px / np.sqrt(2))) + 1
    # active ranks, padded by the disc's reach with zeros so gathers need no bounds checks
    padded = np.zeros((rows + 2 * reach, cols + 2 * reach), dtype=rank_dtype)
    active = padded[reach: reach + rows, reach: reach + cols]
    active[...] = rank.reshape(rows, cols)
    chosen = []
    while True:
        square_best = _square_maximum(active, square)
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
