"""``run_preprocess``: micrographs in, downsampled and normalised float32 MRC + manifest out."""

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from cryopick import __version__
from cryopick.cluster import ClusterConfig, map_on_cluster, optional_dask_client
from cryopick.config import Geometry, PreprocessConfig, choose_downsample_factor, sizes_agree
from cryopick.errors import ConfigError, InputError
from cryopick.io.manifest import MicrographRecord, PreprocessManifest, manifest_path, write_manifest
from cryopick.io.micrographs import Micrograph, read_micrograph, write_mrc
from cryopick.io.results import RESULTS_DIR, ResultStore, fingerprint
from cryopick.preprocess.normalization import (
    Normalization,
    downsample_and_normalize,
    fit_normalization,
    pixel_sample,
)

log = logging.getLogger(__name__)


def resolve_pixel_size(micrograph: Micrograph, override_A: float | None) -> float:
    """The user's value wins, with a warning when the header disagrees; no value is an error."""
    header = micrograph.pixel_size_A
    if override_A is not None:
        if header is not None and not sizes_agree(header, override_A):
            log.warning("%s: header pixel size %.4g A differs from the given %.4g A; using %.4g A",
                        micrograph.path, header, override_A, override_A)
        return override_A
    if header is None:
        raise InputError(micrograph.path, "no pixel size in the file: give it with --pixel-size-A")
    return header


def resolve_geometry(config: PreprocessConfig, first: Micrograph) -> Geometry:
    """The geometry to preprocess at; warns when the particle is a size the networks handle poorly."""
    pixel_size_A = resolve_pixel_size(first, config.pixel_size_A)
    factor = config.downsample_factor or choose_downsample_factor(config.particle_diameter_A, pixel_size_A)
    geometry = Geometry(config.particle_diameter_A, pixel_size_A, factor)
    if not 8 <= 2 * geometry.particle_radius_px <= 60:
        log.warning("the particle is %.1f working pixels across; 10-30 works best (downsample factor %d)",
                    2 * geometry.particle_radius_px, factor)
    return geometry


def sample_micrograph(path: Path, *, config: PreprocessConfig, geometry: Geometry, n_samples: int,
                      results_dir: Path, settings: str) -> str:
    """Pass 1 for one micrograph: check, downsample and sample it.

    A task: its pixels are sampled for the mixture fit, seeded by its name, so the sample is the
    same in any order or process.
    """
    micrograph = read_micrograph(path)
    size = resolve_pixel_size(micrograph, config.pixel_size_A)
    if not sizes_agree(size, geometry.pixel_size_A):
        raise InputError(path, f"pixel size {size:.4g} A differs from the first micrograph's "
                               f"{geometry.pixel_size_A:.4g} A; preprocess them separately")
    if min(micrograph.array.shape) < 4 * geometry.downsample_factor:
        raise InputError(path, f"image {micrograph.array.shape} is too small to downsample "
                               f"{geometry.downsample_factor}x")
    if float(micrograph.array.min()) == float(micrograph.array.max()):
        raise InputError(path, f"every pixel is {micrograph.array.flat[0]:g}: a blank image has nothing "
                               "to pick (remove it from the set)")
    samples = pixel_sample(micrograph.array, downsample_factor=geometry.downsample_factor,
                           method=config.normalization, n_samples=n_samples, seed=config.seed, name=micrograph.name)
    shape = (int(micrograph.array.shape[0]), int(micrograph.array.shape[1]))
    ResultStore(results_dir).write(f"{micrograph.name}.sample", settings, path,
                                   {"samples": samples, "shape_orig_px": np.array(shape)})
    return micrograph.name  # the sample stays on disk: nothing large travels back from a worker


def normalize_and_write(path: Path, *, geometry: Geometry, normalization: Normalization, scale: float, output_dir: Path,
                        results_dir: Path, settings: str) -> tuple[str, tuple[int, int], float, float]:
    """Pass 2 for one micrograph (a task): downsample, normalise, write the working-pixel MRC."""
    image, scale, offset = downsample_and_normalize(read_micrograph(path).array, normalization=normalization,
                                                    downsample_factor=geometry.downsample_factor, scale=scale)
    output = output_dir / f"{path.stem}.mrc"
    write_mrc(output, image, pixel_size_A=geometry.working_pixel_size_A)
    shape = (int(image.shape[0]), int(image.shape[1]))
    ResultStore(results_dir).write(path.stem, settings, path, {"shape_px": np.array(shape),
                                                               "scale_offset": np.array([scale, offset])},
                                   outputs=[output])
    return path.stem, shape, float(scale), float(offset)


