"""What an extraction run does to each micrograph, whatever runs it.

An :class:`ExtractJob` is what every micrograph's task needs besides the model (sent to each
Dask worker once); from it, a raw micrograph's image at the model's scale, its scores and its
picks, in this process on CPU threads or in batches (see ``cryopick.extract.runtime``). Reading
micrographs and keeping picks come in as callables, so this module never touches a file.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from cryopick.config import ExtractConfig, Geometry, sizes_agree
from cryopick.errors import InputError
from cryopick.extract.picking import peaks_orig_px
from cryopick.extract.runtime import run_batched, run_on_cpu_threads
from cryopick.extract.scoring import score_micrographs
from cryopick.models import PickerNet
from cryopick.preprocess.fourier import RealTransforms
from cryopick.preprocess.normalization import Normalization, prepare_micrograph

S = TypeVar("S")


def _torch_rfft2(image: npt.NDArray[np.float32]) -> npt.NDArray[np.complexfloating]:
    with torch.no_grad():
        spectrum: npt.NDArray[np.complexfloating] = torch.fft.rfft2(
            torch.from_numpy(np.ascontiguousarray(image))).numpy()
    return spectrum


def _torch_irfft2(spectrum: npt.NDArray[np.complexfloating], shape: tuple[int, int]) -> npt.NDArray[np.floating]:
    with torch.no_grad():
        image: npt.NDArray[np.floating] = torch.fft.irfft2(
            torch.from_numpy(np.ascontiguousarray(spectrum)), s=shape).numpy()
    return image


# Fourier cropping with torch's FFT: loaded with the model already, where scipy's adds 0.3 s of imports
TORCH_TRANSFORMS = RealTransforms(_torch_rfft2, _torch_irfft2)


@dataclass(frozen=True)
class ExtractJob:
    """What every micrograph's task needs besides the model: sent to each Dask worker once."""

    config: ExtractConfig
    geometry: Geometry
    normalization: Normalization
    nms_radius_px: float
    score_stride_px: int  # the config's, resolved for the model (ExtractConfig.resolved_score_stride_px)
    settings: str  # fingerprint of the model's weights and every setting that changes the picks
    results_dir: Path


def picks_settings(config: ExtractConfig, geometry: Geometry, normalization: Normalization, *,
                   nms_radius_px: float, weights_sha256: str | None) -> dict[str, Any]:
    """The model's weights and every setting that changes the picks, for the job's fingerprint."""
    settings = dataclasses.asdict(config)
    for irrelevant in ("batch_size", "device"):  # change the speed, not the picks
        settings.pop(irrelevant)
    return {"settings": settings, "nms_radius_px": nms_radius_px, "weights_sha256": weights_sha256,
            "geometry": geometry.to_json(), "normalization": normalization.to_json()}


def prepared_image(array: npt.NDArray[np.float32], pixel_size_A: float | None, job: ExtractJob, *,
                   path: Path) -> npt.NDArray[np.float32]:
    """A raw micrograph (read from ``path``, its header's pixel size) at the model's scale and normalisation."""
    size = job.config.pixel_size_A or pixel_size_A
    expected = job.geometry.pixel_size_A
    # picking at another scale than the model learnt finds nothing useful: refuse, never guess
    if size is None:
        raise InputError(path, f"records no pixel size; the model was trained at {expected:.4g} A/px: "
                               "give --pixel-size-A if that is this micrograph's")
    if not sizes_agree(size, expected):
        given = "given with --pixel-size-A" if job.config.pixel_size_A else "in its header"
        raise InputError(path, f"pixel size {size:.4g} A ({given}), but the model was trained at "
                               f"{expected:.4g} A/px: preprocess these micrographs with their own pixel size "
                               "and train a model on them, or resample them to the model's")
    return prepare_micrograph(array, downsample_factor=job.geometry.downsample_factor,
                              normalization=job.normalization, transforms=TORCH_TRANSFORMS)


def picks_of(score_map: npt.NDArray[np.float32], job: ExtractJob) -> dict[str, npt.NDArray[np.float64]]:
    """The picks of one score map, as the job's settings select them (original pixels)."""
    return peaks_orig_px(score_map, score_stride_px=job.score_stride_px, nms_radius_px=job.nms_radius_px,
                         threshold=job.config.threshold, downsample_factor=job.geometry.downsample_factor)


def pick_image(model: PickerNet, image: npt.NDArray[np.float32], job: ExtractJob) -> dict[str, npt.NDArray[np.float64]]:
    """Pick one micrograph on the CPU in one thread, so scores never depend on core count.

    One micrograph on the CPU, in one thread. Parallelism comes from running several at once
    (threads here, processes on Dask), never from splitting one convolution: its arithmetic, and so
    every score, is then the same however many cores or workers a run has.
    """
    score_map = score_micrographs(model, [image], device=torch.device("cpu"), batch_size=1,
                                  tile_size_px=job.config.tile_size_px, output_stride=job.score_stride_px)[0]
    return picks_of(score_map, job)


def pick_locally(model: PickerNet, todo: list[S], *, load: Callable[[S], npt.NDArray[np.float32]],
                 save: Callable[[S, dict[str, npt.NDArray[np.float64]]], None], job: ExtractJob,
                 device: torch.device, quiet: bool) -> None:
    """Pick ``todo`` in this process: on the CPU one micrograph per thread, on a GPU in batches."""
    if device.type == "cpu":
        run_on_cpu_threads(model, todo, lambda own_model, item: save(item, pick_image(own_model, load(item), job)),
                           quiet=quiet)
    else:
        pick_batched(model, todo, load=load, save=save, job=job, device=device, quiet=quiet)


def pick_batched(model: PickerNet, todo: list[S], *, load: Callable[[S], npt.NDArray[np.float32]],
                 save: Callable[[S, dict[str, npt.NDArray[np.float64]]], None], job: ExtractJob,
                 device: torch.device, quiet: bool) -> None:
    """A GPU's path (it runs on any device): see :func:`cryopick.extract.runtime.run_batched`."""
    run_batched(model, todo, load, lambda item, score_map: save(item, picks_of(score_map, job)),
                device=device, batch_size=job.config.batch_size or 8, tile_size_px=job.config.tile_size_px,
                output_stride=job.score_stride_px, quiet=quiet)
