"""The four training objectives as pure functions of logits, labels and the prior.

``logits``: (n,) region logits; ``labels``: (n,) bool, True for labelled positives, False for
unlabelled; ``pi_u``: the positive fraction among the unlabelled. Each returns the scalar to
minimise for one minibatch.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def _positive_risk(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    positives = logits[labels]
    if positives.numel() == 0:
        return logits.new_zeros(())
    return F.binary_cross_entropy_with_logits(positives, torch.ones_like(positives))


def _check_prior(pi_u: float) -> None:
    if not 0 < pi_u < 1:
        raise ValueError(f"pi_u must lie in (0, 1), got {pi_u}")


def pn(logits: torch.Tensor, labels: torch.Tensor, *, pi_u: float, weight: float = 1.0) -> torch.Tensor:
    """Unlabelled treated as negative, the two classes weighted by the prior."""
    _check_prior(pi_u)
    unlabelled = logits[~labels]
    negative_risk = F.binary_cross_entropy_with_logits(unlabelled, torch.zeros_like(unlabelled))
    return pi_u * _positive_risk(logits, labels) + (1 - pi_u) * negative_risk


def nnpu_risks(logits: torch.Tensor, labels: torch.Tensor, *, pi_u: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive risk, unlabelled-negative risk R_u) of Kiryo et al. (2017)."""
    positives = logits[labels]
    unlabelled = logits[~labels]
    positive_risk = _positive_risk(logits, labels)
    negatives_from_positives = (
        F.binary_cross_entropy_with_logits(positives, torch.zeros_like(positives))
        if positives.numel() else logits.new_zeros(())
    )
    unlabelled_risk = F.binary_cross_entropy_with_logits(unlabelled, torch.zeros_like(unlabelled))
    return positive_risk, unlabelled_risk - pi_u * negatives_from_positives


def nnpu(logits: torch.Tensor, labels: torch.Tensor, *, pi_u: float, weight: float = 1.0,
         beta: float = 0.0) -> torch.Tensor:
    """Non-negative PU risk: when R_u < -beta, step to increase R_u instead (minimise -R_u)."""
    _check_prior(pi_u)
    positive_risk, unlabelled_risk = nnpu_risks(logits, labels, pi_u=pi_u)
    if unlabelled_risk.item() >= -beta:
        return pi_u * positive_risk + unlabelled_risk
    return -unlabelled_risk


def ge_kl(logits: torch.Tensor, labels: torch.Tensor, *, pi_u: float, weight: float = 10.0) -> torch.Tensor:
    """Positives' cross-entropy plus ``weight * KL(Bernoulli(pi_u) || Bernoulli(mean_U g))``."""
    _check_prior(pi_u)
    p_hat = torch.sigmoid(logits[~labels]).mean().clamp(1e-7, 1 - 1e-7)
    kl = pi_u * torch.log(pi_u / p_hat) + (1 - pi_u) * torch.log((1 - pi_u) / (1 - p_hat))
    return _positive_risk(logits, labels) + weight * kl


def ge_binomial_penalty(unlabelled_logits: torch.Tensor, *, pi_u: float) -> torch.Tensor:
    """The GE-binomial penalty on the count of positives among unlabelled regions.

    How far the classifier's count of positives among the unlabelled regions is from
    Binomial(N, pi_u): the KL divergence between their Gaussian approximations, in closed form.

    The classifier's count is Poisson-binomial, approximated by N(sum g, sum g(1-g)); the binomial
    by N(N pi_u, N pi_u (1 - pi_u)). The paper discretised the first on 0..N and took a
    cross-entropy with the binomial; once every g is tiny that discrete distribution sits on k = 0
    and its gradient is exactly zero, so training stalls. Here the count variance is carried in
    log space (a log-sum-exp of log g + log(1 - g)), so the gradient stays finite and points the
    right way however saturated the classifier is: towards more positives when all g -> 0, fewer
    when all g -> 1.
    """
    _check_prior(pi_u)
    n = unlabelled_logits.numel()
    count_mean = torch.sigmoid(unlabelled_logits).sum()
    log_count_var = torch.logsumexp(F.logsigmoid(unlabelled_logits) + F.logsigmoid(-unlabelled_logits), dim=0)
    binomial_mean = n * pi_u
    binomial_var = n * pi_u * (1 - pi_u)
    return 0.5 * (math.log(binomial_var) - log_count_var
                  + (log_count_var.exp() + (count_mean - binomial_mean) ** 2) / binomial_var - 1)


def ge_binomial(logits: torch.Tensor, labels: torch.Tensor, *, pi_u: float, weight: float = 1.0) -> torch.Tensor:
    """The paper's criterion: positives' cross-entropy plus ``weight`` times the count penalty."""
    return _positive_risk(logits, labels) + weight * ge_binomial_penalty(logits[~labels], pi_u=pi_u)


ObjectiveFunction = Callable[..., torch.Tensor]
OBJECTIVE_FUNCTIONS: dict[str, ObjectiveFunction] = {
    "pn": pn, "nnpu": nnpu, "ge-kl": ge_kl, "ge-binomial": ge_binomial,
}
