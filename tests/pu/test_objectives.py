import math

import numpy as np
import pytest
import torch

from cryopick.errors import ConfigError
from cryopick.pu import class_prior, disc_offsets, ge_binomial, ge_kl, nnpu, pn, unlabelled_prior
from cryopick.pu.objectives import ge_binomial_penalty, nnpu_risks


def _poisson_binomial(p: np.ndarray) -> np.ndarray:
    """Exact distribution of the number of successes among independent Bernoulli(p_i)."""
    dist = np.array([1.0])
    for pi in p:
        dist = np.convolve(dist, [1 - pi, pi])
    return dist


def _exact_kl(p: np.ndarray, pi_u: float) -> float:
    """KL(exact Poisson-binomial count || Binomial(n, pi_u)), summed over k = 0..n."""
    n = len(p)
    count = _poisson_binomial(p)
    log_binomial = np.array([
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(pi_u) + (n - k) * math.log(1 - pi_u) for k in range(n + 1)
    ])
    kept = count > 1e-300
    return float((count[kept] * (np.log(count[kept]) - log_binomial[kept])).sum())


@pytest.mark.parametrize("n", [32, 64, 128, 256])
def test_gaussian_penalty_is_close_to_the_exact_count_distributions(n: int) -> None:
    rng = np.random.default_rng(n)
    p = rng.uniform(0.05, 0.4, n)
    logits = torch.from_numpy(np.log(p / (1 - p)))
    gaussian = ge_binomial_penalty(logits, pi_u=0.2).item()
    assert gaussian == pytest.approx(_exact_kl(p, 0.2), rel=0.06)


@pytest.mark.parametrize("logit", [-13.8, -40.0, -200.0])
def test_penalty_pulls_up_when_every_score_is_near_zero(logit: float) -> None:
    """The discretised form had an exactly zero gradient here (the stall); this one pulls every
    logit up, about 1/(2N) each, however saturated."""
    logits = torch.full((240,), logit, requires_grad=True)
    penalty = ge_binomial_penalty(logits, pi_u=0.01)
    penalty.backward()
    assert logits.grad is not None
    assert torch.isfinite(penalty)
    assert torch.all(logits.grad < -1e-4), logits.grad[:3]
    stepped = ge_binomial_penalty(logits.detach() - 10.0 * logits.grad, pi_u=0.01)
    assert stepped.item() < penalty.item()


@pytest.mark.parametrize("logit", [13.8, 40.0, 200.0])
def test_penalty_pushes_down_when_every_score_is_near_one(logit: float) -> None:
    logits = torch.full((240,), logit, requires_grad=True)
    ge_binomial_penalty(logits, pi_u=0.01).backward()
    assert logits.grad is not None
    assert torch.all(logits.grad > 1e-4), logits.grad[:3]


def test_the_whole_objective_does_not_stall_when_all_unlabelled_scores_vanish() -> None:
    labels = torch.zeros(256, dtype=torch.bool)
    labels[:16] = True
    logits = torch.cat([torch.full((16,), 5.0), torch.full((240,), -12.0)]).requires_grad_()
    ge_binomial(logits, labels, pi_u=0.02).backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[16:] < 0)  # the unlabelled are pulled up towards the prior


def test_penalty_gradient_matches_finite_differences() -> None:
    logits = torch.tensor(np.random.default_rng(3).normal(-1, 1, 12), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: ge_binomial_penalty(s, pi_u=0.15), (logits,))
    labels = torch.zeros(12, dtype=torch.bool)
    labels[:3] = True
    assert torch.autograd.gradcheck(lambda s: ge_binomial(s, labels, pi_u=0.15), (logits,))


def test_penalty_is_smallest_when_the_count_matches_the_prior() -> None:
    n, pi_u = 200, 0.1
    values = {p: ge_binomial_penalty(torch.full((n,), math.log(p / (1 - p))), pi_u=pi_u).item()
              for p in (0.02, 0.1, 0.3)}
    assert values[0.1] < values[0.02]
    assert values[0.1] < values[0.3]


def test_nnpu_takes_the_reverse_step_when_the_unlabelled_risk_goes_negative() -> None:
    labels = torch.tensor([True, True, False, False])
    # positives scored high make pi * mean_P l(s, 0) exceed the unlabelled negative risk
    logits = torch.tensor([2.0, 2.0, -1.0, -1.0], dtype=torch.float64, requires_grad=True)
    _, r_u = nnpu_risks(logits, labels, pi_u=0.5)
    assert r_u.item() < 0
    loss = nnpu(logits, labels, pi_u=0.5)
    assert loss.item() == pytest.approx(-r_u.item())
    loss.backward()
    assert logits.grad is not None
    # a gradient-descent step on the returned loss increases R_u
    step = -0.1 * logits.grad
    _, r_after = nnpu_risks(logits.detach() + step, labels, pi_u=0.5)
    assert r_after.item() > r_u.item()
    # and with a positive R_u it is the ordinary non-negative risk
    fine = torch.tensor([3.0, 3.0, -2.0, 1.0])
    positive_risk, r_u_fine = nnpu_risks(fine, labels, pi_u=0.1)
    assert r_u_fine.item() > 0
    assert nnpu(fine, labels, pi_u=0.1).item() == pytest.approx(0.1 * positive_risk.item() + r_u_fine.item())


def test_ge_kl_is_zero_when_the_mean_posterior_equals_pi_u() -> None:
    labels = torch.tensor([True] + [False] * 4)
    logit = math.log(0.2 / 0.8)
    logits = torch.tensor([30.0] + [logit] * 4)
    assert ge_kl(logits, labels, pi_u=0.2).item() == pytest.approx(0.0, abs=1e-6)
    assert ge_kl(logits, labels, pi_u=0.4).item() > 0.01


def test_pn_weights_classes_by_the_prior() -> None:
    labels = torch.tensor([True, False])
    logits = torch.tensor([0.0, 0.0])
    assert pn(logits, labels, pi_u=0.25).item() == pytest.approx(math.log(2))


def test_priors() -> None:
    assert len(disc_offsets(3)) == 29
    pi = class_prior(expected_particles_per_micrograph=100, label_radius_px=3, pixels_per_micrograph=290_000)
    assert pi == pytest.approx(0.01)
    assert unlabelled_prior(pi=pi, labelled_positive_pixels=290, total_pixels=290_000) == \
        pytest.approx((2900 - 290) / (290_000 - 290))
    with pytest.raises(ConfigError, match="pi_U"):
        unlabelled_prior(pi=pi, labelled_positive_pixels=2900, total_pixels=290_000)
    with pytest.raises(ConfigError, match="must lie in"):
        class_prior(expected_particles_per_micrograph=1e9, label_radius_px=3, pixels_per_micrograph=100)
