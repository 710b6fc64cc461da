"""Precision, recall and F1 of picks at every threshold, estimated without a reference.

A pick's score is the network's log-likelihood ratio, but GE training only asks the *average*
probability over unlabelled regions to match the prior, so ``sigmoid(score)`` is not the chance
that a pick is a particle. The calibration here makes it one, from two facts the user gave:

- the labelled particles are a random sample of all particles (PU's "selected completely at
  random"), so on labelled micrographs the chance that a pick is labelled is ``c * p(s)``, where
  ``p(s) = sigmoid(slope * s + intercept)`` is the chance that a pick scoring ``s`` is a particle
  and ``c`` the labelled share of all particles (labels / expected count). Fitting that by maximum
  likelihood gives the slope: how fast the odds grow with the score;
- the expected count per micrograph (``-n``): the average over the dataset. A set of picks
  holds ``-n`` x micrographs x ``r`` particles, where ``r`` says how much denser these micrographs
  are than a sample of the dataset's, as the model sees them: with the probabilities fitted on
  the labelled micrographs, ``r`` times the particles multiplies every pick's odds by ``r``, and
  the sum of probabilities over the picks must then be ``r`` times the sample's (their own bias
  cancels in the ratio). The intercept is then set so that the probabilities add up to the count.
  Micrographs differ: on two simulated sets the test micrographs held 12% and 23% more particles
  than ``-n``, and ``r`` found 12% and 24% more (``bench/threshold.py``, the default command).

Then, keeping picks with score >= t, the expected true picks are ``TP(t) = sum of p`` over them:
precision ``TP(t) / picks(t)``, recall ``TP(t) / expected count``, F1 ``2 TP / (picks + count)``.
The band is the 5-95% spread over bootstrap resamples of the micrographs (the picked ones, and
the labelled ones the slope was fitted on). Measured against references on five sets
(``bench/threshold.py``): close when ``-n`` is right for the dataset; it is only as good as ``-n``.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: The version of model.json's ``score_calibration`` record this code reads and writes.
RECORD_VERSION = 1
#: Thresholds are evaluated on a grid this fine (score units): finer than any choice needs.
GRID_STEP = 0.05
#: Bootstrap resamples for the band, and its percentiles.
N_BOOTSTRAP = 100
BAND_PERCENTILES = (5.0, 95.0)


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _binned(scores: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Grid centres covering ``scores`` and each score's bin: fits on bins cost the same for any number of picks."""
    low = np.floor(float(np.min(scores)) / GRID_STEP)
    index = (np.floor(scores / GRID_STEP) - low).astype(np.int64)
    centres = (low + np.arange(int(index.max()) + 1) + 0.5) * GRID_STEP
    return centres, index


