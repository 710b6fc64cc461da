"""The precision estimate on generated scores whose answer is known."""

import warnings

import numpy as np
import pytest

from cryopick.evaluate.estimate import (
    DensityReference,
    choose_threshold,
    estimate_curve,
    fit_slope,
    level_intercept,
    reference_histogram,
    slope_replicates,
)

SLOPE, INTERCEPT = 1.5, -1.0


def draw(rng: np.random.Generator, n_micrographs: int, picks_per_micrograph: int = 400):
    """Picks whose chance of being a particle is sigmoid(SLOPE * s + INTERCEPT), by construction."""
    scores = rng.normal(-2.0, 2.5, n_micrographs * picks_per_micrograph)
    micrograph = np.repeat(np.arange(n_micrographs), picks_per_micrograph)
    particle = rng.random(len(scores)) < 1 / (1 + np.exp(-(SLOPE * scores + INTERCEPT)))
    return scores, micrograph, particle


def truth(scores, particle, thresholds):
    kept = scores[:, None] >= thresholds[None, :]
    n_picks = kept.sum(0)
    true_picks = (kept & particle[:, None]).sum(0)
    precision = np.where(n_picks > 0, true_picks / np.maximum(n_picks, 1), np.nan)
    return precision, true_picks / particle.sum(), 2 * true_picks / (n_picks + particle.sum())


def test_slope_is_recovered_from_a_random_sample_of_labelled_particles() -> None:
    rng = np.random.default_rng(0)
    scores, micrograph, particle = draw(rng, 40)
    share = 0.1  # a tenth of the particles labelled, at random
    labelled = particle & (rng.random(len(scores)) < share)
    slope, intercept = fit_slope(scores, labelled, labelled_share=share)
    assert slope == pytest.approx(SLOPE, rel=0.15)
    assert intercept == pytest.approx(INTERCEPT, abs=0.3)
    replicates = slope_replicates(scores, labelled, micrograph, labelled_share=share, n_bootstrap=20)
    assert len(replicates) == 20
    low, high = np.percentile(replicates, [5, 95])  # the spread over micrographs covers the truth
    assert low < SLOPE
    assert high > SLOPE


def test_estimated_precision_recall_and_f1_match_the_truth() -> None:
    rng = np.random.default_rng(1)
    scores, micrograph, particle = draw(rng, 20)
    per_micrograph = particle.sum() / 20  # the prior, right here
    estimate = estimate_curve(scores, micrograph, slope=SLOPE, expected_particles_per_micrograph=per_micrograph)
    assert estimate.intercept == pytest.approx(INTERCEPT, abs=0.15)  # re-levelled from the count alone
    precision, recall, f1 = truth(scores, particle, estimate.thresholds)
    ok = estimate.n_picks >= 100
    assert np.max(np.abs(estimate.precision[ok] - precision[ok])) < 0.04
    assert np.max(np.abs(estimate.recall[ok] - recall[ok])) < 0.04
    auto = choose_threshold(estimate)
    assert np.nanmax(f1) - f1[auto] < 0.01
    low, high = estimate.precision_band[:, auto]
    assert low <= precision[auto] <= high
    assert low < estimate.precision[auto] < high
    # a target precision keeps the most picks that reach it
    target = choose_threshold(estimate, target_precision=0.9)
    assert estimate.precision[target] >= 0.9 > estimate.precision[target - 1]
    assert precision[target] == pytest.approx(0.9, abs=0.04)


def test_a_wrong_count_moves_the_estimate_the_way_it_should() -> None:
    rng = np.random.default_rng(2)
    scores, micrograph, particle = draw(rng, 20)
    right = particle.sum() / 20
    fair = estimate_curve(scores, micrograph, slope=SLOPE, expected_particles_per_micrograph=right)
    high = estimate_curve(scores, micrograph, slope=SLOPE, expected_particles_per_micrograph=1.2 * right)
    index = choose_threshold(fair)
    assert high.precision[index] > fair.precision[index]
    assert high.expected_particles == pytest.approx(1.2 * fair.expected_particles)


def test_level_intercept_meets_the_count_and_saturates() -> None:
    centres = np.linspace(-5, 5, 101)
    counts = np.full(101, 10.0)
    intercept = level_intercept(counts, centres, slope=2.0, expected_particles=300.0)
    assert np.sum(counts / (1 + np.exp(-(2.0 * centres + intercept)))) == pytest.approx(300.0, rel=1e-6)
    # more particles expected than picks: every pick is one
    saturated = level_intercept(counts, centres, slope=2.0, expected_particles=5000.0)
    assert np.sum(counts / (1 + np.exp(-(2.0 * centres + saturated)))) == pytest.approx(1010.0, rel=1e-3)


def test_micrographs_without_picks_count_towards_the_expected_particles() -> None:
    scores = np.array([3.0, 2.0, 1.0, -1.0])
    estimate = estimate_curve(scores, np.array(["a", "a", "b", "b"]), slope=1.0,
                              expected_particles_per_micrograph=1.0, n_micrographs=3, n_bootstrap=5)
    assert estimate.expected_particles == 3.0
    assert estimate.n_picks[0] == 4


