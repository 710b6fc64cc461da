import numpy as np
import pytest

from cryopick.extract.job import TORCH_TRANSFORMS
from cryopick.preprocess.fourier import fourier_crop


@pytest.mark.parametrize(("shape", "factor"), [((101, 122), 2), ((96, 120), 3), ((77, 59), 5)])
def test_torch_transforms_crop_as_scipy_does(shape: tuple[int, int], factor: int, rng: np.random.Generator) -> None:
    """Extraction crops with torch's FFT (loaded already), preprocessing with scipy's: the same image."""
    image = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    by_torch = fourier_crop(image, factor, transforms=TORCH_TRANSFORMS)
    assert by_torch.dtype == np.float32
    np.testing.assert_allclose(by_torch, fourier_crop(image, factor), atol=2e-5)