def _fit_counts(centres: npt.NDArray[np.float64], picks: npt.NDArray[np.float64], labelled: npt.NDArray[np.float64],
                labelled_share: float) -> tuple[float, float]:
    """Maximum likelihood of the binomial ``labelled`` of ``picks`` at each score, as in :func:`fit_slope`."""
    from scipy.optimize import minimize  # here: 0.3 s to import, and `extract` only applies a fitted calibration

    keep = picks > 0
    s, n, k = centres[keep], picks[keep], labelled[keep]

    def objective(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        slope, intercept = np.exp(theta[0]), theta[1]
        p = _sigmoid(slope * s + intercept)
        q = np.clip(labelled_share * p, 1e-12, 1 - 1e-12)
        nll = -np.sum(k * np.log(q) + (n - k) * np.log1p(-q))
        dz = -(k / q - (n - k) / (1 - q)) * labelled_share * p * (1 - p)  # d nll / d (slope * s + intercept)
        return float(nll), np.array([float(np.sum(dz * s) * slope), float(np.sum(dz))])

    result = minimize(objective, np.array([0.0, 0.0]), jac=True, method="L-BFGS-B",
                      bounds=[(np.log(1e-3), np.log(1e3)), (-100.0, 100.0)])
    return float(np.exp(result.x[0])), float(result.x[1])


def _check(scores: npt.NDArray[np.float64], labelled: npt.NDArray[np.bool_], labelled_share: float) -> None:
    if not 0 < labelled_share < 1:
        raise ValueError(f"the labelled share of particles must be in (0, 1), got {labelled_share}")
    if not len(scores) or not labelled.any():
        raise ValueError("no labelled pick to fit the score calibration on")


def fit_slope(scores: npt.ArrayLike, labelled: npt.ArrayLike, *, labelled_share: float) -> tuple[float, float]:
    """(slope, intercept) of ``P(labelled | score s) = labelled_share * sigmoid(slope * s + intercept)``.

    ``scores``: every pick on labelled micrographs; ``labelled``: whether it matched a labelled
    particle; ``labelled_share``: labels / the expected number of particles on those micrographs.
    Maximum likelihood on scores binned every ``GRID_STEP``, the slope kept positive (a higher
    score never means a lower chance).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labelled, dtype=bool)
    _check(s, y, labelled_share)
    centres, index = _binned(s)
    picks = np.bincount(index, minlength=len(centres)).astype(np.float64)
    hits = np.bincount(index, weights=y.astype(np.float64), minlength=len(centres)).astype(np.float64)
    return _fit_counts(centres, picks, hits, labelled_share)


def slope_replicates(scores: npt.ArrayLike, labelled: npt.ArrayLike, micrograph: npt.ArrayLike, *,
                     labelled_share: float, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> list[float]:
    """The slope refitted on bootstrap resamples of the labelled micrographs (its uncertainty)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labelled, dtype=bool)
    _check(s, y, labelled_share)
    names, group = np.unique(np.asarray(micrograph), return_inverse=True)
    centres, index = _binned(s)
    picks = np.zeros((len(names), len(centres)))
    hits = np.zeros((len(names), len(centres)))
    np.add.at(picks, (group, index), 1.0)
    np.add.at(hits, (group, index), y.astype(np.float64))
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_bootstrap):
        rows = rng.integers(0, len(names), len(names))
        if hits[rows].sum() > 0:
            slopes.append(_fit_counts(centres, picks[rows].sum(0), hits[rows].sum(0), labelled_share)[0])
    return slopes


def level_intercept(counts: npt.NDArray[np.float64], centres: npt.NDArray[np.float64], *, slope: float,
                    expected_particles: float) -> float:
    """The intercept that makes the picks' probabilities add up to ``expected_particles``.

    ``counts`` picks at score ``centres`` (a histogram). When the picks are fewer than the
    expected particles, every pick gets probability ~1 (the intercept saturates).
    """
    return float(_level_intercepts(np.asarray(counts, dtype=np.float64)[None], centres, np.array([slope]),
                                   np.array([expected_particles]))[0])


