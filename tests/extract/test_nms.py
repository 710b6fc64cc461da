import numpy as np
import pytest
from scipy import ndimage

from cryopick.extract.nms import _square_maximum, non_maximum_suppression


def _brute_force(scores: np.ndarray, radius_px: float, threshold: float) -> list[tuple[int, int]]:
    """The plain greedy loop: take the best remaining pixel, suppress its disc, repeat."""
    rows, cols = np.mgrid[: scores.shape[0], : scores.shape[1]]
    alive = scores >= threshold
    picked = []
    order = np.lexsort((np.arange(scores.size), -scores.ravel()))
    for flat in order:
        y, x = divmod(int(flat), scores.shape[1])
        if not alive[y, x]:
            continue
        picked.append((y, x))
        alive &= (rows - y) ** 2 + (cols - x) ** 2 > radius_px**2
    return picked


@pytest.mark.parametrize(("shape", "size"), [((7, 9), 1), ((7, 9), 3), ((5, 4), 9), ((40, 37), 5), ((64, 50), 17)])
def test_square_maximum_is_scipys_maximum_filter(shape: tuple[int, int], size: int) -> None:
    values = np.random.default_rng(size).integers(0, 1000, size=shape).astype(np.int32)
    expected = ndimage.maximum_filter(values, size=size, mode="constant", cval=0)
    np.testing.assert_array_equal(_square_maximum(values, size), expected)


@pytest.mark.parametrize(("seed", "radius", "threshold"), [(0, 3.0, -np.inf), (1, 5.5, 0.0), (2, 1.0, 0.5)])
def test_matches_the_greedy_loop(seed: int, radius: float, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((40, 37)).astype(np.float32)
    rows, cols, values = non_maximum_suppression(scores, radius_px=radius, threshold=threshold)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == _brute_force(scores, radius, threshold)
    assert np.all(np.diff(values) <= 0)


def test_ties_and_smooth_ramps_match_the_greedy_loop() -> None:
    ramp = np.add.outer(np.arange(20.0), np.arange(25.0))
    plateau = np.round(np.random.default_rng(5).standard_normal((20, 25)))  # many exact ties
    for scores in (ramp, plateau):
        rows, cols, _ = non_maximum_suppression(scores, radius_px=4, threshold=-np.inf)
        assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == _brute_force(scores, 4, -np.inf)


def test_nothing_above_threshold() -> None:
    rows, _, values = non_maximum_suppression(np.zeros((5, 5)), radius_px=2, threshold=1)
    assert len(rows) == 0
    assert len(values) == 0
