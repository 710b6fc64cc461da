"""``run_preprocess``: micrographs in, downsampled and normalised float32 MRC + manifest out."""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from cryopick import __version__
from cryopick.config import Geometry, PreprocessConfig, choose_downsample_factor
from cryopick.errors import ConfigError, InputError
from cryopick.io.manifest import MicrographRecord, PreprocessManifest, write_manifest
from cryopick.io.micrographs import Micrograph, read_micrograph, write_mrc
from cryopick.preprocess.fourier import fourier_crop
from cryopick.preprocess.gmm import (
    GmmParams,
    fit_image_scale,
    fit_scaled_gmm,
    normalize_affine,
    normalize_gmm,
    sample_pixels,
)

log = logging.getLogger(__name__)

#: keep downsampled micrographs in memory between the two passes up to this many bytes
_CACHE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class NormalizedMicrograph:
    name: str
    image: npt.NDArray[np.float32]  # working pixels, normalised
    shape_orig_px: tuple[int, int]
    scale: float
    offset: float


def resolve_pixel_size(micrograph: Micrograph, override_A: float | None) -> float:
    """The user's value wins, with a warning when the header disagrees; no value is an error."""
    header = micrograph.pixel_size_A
    if override_A is not None:
        if header is not None and abs(header - override_A) > 0.01 * override_A:
            log.warning("%s: header pixel size %.4g A differs from the given %.4g A; using %.4g A",
                        micrograph.path, header, override_A, override_A)
        return override_A
    if header is None:
        raise InputError(micrograph.path, "no pixel size in the file: give it with --pixel-size-A")
    return header


def resolve_geometry(config: PreprocessConfig, first: Micrograph) -> Geometry:
    pixel_size_A = resolve_pixel_size(first, config.pixel_size_A)
    factor = config.downsample_factor or choose_downsample_factor(config.particle_diameter_A, pixel_size_A)
    geometry = Geometry(config.particle_diameter_A, pixel_size_A, factor)
    if not 8 <= 2 * geometry.particle_radius_px <= 60:
        log.warning("the particle is %.1f working pixels across; 10-30 works best (downsample factor %d)",
                    2 * geometry.particle_radius_px, factor)
    return geometry


def normalize_micrograph(image_px: npt.NDArray[np.float32], normalization: dict, *, seed: int,
                         samples: int) -> tuple[npt.NDArray[np.float32], float, float]:
    """Normalise one downsampled micrograph with a dataset's recorded normalisation; for the
    mixture its own scale is fitted under the dataset's components. Returns (image, scale, offset)."""
    if normalization["method"] == "gmm":
        params = GmmParams.from_json(normalization["gmm"])
        sample = sample_pixels(image_px, samples, np.random.default_rng(seed))
        scale = fit_image_scale(sample, params)
        return normalize_gmm(image_px, params, scale), scale, 0.0
    image, offset, scale = normalize_affine(image_px)
    return image, scale, offset


def run_preprocess(
    config: PreprocessConfig, micrograph_paths: list[Path], output_dir: Path, *, quiet: bool = False
) -> PreprocessManifest:
    output_dir = Path(output_dir)
    resolved_inputs = {p.resolve() for p in micrograph_paths}
    for path in micrograph_paths:
        if (output_dir / f"{path.stem}.mrc").resolve() in resolved_inputs:
            raise ConfigError(f"output {output_dir / (path.stem + '.mrc')} would overwrite an input "
                              "micrograph; choose another output directory")
    rng = np.random.default_rng(config.seed)
    geometry: Geometry | None = None
    cache: dict[str, npt.NDArray[np.float32]] = {}
    cached_bytes = 0
    samples: list[npt.NDArray[np.float64]] = []
    per_micrograph = max(1000, min(config.gmm_samples_per_micrograph,
                                   config.gmm_samples_total // len(micrograph_paths)))
    shapes: dict[str, tuple[int, int]] = {}
    for path in tqdm(micrograph_paths, desc="read+downsample", unit="mic", disable=quiet, leave=False):
        micrograph = read_micrograph(path)
        if geometry is None:
            geometry = resolve_geometry(config, micrograph)
            log.info("pixel size %.4g A, downsampling %dx: particle %.1f working px across",
                     geometry.pixel_size_A, geometry.downsample_factor, 2 * geometry.particle_radius_px)
        else:
            size = resolve_pixel_size(micrograph, config.pixel_size_A)
            if abs(size - geometry.pixel_size_A) > 0.01 * geometry.pixel_size_A:
                raise InputError(path, f"pixel size {size:.4g} A differs from the first micrograph's "
                                       f"{geometry.pixel_size_A:.4g} A; preprocess them separately")
        if min(micrograph.array.shape) < 4 * geometry.downsample_factor:
            raise InputError(path, f"image {micrograph.array.shape} is too small to downsample "
                                   f"{geometry.downsample_factor}x")
        if float(micrograph.array.min()) == float(micrograph.array.max()):
            raise InputError(path, f"every pixel is {micrograph.array.flat[0]:g}: a blank image has nothing "
                                   "to pick (remove it from the set)")
        small = fourier_crop(micrograph.array, geometry.downsample_factor)
        shapes[micrograph.name] = micrograph.array.shape  # type: ignore[assignment]
        if config.normalization == "gmm":
            samples.append(sample_pixels(small, per_micrograph, rng))
        if cached_bytes + small.nbytes <= _CACHE_BYTES:
            cache[micrograph.name] = small
            cached_bytes += small.nbytes
    assert geometry is not None
    normalization: dict = {"method": config.normalization}
    scales: dict[str, float] = {}
    if config.normalization == "gmm":
        fit = fit_scaled_gmm(samples)
        normalization["gmm"] = fit.params.to_json()
        normalization["iterations"] = fit.iterations
        scales = {path.stem: float(s) for path, s in zip(micrograph_paths, fit.scales, strict=True)}
        d = fit.params.dominant
        log.info("mixture fitted in %d EM iterations: dominant component mean %.4g sd %.4g, weight %.3f",
                 fit.iterations, fit.params.mean[d], fit.params.std[d], fit.params.weight[d])
    records: dict[str, MicrographRecord] = {}
    for path in tqdm(micrograph_paths, desc="normalise+write", unit="mic", disable=quiet, leave=False):
        name = path.stem
        small = cache.pop(name, None)
        if small is None:
            small = fourier_crop(read_micrograph(path).array, geometry.downsample_factor)
        if config.normalization == "gmm":
            params = GmmParams.from_json(normalization["gmm"])
            image, scale, offset = normalize_gmm(small, params, scales[name]), scales[name], 0.0
        else:
            image, offset, scale = normalize_affine(small)
        write_mrc(output_dir / f"{name}.mrc", image, pixel_size_A=geometry.working_pixel_size_A)
        records[name] = MicrographRecord(
            file=f"{name}.mrc", source=str(path.resolve()), shape_orig_px=shapes[name],
            shape_px=image.shape, scale=scale, offset=offset,  # type: ignore[arg-type]
        )
    manifest = PreprocessManifest(geometry, normalization, records, __version__)
    write_manifest(output_dir, manifest)
    log.info("wrote %d micrographs and %s", len(records), output_dir / "preprocess.json")
    return manifest
