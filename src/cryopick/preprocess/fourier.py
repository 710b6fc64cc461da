"""Downsampling by Fourier cropping: keep the low frequencies, drop the rest, invert.

Unlike binning or interpolation this neither aliases nor blurs the band that is kept. The image
is first trimmed to a multiple of the factor, so working pixel ``i`` sits exactly on original
pixel ``i * factor`` and the coordinate mapping is a plain multiplication.
"""

import numpy as np
import numpy.typing as npt
import scipy.fft


def downsampled_shape(shape_orig_px: tuple[int, int], factor: int) -> tuple[int, int]:
    """The shape of an image downsampled by ``factor`` (whole pixels, rounding down)."""
    return shape_orig_px[0] // factor, shape_orig_px[1] // factor


def fourier_crop(image: npt.NDArray[np.floating], factor: int) -> npt.NDArray[np.float32]:
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
    spectrum = scipy.fft.rfft2(trimmed, workers=-1)
    keep_positive = (rows + 1) // 2
    keep_negative = rows // 2
    row_parts = [spectrum[:keep_positive]]
    if keep_negative:
        row_parts.append(spectrum[spectrum.shape[0] - keep_negative:])
    cropped = np.concatenate(row_parts, axis=0)[:, : cols // 2 + 1]
    out = scipy.fft.irfft2(cropped, s=(rows, cols), workers=-1)
    out *= (rows * cols) / (trimmed.shape[0] * trimmed.shape[1])
    return np.ascontiguousarray(out, dtype=np.float32)
