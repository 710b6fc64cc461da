import numpy as np
import pytest

from cryopick.evaluate.matching import match_picks
from cryopick.evaluate.metrics import precision_recall


def test_average_precision_by_hand() -> None:
    # ranked hits: 1, 0, 1, 0 against 4 reference particles
    curve = precision_recall(np.array([0.9, 0.8, 0.7, 0.6]), np.array([True, False, True, False]), n_reference=4)
    np.testing.assert_allclose(curve.precision, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(curve.recall, [0.25, 0.25, 0.5, 0.5])
    assert curve.average_precision == pytest.approx(1 * 0.25 + (2 / 3) * 0.25)
    assert curve.f1[curve.best_f1_index] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_matching_is_one_to_one_within_the_radius() -> None:
    reference = np.array([[10.0, 10.0], [30.0, 10.0]])
    picks = np.array([[11.0, 10.0], [9.0, 10.0], [50.0, 50.0], [24.0, 10.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    for method in ("optimal", "greedy"):
        matched = match_picks(picks, reference, scores, radius=7, method=method)
        assert matched.tolist() == [True, False, False, True]


def test_optimal_matching_maximises_the_number_of_matches() -> None:
    # the best-scored pick sits between two references; greedy takes the nearer one and leaves the
    # second pick without a partner, the optimal assignment matches both
    reference = np.array([[0.0, 0.0], [6.0, 0.0]])
    picks = np.array([[2.5, 0.0], [-2.0, 0.0]])
    scores = np.array([1.0, 0.5])
    assert match_picks(picks, reference, scores, radius=4, method="greedy").tolist() == [True, False]
    assert match_picks(picks, reference, scores, radius=4, method="optimal").tolist() == [True, True]
