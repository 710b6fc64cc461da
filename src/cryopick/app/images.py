"""The micrograph as the page shows it: the working image, lightly smoothed, in 8 bits, as WebP.

The page draws the preprocessed (downsampled, normalised) micrograph: what the model sees, and
small enough to send whole (a 4096 px micrograph downsampled 8x is 512 px). A working image
wider than ``view_max_px`` is Fourier-cropped once more by a whole factor, which keeps the
pixel-centre convention: image pixel ``i`` sits on working pixel ``i * view_factor``.
"""

import io
import math

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from cryopick.preprocess.fourier import fourier_crop

#: Grey levels span these percentiles of the (smoothed) normalised image: a few dark specks or
#: bright spots do not wash out the rest.
CONTRAST_PERCENTILES = (0.5, 99.5)
#: Smoothing, as a fraction of the particle's radius in the displayed image: enough to see a
#: low-SNR particle, far too little to blur its edge away.
SMOOTHING_PER_RADIUS = 1 / 6
CONTRAST_SAMPLES = 250_000
#: Lossy WebP at its fastest setting: 0.3 s for 2048 x 2048 px on one core, against 0.5-1 s for
#: the slower methods, for a file 10-15% larger.
WEBP_QUALITY = 80
WEBP_METHOD = 0


def view_factor(shape_px: tuple[int, int], *, view_max_px: int) -> int:
    """The whole factor that brings the working image's longest side to at most ``view_max_px``."""
    return max(1, math.ceil(max(shape_px) / view_max_px))


def display_image(image_px: npt.NDArray[np.float32], *, factor: int,
                  particle_radius_px: float) -> npt.NDArray[np.uint8]:
    """The normalised working image in 8 bits, downsampled by ``factor``, particles dark as recorded."""
    small = fourier_crop(image_px, factor) if factor > 1 else np.asarray(image_px, dtype=np.float32)
    sigma_px = SMOOTHING_PER_RADIUS * particle_radius_px / factor
    if sigma_px >= 0.3:
        small = ndimage.gaussian_filter(small, sigma_px)
    step = max(1, math.isqrt(small.size // CONTRAST_SAMPLES))  # the percentiles of a grid of samples
    low, high = np.percentile(small[::step, ::step], CONTRAST_PERCENTILES)
    if not high > low:  # a flat image: mid-grey
        return np.full(small.shape, 128, dtype=np.uint8)
    scaled = np.clip((small - low) * (255.0 / (high - low)), 0, 255)
    return np.ascontiguousarray(np.round(scaled), dtype=np.uint8)


def encode_webp(pixels: npt.NDArray[np.uint8]) -> bytes:
    """Greyscale pixels as a lossy WebP (a tenth of a PNG's size for a noisy micrograph)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return buffer.getvalue()
