"""Match picks to reference centres one-to-one within a radius."""

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree


def match_picks(
    picks_xy: npt.NDArray[np.floating],
    reference_xy: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    *,
    radius: float,
    method: str = "optimal",
) -> npt.NDArray[np.bool_]:
    """For each pick, whether it is matched to a distinct reference particle within ``radius``.

    ``optimal``: the assignment that maximises the number of matches, then minimises the summed
    squared distance (the convention of the peer benchmark). ``greedy``: picks in order of score
    each take the nearest free reference within the radius.
    """
    picks_xy = np.asarray(picks_xy, dtype=np.float64).reshape(-1, 2)
    reference_xy = np.asarray(reference_xy, dtype=np.float64).reshape(-1, 2)
    matched = np.zeros(len(picks_xy), dtype=bool)
    if not len(picks_xy) or not len(reference_xy):
        return matched
    tree = cKDTree(reference_xy)
    if method == "greedy":
        taken = np.zeros(len(reference_xy), dtype=bool)
        neighbours = tree.query_ball_point(picks_xy, r=radius)
        for i in np.argsort(-np.asarray(scores), kind="stable"):
            free = [j for j in neighbours[i] if not taken[j]]
            if free:
                d = np.sum((reference_xy[free] - picks_xy[i]) ** 2, axis=1)
                taken[free[int(np.argmin(d))]] = True
                matched[i] = True
        return matched
    if method != "optimal":
        raise ValueError(f"unknown matching method {method!r}")
    pairs = tree.sparse_distance_matrix(cKDTree(picks_xy), max_distance=radius, output_type="coo_matrix")
    if pairs.nnz == 0:
        return matched
    ref_idx, pick_idx = np.unique(pairs.row), np.unique(pairs.col)
    cost = np.zeros((len(pick_idx), len(ref_idx)))
    rows = np.searchsorted(pick_idx, pairs.col)
    cols = np.searchsorted(ref_idx, pairs.row)
    cost[rows, cols] = pairs.data**2 - radius**2 - 1e-9  # < 0 where within the radius
    assigned_rows, assigned_cols = linear_sum_assignment(cost)
    good = cost[assigned_rows, assigned_cols] < 0
    matched[pick_idx[assigned_rows[good]]] = True
    return matched
