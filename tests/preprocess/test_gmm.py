import numpy as np
import pytest

from cryopick.preprocess.gmm import fit_image_scale, fit_scaled_gmm, normalize_affine, normalize_gmm


def _mixture(rng: np.random.Generator, scales: list[float], n: int = 20_000) -> list[np.ndarray]:
    """Ice (weight 0.8, mean 10, sd 1) and carbon (0.2, mean 6, sd 0.5), each image scaled."""
    out = []
    for scale in scales:
        carbon = rng.random(n) < 0.2
        x = np.where(carbon, rng.normal(6, 0.5, n), rng.normal(10, 1, n))
        out.append(scale * x)
    return out


def test_em_recovers_components_and_relative_scales(rng: np.random.Generator) -> None:
    scales = [0.5, 1.0, 2.0, 1.5]
    fit = fit_scaled_gmm(_mixture(rng, scales))
    d = fit.params.dominant
    ratio = fit.scales / np.array(scales)
    np.testing.assert_allclose(ratio / ratio.mean(), 1, rtol=0.01)  # scales up to a common factor
    common = ratio[0]
    assert fit.params.weight[d] == pytest.approx(0.8, abs=0.01)
    assert fit.params.mean[d] * common == pytest.approx(10, rel=0.01)
    assert fit.params.std[d] * common == pytest.approx(1, rel=0.03)
    other = 1 - d
    assert fit.params.mean[other] * common == pytest.approx(6, rel=0.02)


def test_normalised_ice_is_standard_and_new_images_get_their_scale(rng: np.random.Generator) -> None:
    fit = fit_scaled_gmm(_mixture(rng, [1.0, 3.0]))
    fresh = _mixture(np.random.default_rng(9), [2.0])[0]
    scale = fit_image_scale(fresh, fit.params)
    normalised = normalize_gmm(fresh, fit.params, scale)
    ice = normalised[normalised > -3]
    assert ice.mean() == pytest.approx(0, abs=0.05)
    assert ice.std() == pytest.approx(1, abs=0.05)


def test_affine_handles_a_constant_image() -> None:
    image, offset, scale = normalize_affine(np.full((8, 8), 3.0))
    assert offset == 3.0
    assert scale == 1.0
    assert not image.any()