def run_preprocess(
    config: PreprocessConfig, micrograph_paths: list[Path], output_dir: Path, *, quiet: bool = False,
    cluster: ClusterConfig | None = None,
) -> PreprocessManifest:
    """Preprocess micrographs, resumably, in two passes.

    Two passes over the micrographs, each a task per micrograph (in-process or on Dask): sample
    pixels, fit the mixture over the whole set, normalise and write. Each micrograph's results
    are kept, so a rerun after a kill redoes only what is missing; the outputs are the same.
    """
    output_dir = Path(output_dir)
    resolved_inputs = {p.resolve() for p in micrograph_paths}
    for path in micrograph_paths:
        if (output_dir / f"{path.stem}.mrc").resolve() in resolved_inputs:
            raise ConfigError(f"output {output_dir / (path.stem + '.mrc')} would overwrite an input "
                              "micrograph; choose another output directory")
    geometry = resolve_geometry(config, read_micrograph(micrograph_paths[0]))
    log.info("pixel size %.4g A, downsampling %dx: particle %.1f working px across",
             geometry.pixel_size_A, geometry.downsample_factor, 2 * geometry.particle_radius_px)
    n_samples = max(1000, min(config.gmm_samples_per_micrograph, config.gmm_samples_total // len(micrograph_paths)))
    results_dir = output_dir / RESULTS_DIR
    store = ResultStore(results_dir)
    with optional_dask_client(cluster or ClusterConfig()) as client:
        sample_settings = fingerprint({"config": dataclasses.asdict(config), "geometry": geometry.to_json(),
                                       "n_samples": n_samples})
        todo = [p for p in micrograph_paths if not store.is_done(f"{p.stem}.sample", sample_settings, p)]
        for _ in map_on_cluster(client, sample_micrograph, todo, desc="read+sample", quiet=quiet, config=config,
                       geometry=geometry, n_samples=n_samples, results_dir=results_dir, settings=sample_settings):
            pass
        sampled = [store.read(f"{p.stem}.sample") for p in micrograph_paths]
        normalization, fitted_scales = fit_normalization(config.normalization, [s["samples"] for s in sampled])
        scales = {path.stem: scale for path, scale in zip(micrograph_paths, fitted_scales, strict=True)}
        settings = {p.stem: fingerprint({"geometry": geometry.to_json(), "normalization": normalization.to_json(),
                                         "scale": scales[p.stem]}) for p in micrograph_paths}
        todo = [p for p in micrograph_paths if not store.is_done(p.stem, settings[p.stem], p,
                                                                  outputs=[output_dir / f"{p.stem}.mrc"])]
        if len(todo) < len(micrograph_paths):
            log.info("%d of %d micrographs already written by an earlier run", len(micrograph_paths) - len(todo),
                     len(micrograph_paths))
        tasks = [(p, settings[p.stem], scales[p.stem]) for p in todo]
        for _ in map_on_cluster(client, _normalize_task, tasks, desc="normalise+write", quiet=quiet, geometry=geometry,
                       normalization=normalization, output_dir=output_dir, results_dir=results_dir):
            pass
    records: dict[str, MicrographRecord] = {}
    for path, sample in zip(micrograph_paths, sampled, strict=True):
        saved = store.read(path.stem)
        shape_orig = (int(sample["shape_orig_px"][0]), int(sample["shape_orig_px"][1]))
        records[path.stem] = MicrographRecord(
            file=f"{path.stem}.mrc", source=str(path.resolve()), shape_orig_px=shape_orig,
            shape_px=(int(saved["shape_px"][0]), int(saved["shape_px"][1])), scale=float(saved["scale_offset"][0]),
            offset=float(saved["scale_offset"][1]), given_as=str(path),
        )
    manifest = PreprocessManifest(geometry, normalization, records, __version__)
    write_manifest(output_dir, manifest)
    log.info("wrote %d micrographs and %s", len(records), manifest_path(output_dir))
    return manifest


def _normalize_task(task: tuple[Path, str, float], **shared: Any) -> tuple[str, tuple[int, int], float, float]:
    path, settings, scale = task
    return normalize_and_write(path, scale=scale, settings=settings, **shared)
