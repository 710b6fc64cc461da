""""Which next?": where a label would teach the model most.

A pick the model scores near even odds is one it cannot decide; a label there (or its
rejection) settles what the model is least sure of, while one more label on a pick scored at
+8 tells it what it knew. So micrographs are ranked by the summed uncertainty of their open
picks (not yet labelled or rejected): the binary entropy of each pick's probability, in bits,
an uncertainty-sampling rule from active learning. Before any picks exist, micrographs with the
fewest labels come first, which spreads the first labels over the session.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Suggestion:
    """A micrograph's place in the order, and the picks on it the model is least sure of."""

    name: str
    uncertainty_bits: float | None  # summed entropy of its open picks; None before any picks
    n_labels: int
    regions: list[tuple[float, float]]  # the most uncertain picks, (x_orig_px, y_orig_px)


def pick_entropy_bits(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Binary entropy of each pick's probability, from its log-odds score.

    >>> pick_entropy_bits([0.0]).round(3).tolist()
    [1.0]
    """
    logits = np.asarray(scores, dtype=np.float64)
    probability = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(probability * np.log2(probability) + (1 - probability) * np.log2(1 - probability))
    return np.nan_to_num(terms, nan=0.0)


def rank_micrographs(names: list[str], n_labels: dict[str, int],
                     open_picks: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                                                 npt.NDArray[np.float64]]] | None,
                     *, regions: int = 3) -> list[Suggestion]:
    """Micrographs in the order to label them: most uncertain first, or fewest labels first.

    ``open_picks`` maps each micrograph to its open picks' ``(x_orig_px, y_orig_px, score)``;
    None when there are no picks yet.
    """
    suggestions = []
    for name in names:
        if open_picks is None:
            suggestions.append(Suggestion(name, None, n_labels[name], []))
            continue
        x, y, score = open_picks[name]
        entropy = pick_entropy_bits(score)
        top = np.argsort(-entropy, kind="stable")[:regions]
        suggestions.append(Suggestion(name, float(entropy.sum()), n_labels[name],
                                      [(float(x[i]), float(y[i])) for i in top]))
    if open_picks is None:
        return sorted(suggestions, key=lambda s: (s.n_labels, s.name))
    return sorted(suggestions, key=lambda s: (-(s.uncertainty_bits or 0.0), s.n_labels, s.name))
