"""Normalisation by a two-component Gaussian mixture with a scale per micrograph, fitted by EM.

Model: pixel ``x`` of image ``k`` belongs to component ``z`` with probability ``w_z`` and
``x | z ~ Normal(alpha_k * mu_z, alpha_k**2 * sigma_z**2)``. The per-image scale corrects exposure
differences; the second component absorbs dark carbon or grid regions, so the normalisation
follows the ice. Normalised ``x' = (x / alpha_k - mu_d) / sigma_d`` with ``d`` the dominant
component.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class GmmParams:
    """A two-component Gaussian mixture of pixel values, shared by a dataset."""

    mean: tuple[float, float]  # mu_z
    std: tuple[float, float]  # sigma_z
    weight: tuple[float, float]  # w_z, summing to 1

    @property
    def dominant(self) -> int:
        """The component with the larger weight: the background that normalisation centres."""
        return 0 if self.weight[0] >= self.weight[1] else 1

    def to_json(self) -> dict[str, list[float]]:
        """The parameters as recorded in preprocess.json and model.json."""
        return {"mean": list(self.mean), "std": list(self.std), "weight": list(self.weight)}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> "GmmParams":
        """The parameters recorded by :meth:`to_json`."""
        m, s, w = data["mean"], data["std"], data["weight"]
        return cls((float(m[0]), float(m[1])), (float(s[0]), float(s[1])), (float(w[0]), float(w[1])))


@dataclass(frozen=True)
class GmmFit:
    """A fitted mixture with each image's own scale and the fit's convergence."""

    params: GmmParams
    scales: npt.NDArray[np.float64]  # alpha_k, one per image, geometric mean 1
    log_likelihood: float
    iterations: int


def _responsibilities(
    x: npt.NDArray[np.float64], alpha: float, mean: np.ndarray, std: np.ndarray, weight: np.ndarray
) -> tuple[npt.NDArray[np.float64], float]:
    """Posterior of each component for each pixel, and the log-likelihood of the pixels."""
    y = x[:, None] / alpha
    log_p = (
        np.log(weight)[None, :]
        - np.log(alpha * std)[None, :]
        - 0.5 * _LOG_2PI
        - 0.5 * ((y - mean[None, :]) / std[None, :]) ** 2
    )
    top = log_p.max(axis=1, keepdims=True)
    log_norm = top + np.log(np.exp(log_p - top).sum(axis=1, keepdims=True))
    return np.exp(log_p - log_norm), float(log_norm.sum())


def _best_scale(x: np.ndarray, resp: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """The M-step for ``alpha``, in closed form.

    Maximise the expected log-likelihood over ``alpha``: with ``b = 1/alpha`` the stationarity
    condition is ``A b**2 - B b - n = 0``, whose positive root is the maximum.
    """
    var = std**2
    a_coef = float(np.sum(resp * (x[:, None] ** 2) / var[None, :]))
    b_coef = float(np.sum(resp * mean[None, :] * x[:, None] / var[None, :]))
    n = float(len(x))
    if a_coef <= 0:
        return 1.0
    inverse = (b_coef + np.sqrt(b_coef**2 + 4 * a_coef * n)) / (2 * a_coef)
    return float(1.0 / inverse)


def fit_scaled_gmm(
    samples: list[npt.NDArray[np.floating]], *, max_iterations: int = 100, tolerance: float = 1e-6
) -> GmmFit:
    """Fit the mixture and one scale per image by EM on pixel samples (one array per image)."""
    if not samples or any(len(s) < 2 for s in samples):
        raise ValueError("need at least two pixel samples from every image")
    xs = [np.asarray(s, dtype=np.float64).ravel() for s in samples]
    spread = np.array([max(float(np.std(x)), 1e-12) for x in xs])
    alpha = spread / np.exp(np.mean(np.log(spread)))
    pooled = np.concatenate([x / a for x, a in zip(xs, alpha, strict=True)])
    pooled_std = max(float(np.std(pooled)), 1e-12)
    low, high = np.quantile(pooled, [0.1, 0.6])
    mean = np.array([float(np.mean(pooled[pooled >= low])), float(np.mean(pooled[pooled < low]))])
    std = np.array([max(float(np.std(pooled[pooled >= low])), 1e-3 * pooled_std),
                    max(float(np.std(pooled[pooled < high])), 1e-3 * pooled_std)])
    weight = np.array([0.9, 0.1])
    floor = 1e-4 * pooled_std
    previous = -np.inf
    log_likelihood = -np.inf
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - reported below
        resp_all, log_likelihood = [], 0.0
        for x, a in zip(xs, alpha, strict=True):
            resp, ll = _responsibilities(x, float(a), mean, std, weight)
            resp_all.append(resp)
            log_likelihood += ll
        total = sum(r.sum(axis=0) for r in resp_all)
        weight = np.clip(total / total.sum(), 1e-6, 1.0)
        weight = weight / weight.sum()
        mean = sum(((x / a)[:, None] * r).sum(axis=0) for x, a, r in zip(xs, alpha, resp_all, strict=True)) / total
        var = sum(
            (((x / a)[:, None] - mean[None, :]) ** 2 * r).sum(axis=0)
            for x, a, r in zip(xs, alpha, resp_all, strict=True)
        ) / total
        std = np.maximum(np.sqrt(var), floor)
        alpha = np.array([_best_scale(x, r, mean, std) for x, r in zip(xs, resp_all, strict=True)])
        centre = float(np.exp(np.mean(np.log(alpha))))  # fix the scale ambiguity: geometric mean 1
        alpha, mean, std = alpha / centre, mean * centre, std * centre
        if abs(log_likelihood - previous) <= tolerance * abs(log_likelihood):
            break
        previous = log_likelihood
    params = GmmParams(
        (float(mean[0]), float(mean[1])), (float(std[0]), float(std[1])),
        (float(weight[0]), float(weight[1])),
    )
    return GmmFit(params, alpha, float(log_likelihood), iteration)


def fit_image_scale(sample: npt.NDArray[np.floating], params: GmmParams, *, iterations: int = 50) -> float:
    """The scale ``alpha`` of one new image under an already fitted mixture (EM on alpha alone)."""
    x = np.asarray(sample, dtype=np.float64).ravel()
    mean, std, weight = (np.asarray(v, dtype=np.float64) for v in (params.mean, params.std, params.weight))
    alpha = 1.0
    for _ in range(iterations):
        resp, _ = _responsibilities(x, alpha, mean, std, weight)
        updated = _best_scale(x, resp, mean, std)
        if abs(updated - alpha) <= 1e-9 * alpha:
            return updated
        alpha = updated
    return alpha


def normalize_gmm(image: npt.NDArray[np.floating], params: GmmParams, scale: float) -> npt.NDArray[np.float32]:
    """An image scaled by ``scale``, then centred and scaled by the dominant component."""
    d = params.dominant
    return ((np.asarray(image, dtype=np.float32) / scale - params.mean[d]) / params.std[d]).astype(np.float32)


def normalize_affine(image: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.float32], float, float]:
    """Per-image standardisation; returns the image and the ``(offset, scale)`` it used."""
    image = np.asarray(image, dtype=np.float32)
    offset = float(image.mean())
    scale = float(image.std())
    if scale <= 0:
        scale = 1.0  # a constant image stays constant (zero) rather than dividing by zero
    return ((image - offset) / scale).astype(np.float32), offset, scale


def sample_pixels(image: npt.NDArray[np.floating], count: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Up to ``count`` pixel values drawn without replacement, to fit the mixture cheaply."""
    flat = np.asarray(image).ravel()
    if flat.size <= count:
        return flat.astype(np.float64)
    return flat[rng.choice(flat.size, size=count, replace=False)].astype(np.float64)
