import numpy as np
import pytest

from cryopick.extract.rescale import to_original_px, to_working_px
from cryopick.preprocess.fourier import fourier_crop


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_mean_is_preserved_and_shape_is_floor(factor: int, rng: np.random.Generator) -> None:
    image = rng.standard_normal((101, 122)) + 5
    small = fourier_crop(image, factor)
    assert small.shape == (101 // factor, 122 // factor)
    trimmed = image[: small.shape[0] * factor, : small.shape[1] * factor]
    assert small.mean() == pytest.approx(trimmed.mean(), rel=1e-5)


def test_working_pixel_i_sits_on_original_pixel_i_times_factor() -> None:
    """A band-limited pattern survives cropping exactly, sampled at i * factor."""
    rows, cols, factor = 96, 120, 4
    y, x = np.mgrid[:rows, :cols]
    pattern = np.cos(2 * np.pi * 3 * y / rows + 0.3) + np.sin(2 * np.pi * 5 * x / cols)
    small = fourier_crop(pattern, factor)
    np.testing.assert_allclose(small, pattern[::factor, ::factor], atol=1e-5)


def test_coordinate_round_trip() -> None:
    coords = np.array([0.0, 17.25, 1023.0])
    np.testing.assert_allclose(to_original_px(to_working_px(coords, downsample_factor=3), downsample_factor=3), coords)
