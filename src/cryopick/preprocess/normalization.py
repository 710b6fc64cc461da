"""How a dataset's micrographs were normalised, and applying that to one more.

How a dataset's micrographs were normalised, as recorded in preprocess.json and model.json,
and that normalisation applied to one more micrograph (extraction of raw micrographs).
"""

import logging
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cryopick.config import NORMALIZATIONS
from cryopick.preprocess.fourier import SCIPY_TRANSFORMS, RealTransforms, fourier_crop
from cryopick.preprocess.gmm import (
    GmmParams,
    fit_image_scale,
    fit_scaled_gmm,
    normalize_affine,
    normalize_gmm,
    sample_pixels,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Normalization:
    """A dataset's normalisation, as recorded with its micrographs.

    ``gmm``: the dataset's scaled two-component mixture (each micrograph's own scale fitted
    under it); ``affine``: each micrograph to mean 0, sd 1.
    """

    method: str
    gmm: GmmParams | None = None  # the mixture, for ``gmm``
    iterations: int | None = None  # EM iterations the fit took (a record, not used)

    def __post_init__(self) -> None:
        if self.method not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization method {self.method!r}: use one of {', '.join(NORMALIZATIONS)}")
        if self.method == "gmm" and self.gmm is None:
            raise ValueError("gmm normalization without its mixture parameters")

    def to_json(self) -> dict[str, Any]:
        """The normalisation as recorded in preprocess.json and model.json."""
        data: dict[str, Any] = {"method": self.method}
        if self.gmm is not None:
            data["gmm"] = self.gmm.to_json()
        if self.iterations is not None:
            data["iterations"] = self.iterations
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Normalization":
        """Validated: anything missing or malformed is a ``ValueError`` saying what."""
        if not isinstance(data, dict):
            raise ValueError(f"normalization must be an object, got {type(data).__name__}")
        if "method" not in data:
            raise ValueError("normalization has no method")
        try:
            gmm = GmmParams.from_json(data["gmm"]) if "gmm" in data else None
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"normalization has malformed mixture parameters ({exc!r})") from None
        iterations = data.get("iterations")
        return cls(str(data["method"]), gmm, None if iterations is None else int(iterations))


def normalize_micrograph(image_px: npt.NDArray[np.float32], normalization: Normalization, *, seed: int,
                         samples: int) -> tuple[npt.NDArray[np.float32], float, float]:
    """Normalise one downsampled micrograph as its dataset was.

    For the mixture, the micrograph's own scale is fitted under the dataset's components.
    Returns (image, scale, offset).
    """
    if normalization.gmm is not None and normalization.method == "gmm":
        sample = sample_pixels(image_px, samples, np.random.default_rng(seed))
        scale = fit_image_scale(sample, normalization.gmm)
        return normalize_gmm(image_px, normalization.gmm, scale), scale, 0.0
    image, offset, scale = normalize_affine(image_px)
    return image, scale, offset


def prepare_micrograph(image_orig_px: npt.NDArray[np.float32], *, downsample_factor: int,
                       normalization: Normalization,
                       transforms: RealTransforms = SCIPY_TRANSFORMS) -> npt.NDArray[np.float32]:
    """Prepare a raw micrograph exactly as the model's training data were.

    A raw micrograph as the model's training data were prepared: downsampled, then normalised;
    the micrograph's own scale is fitted on a sample seeded by its content (the same in every run,
    and under any file name).
    """
    small = fourier_crop(image_orig_px, downsample_factor, transforms=transforms)
    image, _, _ = normalize_micrograph(small, normalization, seed=zlib.crc32(small.tobytes()), samples=20_000)
    return image


def pixel_sample(image_orig_px: npt.NDArray[np.float32], *, downsample_factor: int, method: str, n_samples: int,
                 seed: int, name: str) -> npt.NDArray[np.float64]:
    """Pixels of a downsampled micrograph to fit the dataset's mixture on (none for ``affine``).

    Seeded by the micrograph's name, so the sample is the same in any order or process.
    """
    small = fourier_crop(image_orig_px, downsample_factor)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return sample_pixels(small, n_samples, rng) if method == "gmm" else np.zeros(0)


def fit_normalization(method: str, samples: list[npt.NDArray[np.floating]]) -> tuple[Normalization, list[float]]:
    """The dataset's normalisation and each micrograph's scale under it, from their pixel samples.

    ``gmm``: the scaled mixture fitted over every micrograph's sample; ``affine``: nothing to fit
    (scale 1: each micrograph is brought to mean 0, sd 1 on its own when written).
    """
    if method != "gmm":
        return Normalization("affine"), [1.0] * len(samples)
    fit = fit_scaled_gmm(samples)
    d = fit.params.dominant
    log.info("mixture fitted in %d EM iterations: dominant component mean %.4g sd %.4g, weight %.3f",
             fit.iterations, fit.params.mean[d], fit.params.std[d], fit.params.weight[d])
    return Normalization("gmm", fit.params, fit.iterations), [float(s) for s in fit.scales]


def downsample_and_normalize(image_orig_px: npt.NDArray[np.float32], *, downsample_factor: int,
                             normalization: Normalization,
                             scale: float) -> tuple[npt.NDArray[np.float32], float, float]:
    """A micrograph of the dataset downsampled and normalised at its fitted ``scale``: (image, scale, offset)."""
    small = fourier_crop(image_orig_px, downsample_factor)
    if normalization.gmm is not None:
        image, offset = normalize_gmm(small, normalization.gmm, scale), 0.0
    else:
        image, offset, scale = normalize_affine(small)
    return image, scale, offset
