"""The four training objectives as pure functions of logits, labels and the prior.

``logits``: (n,) region logits; ``labels``: (n,) bool, True for labelled positives, False for
unlabelled; ``pi_u``: the positive fraction among the unlabelled. Each returns the scalar to
minimise for one minibatch.
"""

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
    """Cross-entropy between the classifier's count distribution over the unlabelled regions
    (a Gaussian with the Poisson-binomial's mean and variance, discretised on 0..N) and
    Binomial(N, pi_u)."""
    _check_prior(pi_u)
    probabilities = torch.sigmoid(unlabelled_logits)
    n = probabilities.numel()
    count_mean = probabilities.sum()
    count_var = (probabilities * (1 - probabilities)).sum().clamp_min(1e-6)
    k = torch.arange(n + 1, dtype=probabilities.dtype, device=probabilities.device)
    q = torch.softmax(-((k - count_mean) ** 2) / (2 * count_var), dim=0)
    n_t = torch.tensor(float(n), dtype=probabilities.dtype, device=probabilities.device)
    log_binomial = (
        torch.lgamma(n_t + 1) - torch.lgamma(k + 1) - torch.lgamma(n_t - k + 1)
        + k * torch.log(torch.tensor(pi_u, dtype=k.dtype, device=k.device))
        + (n - k) * torch.log(torch.tensor(1 - pi_u, dtype=k.dtype, device=k.device))
    )
    return -(q * log_binomial).sum()


def ge_binomial(logits: torch.Tensor, labels: torch.Tensor, *, pi_u: float, weight: float = 1.0) -> torch.Tensor:
    """The paper's criterion: positives' cross-entropy plus ``weight`` times the binomial penalty."""
    return _positive_risk(logits, labels) + weight * ge_binomial_penalty(logits[~labels], pi_u=pi_u)


ObjectiveFunction = Callable[..., torch.Tensor]
OBJECTIVE_FUNCTIONS: dict[str, ObjectiveFunction] = {
    "pn": pn, "nnpu": nnpu, "ge-kl": ge_kl, "ge-binomial": ge_binomial,
}
