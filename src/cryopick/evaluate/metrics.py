"""Precision, recall, F1 against the score threshold, and average precision."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class PrecisionRecall:
    thresholds: npt.NDArray[np.float64]  # score of each pick, best first
    precision: npt.NDArray[np.float64]  # keeping picks with score >= threshold
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]
    average_precision: float
    n_picks: int
    n_reference: int

    @property
    def best_f1_index(self) -> int:
        return int(np.argmax(self.f1)) if len(self.f1) else -1


def precision_recall(
    scores: npt.NDArray[np.floating], matched: npt.NDArray[np.bool_], *, n_reference: int
) -> PrecisionRecall:
    """Rank picks by score; recall counts against every reference particle, so missed ones cap
    it below 1. AP is the sum of precision times each step in recall."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    hits = np.asarray(matched, dtype=np.float64)[order]
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1) if len(hits) else np.zeros(0)
    recall = true_positives / n_reference if n_reference else np.zeros(len(hits))
    ap = float(np.sum(precision * np.diff(np.concatenate([[0.0], recall])))) if len(hits) else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return PrecisionRecall(scores[order], precision, recall, f1, ap, len(hits), n_reference)