def test_refuses_what_it_cannot_fit() -> None:
    with pytest.raises(ValueError, match="no labelled pick"):
        fit_slope([1.0, 2.0], [False, False], labelled_share=0.1)
    with pytest.raises(ValueError, match="share"):
        fit_slope([1.0, 2.0], [True, False], labelled_share=1.5)
    with pytest.raises(ValueError, match="no picks"):
        estimate_curve([], [], slope=1.0, expected_particles_per_micrograph=10)


def draw_mixture(rng: np.random.Generator, n_micrographs: int, particles_per_micrograph: int,
                 junk_per_micrograph: int = 300):
    """Particles' scores ~ N(1.5, 1.5), junk's ~ N(-2, 1.5): P(particle | s) is a sigmoid whose slope is
    3.5 / 1.5^2 whatever the density, and whose intercept moves by log(particles / junk)."""
    scores, micrograph, particle = [], [], []
    for index in range(n_micrographs):
        s = np.concatenate([rng.normal(1.5, 1.5, particles_per_micrograph), rng.normal(-2.0, 1.5, junk_per_micrograph)])
        scores.append(s)
        micrograph.append(np.full(len(s), index))
        particle.append(np.arange(len(s)) < particles_per_micrograph)
    return np.concatenate(scores), np.concatenate(micrograph), np.concatenate(particle)


def test_denser_micrographs_than_the_prior_are_counted_as_denser() -> None:
    """-n is the dataset's average; the picked micrographs hold 1.5 times as many particles."""
    rng = np.random.default_rng(3)
    slope = 3.5 / 1.5 ** 2
    typical_particles = 60
    intercept = np.log(typical_particles / 300) - (1.5 ** 2 - 2.0 ** 2) / (2 * 1.5 ** 2)
    sample_scores, sample_mic, _ = draw_mixture(rng, 40, typical_particles)
    score_low, counts = reference_histogram([sample_scores[sample_mic == i] for i in range(40)])
    reference = DensityReference(score_low, counts, float(intercept), 40)
    scores, micrograph, particle = draw_mixture(rng, 20, 90)
    with_reference = estimate_curve(scores, micrograph, slope=slope,
                                    expected_particles_per_micrograph=typical_particles, reference=reference)
    prior_only = estimate_curve(scores, micrograph, slope=slope, expected_particles_per_micrograph=typical_particles)
    assert with_reference.density_ratio == pytest.approx(1.5, rel=0.06)
    assert with_reference.expected_particles == pytest.approx(particle.sum(), rel=0.06)
    assert prior_only.density_ratio == 1.0
    assert prior_only.expected_particles == pytest.approx(20 * typical_particles)
    precision, _, f1 = truth(scores, particle, with_reference.thresholds)
    auto, auto_prior = choose_threshold(with_reference), choose_threshold(prior_only)
    assert abs(with_reference.precision[auto] - precision[auto]) < 0.03
    assert np.nanmax(f1) - f1[auto] < 0.01
    assert np.nanmax(f1) - f1[auto_prior] > 2 * (np.nanmax(f1) - f1[auto])  # the prior alone cuts too high
    # micrographs like the dataset's: the prior's count
    same_scores, same_mic, _ = draw_mixture(rng, 20, typical_particles)
    same = estimate_curve(same_scores, same_mic, slope=slope, expected_particles_per_micrograph=typical_particles,
                          reference=reference)
    assert same.density_ratio == pytest.approx(1.0, abs=0.05)


def test_the_band_is_each_resample_estimated_on_its_own() -> None:
    """The resamples are estimated all at once; each must come out as if estimated alone
    (its own micrographs, its own slope replicate, its own count), so compare with that."""
    rng = np.random.default_rng(5)
    scores, micrograph, _ = draw(rng, 6, 80)
    slopes = [1.2, 1.5, 1.9]
    estimate = estimate_curve(scores, micrograph, slope=SLOPE, slopes=slopes, expected_particles_per_micrograph=25.0,
                              n_bootstrap=7, seed=11)
    edges = np.append(estimate.thresholds, estimate.thresholds[-1] + 0.05)
    centres = estimate.thresholds + 0.025
    per_mic = np.array([np.histogram(scores[micrograph == m], edges)[0] for m in range(6)], dtype=np.float64)
    draws = np.random.default_rng(11).integers(0, 6, (7, 6))
    precisions = []
    for index, row in enumerate(draws):
        counts = np.bincount(row, minlength=6) @ per_mic
        slope = slopes[index % 3]
        intercept = level_intercept(counts, centres, slope=slope, expected_particles=25.0 * 6)
        true_picks = np.cumsum((counts / (1 + np.exp(-(slope * centres + intercept))))[::-1])[::-1]
        picks = np.cumsum(counts[::-1])[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            precisions.append(np.where(picks > 0, true_picks / picks, np.nan))
    with warnings.catch_warnings():  # thresholds above every resample's picks: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(np.array(precisions), [5.0, 95.0], axis=0)
    finite = np.isfinite(low)
    np.testing.assert_allclose(estimate.precision_band[0][finite], low[finite], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(estimate.precision_band[1][finite], high[finite], rtol=1e-6, atol=1e-9)
    assert len(set(np.round(estimate.precision_band[1] - estimate.precision_band[0], 6)[finite])) > 1
