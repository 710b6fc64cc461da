"""Keep the picks worth keeping: above a score, or the best K on each micrograph."""

import numpy as np

from cryopick.picks import Picks


def select_picks(picks: Picks, *, min_score: float | None = None, top_k_per_micrograph: int | None = None) -> Picks:
    """Both criteria may apply (score first). Picks without a score have none to rank by."""
    keep = np.ones(len(picks), dtype=bool)
    if (min_score is not None or top_k_per_micrograph is not None) and len(picks) and not picks.has_scores:
        raise ValueError("these picks carry no scores to threshold")
    if min_score is not None:
        keep &= picks.score >= min_score
    if top_k_per_micrograph is not None:
        ranked = np.zeros(len(picks), dtype=bool)
        for name in picks.micrographs():
            rows = np.flatnonzero((picks.micrograph == name) & keep)
            best_first = rows[np.argsort(-picks.score[rows], kind="stable")]
            ranked[best_first[:top_k_per_micrograph]] = True
        keep &= ranked
    return picks.select(keep)
