import numpy as np
import pytest

from cryopick.extract.selection import select_picks
from cryopick.picks import Picks


def test_min_score_then_top_k_per_micrograph() -> None:
    picks = Picks.build(["a"] * 4 + ["b"] * 3, np.arange(7), np.arange(7), [5, -1, 3, 0.5, 2, 9, -4])
    assert select_picks(picks, min_score=0.5).score.tolist() == [5, 3, 0.5, 2, 9]
    top = select_picks(picks, min_score=0, top_k_per_micrograph=2)
    assert sorted(top.score.tolist()) == [2, 3, 5, 9]
    assert len(select_picks(picks)) == 7


def test_unscored_picks_cannot_be_thresholded() -> None:
    with pytest.raises(ValueError, match="no scores"):
        select_picks(Picks.build(["a"], [1], [1]), top_k_per_micrograph=1)