def _level_intercepts(counts: npt.NDArray[np.float64], centres: npt.NDArray[np.float64],
                      slopes: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`level_intercept` of each row of ``counts``, with its slope and count, all at once.

    A bootstrap's resamples then cost one bisection, not one each.
    """
    target = np.minimum(expected, counts.sum(axis=1) * (1 - 1e-9))
    low = -60.0 - slopes * float(np.max(centres, initial=0))
    high = 60.0 - slopes * float(np.min(centres, initial=0))
    log_odds = slopes[:, None] * centres[None, :]
    for _ in range(80):  # bisection: each row's sum rises monotonically with its intercept
        middle = 0.5 * (low + high)
        below = np.sum(counts * _sigmoid(log_odds + middle[:, None]), axis=1) < target
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    out: npt.NDArray[np.float64] = 0.5 * (low + high)
    return out


@dataclass(frozen=True)
class DensityReference:
    """What the model picks on a typical micrograph of the dataset that ``-n`` describes.

    The mean number of picks per micrograph in each score bin (``GRID_STEP`` wide, the first
    starting at ``score_low``) over a sample of the dataset's micrographs, and the intercept that
    was fitted with the slope on the labelled micrographs.
    """

    score_low: float
    counts_per_micrograph: npt.NDArray[np.float64]
    intercept: float
    n_micrographs: int

    def probability_sum(self, slope: float, *, from_score: float) -> float:
        """Expected particles on a typical micrograph among picks scoring >= ``from_score``."""
        edges = self.score_low + GRID_STEP * np.arange(len(self.counts_per_micrograph))
        keep = edges >= from_score - GRID_STEP / 2
        p = _sigmoid(np.asarray(slope * (edges[keep] + GRID_STEP / 2) + self.intercept, dtype=np.float64))
        return float(np.sum(self.counts_per_micrograph[keep] * p))


def reference_histogram(scores_per_micrograph: list[npt.NDArray[np.float64]]) -> tuple[float, npt.NDArray[np.float64]]:
    """(score_low, mean picks per micrograph per bin) on the global grid the estimate bins on."""
    scores = np.concatenate(scores_per_micrograph) if scores_per_micrograph else np.zeros(0)
    if not len(scores):
        return 0.0, np.zeros(0)
    centres, index = _binned(scores)
    return float(centres[0] - GRID_STEP / 2), np.bincount(index).astype(np.float64) / len(scores_per_micrograph)


@dataclass(frozen=True)
class ThresholdEstimate:
    """Estimated precision, recall and F1 of keeping picks with score >= each threshold."""

    thresholds: npt.NDArray[np.float64]  # ascending
    n_picks: npt.NDArray[np.int64]  # picks at or above each threshold
    precision: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]
    precision_band: npt.NDArray[np.float64]  # (2, n): 5th and 95th percentiles over bootstrap resamples
    recall_band: npt.NDArray[np.float64]
    f1_band: npt.NDArray[np.float64]
    expected_particles: float  # on these micrographs: the prior per micrograph x micrographs x density_ratio
    n_micrographs: int
    density_ratio: float  # the model's density here / on the dataset's sample (1 without a reference)
    slope: float
    intercept: float  # of p(s) = sigmoid(slope * s + intercept) on these picks

    def probability(self, score: float) -> float:
        """Estimated chance that a pick scoring ``score`` is a particle."""
        return float(_sigmoid(np.array(self.slope * score + self.intercept)))

    def expected_true_picks(self, index: int) -> float:
        """Expected number of particles among the picks kept at threshold ``index``."""
        return float(self.precision[index] * self.n_picks[index])


def _curves(counts: npt.NDArray[np.float64], centres: npt.NDArray[np.float64], slopes: npt.NDArray[np.float64],
            expected_particles: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    """(intercept, picks, precision, recall, F1) at each bin's lower edge, for each row of ``counts``.

    ``counts``: one score histogram per row, each with its slope and expected count.
    """
    intercept = _level_intercepts(counts, centres, slopes, expected_particles)
    expected = counts * _sigmoid(slopes[:, None] * centres[None, :] + intercept[:, None])
    picks = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    true_picks = np.cumsum(expected[:, ::-1], axis=1)[:, ::-1]
    total = true_picks[:, :1] if true_picks.shape[1] else np.zeros((len(counts), 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(picks > 0, true_picks / np.maximum(picks, 1e-12), np.nan)
        recall = np.where(total > 0, true_picks / np.where(total > 0, total, 1.0), 0.0)
        f1 = np.where(picks + total > 0, 2 * true_picks / (picks + total), 0.0)
    return intercept, picks, precision, recall, f1


def _density_ratios(counts_per_micrograph: npt.NDArray[np.float64], log_odds: npt.NDArray[np.float64],
                    typical: float) -> npt.NDArray[np.float64]:
    """How many times the typical micrograph's particles the picks of each row hold.

    Self-consistent: ``r`` times the particles at the same junk multiplies every pick's odds by
    ``r``, so ``r`` solves ``sum(counts * sigmoid(log_odds + log r)) = r * typical``. The left side
    over ``r`` falls as ``r`` grows, so bisection on ``log r`` finds the one root (every row at once).
    """
    low = np.full(len(counts_per_micrograph), -7.0)
    high = np.full(len(counts_per_micrograph), 7.0)
    for _ in range(60):
        middle = 0.5 * (low + high)
        above = np.sum(counts_per_micrograph * _sigmoid(log_odds[None, :] + middle[:, None]), axis=1) \
            > np.exp(middle) * typical
        low, high = np.where(above, middle, low), np.where(above, high, middle)
    out: npt.NDArray[np.float64] = np.exp(0.5 * (low + high))
    return out


def estimate_curve(scores: npt.ArrayLike, micrograph: npt.ArrayLike, *, slope: float,
                   expected_particles_per_micrograph: float, slopes: list[float] | None = None,
                   n_micrographs: int | None = None, reference: DensityReference | None = None,
                   n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> ThresholdEstimate:
    """Estimated precision, recall and F1 of ``scores`` at every threshold, with a band.

    ``micrograph``: each pick's micrograph (the bootstrap resamples whole micrographs);
    ``n_micrographs``: how many were picked, counting those with no pick (default: those named);
    ``slopes``: bootstrap replicates of the slope, from training (none: only the picks vary);
    ``reference``: the model's picks on a sample of the dataset, to scale the expected count by
    the density here (none: the expected count is the prior's).
    """
    s = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(micrograph)
    names, group_index = np.unique(groups, return_inverse=True)
    n_mics = max(int(n_micrographs or 0), len(names))
    if not len(s):
        raise ValueError("no picks to estimate from")
    low = np.floor(float(np.min(s)) / GRID_STEP) * GRID_STEP
    edges = np.arange(low, float(np.max(s)) + 2 * GRID_STEP, GRID_STEP)
    bins = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2)
    per_mic = np.zeros((n_mics, len(edges) - 1))
    np.add.at(per_mic, (group_index, bins), 1.0)
    centres = edges[:-1] + GRID_STEP / 2  # a bin's picks share its centre's probability
    thresholds = edges[:-1]  # and all score at least its lower edge
    typical = reference.probability_sum(slope, from_score=float(edges[0])) if reference is not None else 0.0

    def density_ratios(counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if reference is None or typical <= 0:
            return np.ones(len(counts))
        return _density_ratios(counts / n_mics, slope * centres + reference.intercept, typical)

    total_counts = per_mic.sum(0)[None, :]
    ratio = float(density_ratios(total_counts)[0])
    expected = expected_particles_per_micrograph * n_mics * ratio
    intercept, picks, precision, recall, f1 = (row[0] for row in _curves(
        total_counts, centres, np.array([slope]), np.array([expected])))
    # every resample at once: how often each resample draws each micrograph, then its histogram
    draws = np.random.default_rng(seed).integers(0, n_mics, (n_bootstrap, n_mics))
    times_drawn = np.bincount((draws + n_mics * np.arange(n_bootstrap)[:, None]).ravel(),
                              minlength=n_bootstrap * n_mics).reshape(n_bootstrap, n_mics).astype(np.float64)
    replicate_slopes = np.array(list(slopes) if slopes else [slope], dtype=np.float64)
    resample_slopes = replicate_slopes[np.arange(n_bootstrap) % len(replicate_slopes)]
    counts = times_drawn @ per_mic  # no copy of the table per resample, however many micrographs
    drawn = counts.sum(axis=1) > 0
    counts, resample_slopes = counts[drawn], resample_slopes[drawn]
    if len(counts):
        expected_here = expected_particles_per_micrograph * n_mics * density_ratios(counts)
        stacked = np.stack(_curves(counts, centres, resample_slopes, expected_here)[2:], axis=1)  # (resamples, 3, n)
    else:
        stacked = np.array([[precision, recall, f1]])
    with warnings.catch_warnings():  # thresholds above every resample's picks have no precision: NaN, said once
        warnings.simplefilter("ignore", RuntimeWarning)
        bands = np.nanpercentile(stacked, BAND_PERCENTILES, axis=0)  # (2, 3, n)
    return ThresholdEstimate(thresholds, picks.astype(np.int64), precision, recall, f1, bands[:, 0], bands[:, 1],
                             bands[:, 2], expected, n_mics, ratio, slope, float(intercept))


def choose_threshold(estimate: ThresholdEstimate, *, target_precision: float | None = None) -> int:
    """Index of the threshold to keep: the best estimated F1, or the lowest reaching ``target_precision``.

    With a target, the lowest threshold whose estimated precision, and that of every threshold
    above it, is at least the target (so the choice keeps the most picks); -1 if none reaches it.
    """
    if target_precision is None:
        return int(np.nanargmax(estimate.f1))
    precision = np.nan_to_num(estimate.precision, nan=1.0)
    meets = precision >= target_precision
    # the lowest index from which every higher threshold also meets the target
    failing = np.flatnonzero(~meets)
    first = int(failing[-1]) + 1 if len(failing) else 0
    return first if first < len(meets) and estimate.n_picks[first] > 0 else -1
