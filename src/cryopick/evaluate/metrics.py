"""Precision, recall, F1 against the score threshold, and average precision."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cryopick.evaluate.matching import match_picks
from cryopick.picks import Picks


@dataclass(frozen=True)
class PrecisionRecall:
    """Precision, recall and F1 at every threshold, with the average precision."""

    thresholds: npt.NDArray[np.float64]  # score of each pick, best first
    precision: npt.NDArray[np.float64]  # keeping picks with score >= threshold
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]
    average_precision: float
    n_picks: int
    n_reference: int

    @property
    def best_f1_index(self) -> int:
        """Index of the threshold with the best F1; -1 when there are no picks."""
        return int(np.argmax(self.f1)) if len(self.f1) else -1


def precision_recall(
    scores: npt.ArrayLike, matched: npt.NDArray[np.bool_], *, n_reference: int
) -> PrecisionRecall:
    """Precision-recall curve and average precision of matched picks.

    Rank picks by score; recall counts against every reference particle, so missed ones cap
    it below 1. AP is the sum of precision times each step in recall.
    """
    values = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    hits = np.asarray(matched, dtype=np.float64)[order]
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1) if len(hits) else np.zeros(0)
    recall = true_positives / n_reference if n_reference else np.zeros(len(hits))
    ap = float(np.sum(precision * np.diff(np.concatenate([[0.0], recall])))) if len(hits) else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return PrecisionRecall(values[order], precision, recall, f1, ap, len(hits), n_reference)


@dataclass(frozen=True)
class Agreement:
    """Picks scored against a reference: which matched, and the curve they make."""

    picks: Picks  # the picks on micrographs the reference covers
    matched: npt.NDArray[np.bool_]  # per pick in ``picks``
    curve: PrecisionRecall
    n_ignored: int  # picks on micrographs the reference does not cover


def agreement(reference: Picks, picks: Picks, *, radius_orig_px: float, method: str = "optimal") -> Agreement:
    """Score picks against a reference, micrograph by micrograph.

    Match micrograph by micrograph; picks on micrographs absent from the reference are left
    out (the reference says nothing about them). Picks without scores rank equal.
    """
    reference_names = reference.micrographs()
    on_reference = np.isin(picks.micrograph, reference_names)
    kept = picks.select(on_reference)
    scores = kept.score if kept.has_scores else np.zeros(len(kept))
    matched = np.zeros(len(kept), dtype=bool)
    for name in reference_names:
        mine = np.flatnonzero(kept.micrograph == name)
        truth = reference.for_micrograph(name)
        matched[mine] = match_picks(
            np.stack([kept.x_orig_px[mine], kept.y_orig_px[mine]], axis=1),
            np.stack([truth.x_orig_px, truth.y_orig_px], axis=1),
            scores[mine], radius=radius_orig_px, method=method,
        )
    curve = precision_recall(scores, matched, n_reference=len(reference))
    return Agreement(kept, matched, curve, int((~on_reference).sum()))
