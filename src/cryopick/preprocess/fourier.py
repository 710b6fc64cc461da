"""Downsampling by Fourier cropping: keep the low frequencies, drop the rest, invert.

Unlike binning or interpolation this neither aliases nor blurs the band that is kept. The image
is first trimmed to a multiple of the factor, so working pixel ``i`` sits exactly on original
pixel ``i * factor`` and the coordinate mapping is a plain multiplication.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class RealTransforms:
    """A real 2-D FFT (image -> half spectrum) and its inverse (half spectrum, shape -> image), on numpy arrays."""

    forward: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.complexfloating]]
    inverse: Callable[[npt.NDArray[np.complexfloating], tuple[int, int]], npt.NDArray[np.floating]]


def _scipy_rfft2(image: npt.NDArray[np.float32]) -> npt.NDArray[np.complexfloating]:
    import scipy.fft  # here: 0.3 s to import, which extraction (torch's FFT, loaded already) never pays

    spectrum: npt.NDArray[np.complexfloating] = scipy.fft.rfft2(image, workers=-1)
    return spectrum


def _scipy_irfft2(spectrum: npt.NDArray[np.complexfloating], shape: tuple[int, int]) -> npt.NDArray[np.floating]:
    import scipy.fft

    image: npt.NDArray[np.floating] = scipy.fft.irfft2(spectrum, s=shape, workers=-1)
    return image


SCIPY_TRANSFORMS = RealTransforms(_scipy_rfft2, _scipy_irfft2)


def downsampled_shape(shape_orig_px: tuple[int, int], factor: int) -> tuple[int, int]:
    """The shape of an image downsampled by ``factor`` (whole pixels, rounding down)."""
    return shape_orig_px[0] // factor, shape_orig_px[1] // factor


def fourier_crop(image: npt.NDArray[np.floating], factor: int, *,
                 transforms: RealTransforms = SCIPY_TRANSFORMS) -> npt.NDArray[np.float32]:
    """Downsample ``image`` (rows, columns) by the whole ``factor``; the mean is preserved.

    >>> import numpy as np
    >>> fourier_crop(np.ones((8, 8)), 2).shape
    (4, 4)
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    image = np.asarray(image, dtype=np.float32)
    if factor == 1:
        unchanged: npt.NDArray[np.float32] = image.copy()
        return unchanged
    rows, cols = downsampled_shape(image.shape, factor)
    if rows < 1 or cols < 1:
        raise ValueError(f"image of shape {image.shape} is smaller than the factor {factor}")
    trimmed = image[: rows * factor, : cols * factor]
    spectrum = transforms.forward(trimmed)
    keep_positive = (rows + 1) // 2
    keep_negative = rows // 2
    row_parts = [spectrum[:keep_positive]]
    if keep_negative:
        row_parts.append(spectrum[spectrum.shape[0] - keep_negative:])
    cropped = np.concatenate(row_parts, axis=0)[:, : cols // 2 + 1]
    out = transforms.inverse(cropped, (rows, cols))
    out *= (rows * cols) / (trimmed.shape[0] * trimmed.shape[1])
    return np.ascontiguousarray(out, dtype=np.float32)
