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


def numpy_fourier_crop(image: np.ndarray, factor: int) -> np.ndarray:
    """The same crop in float64 with numpy's FFT: the reference for the float32 crop."""
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    trimmed = image[: rows * factor, : cols * factor].astype(np.float64)
    spectrum = np.fft.rfft2(trimmed)
    kept_rows = np.r_[0 : (rows + 1) // 2, spectrum.shape[0] - rows // 2 : spectrum.shape[0]]
    small = np.fft.irfft2(spectrum[kept_rows][:, : cols // 2 + 1], s=(rows, cols))
    return small * (rows * cols) / trimmed.size


@pytest.mark.parametrize(("shape", "factor"), [((101, 122), 2), ((101, 122), 3), ((96, 120), 4), ((77, 59), 5)])
def test_crop_matches_a_float64_reference(shape: tuple[int, int], factor: int, rng: np.random.Generator) -> None:
    image = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    small = fourier_crop(image, factor)
    assert small.dtype == np.float32
    np.testing.assert_allclose(small, numpy_fourier_crop(image, factor), atol=2e-5)


def test_coordinate_round_trip() -> None:
    coords = np.array([0.0, 17.25, 1023.0])
    np.testing.assert_allclose(to_original_px(to_working_px(coords, downsample_factor=3), downsample_factor=3), coords)
