"""``run_extract``: a model and micrographs in, picked coordinates (original pixels) out.

Micrographs are either a preprocessed directory (with ``preprocess.json``, checked against the
model's geometry) or raw micrographs, which are downsampled and normalised here exactly as the
model's training data were.
"""

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from cryopick.config import ExtractConfig, Geometry
from cryopick.errors import InputError
from cryopick.extract.nms import non_maximum_suppression
from cryopick.extract.rescale import to_original_px
from cryopick.extract.scoring import score_micrographs
from cryopick.io.coordinates import describe_output, format_of, write_coordinates
from cryopick.io.manifest import manifest_path, read_manifest
from cryopick.io.micrographs import find_micrographs, read_micrograph
from cryopick.io.model_files import CONFIG_NAME
from cryopick.picks import Picks
from cryopick.preprocess.fourier import fourier_crop
from cryopick.workflows.device import resolve_device
from cryopick.workflows.modelio import load_picker
from cryopick.workflows.preprocess import normalize_micrograph
from cryopick.workflows.sources import is_preprocessed, micrograph_infos

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ExtractSummary:
    n_micrographs: int
    n_picks: int
    outputs: list[Path]


def _same_geometry(a: Geometry, b: Geometry) -> bool:
    return (a.downsample_factor == b.downsample_factor
            and abs(a.pixel_size_A - b.pixel_size_A) <= 0.01 * b.pixel_size_A
            and abs(a.particle_diameter_A - b.particle_diameter_A) <= 0.01 * b.particle_diameter_A)


def _working_micrographs(inputs: list[Path], model_dir: Path, geometry: Geometry,
                         normalization: dict) -> tuple[list[str], Iterator[tuple[str, npt.NDArray[np.float32]]]]:
    """Names and a lazy stream of (name, normalised working-pixel image)."""
    if is_preprocessed(inputs):
        directory = inputs[0]
        manifest = read_manifest(directory)
        if not _same_geometry(manifest.geometry, geometry):
            raise InputError(manifest_path(directory), f"geometry {manifest.geometry} differs from the "
                                                       f"model's {geometry} in {model_dir / CONFIG_NAME}")
        names = sorted(manifest.micrographs)

        def stream_preprocessed() -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
            for name in names:
                yield name, read_micrograph(directory / manifest.micrographs[name].file).array
        return names, stream_preprocessed()
    paths = find_micrographs(inputs)

    def stream_raw() -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
        for index, path in enumerate(paths):
            micrograph = read_micrograph(path)
            size = micrograph.pixel_size_A
            if size is not None and abs(size - geometry.pixel_size_A) > 0.01 * geometry.pixel_size_A:
                log.warning("%s: pixel size %.4g A, the model was trained at %.4g A", path, size,
                            geometry.pixel_size_A)
            small = fourier_crop(micrograph.array, geometry.downsample_factor)
            image, _, _ = normalize_micrograph(small, normalization, seed=index, samples=20_000)
            yield micrograph.name, image
    return [p.stem for p in paths], stream_raw()


def _prefetched(stream: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``stream`` in a background thread, ``depth`` items ahead: reading, downsampling and
    normalising the next micrographs (numpy/scipy release the GIL) overlaps scoring this one."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in stream:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            buffer.put(exc)

    worker = threading.Thread(target=produce, name="cryopick-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _batches(stream: Iterator[tuple[str, np.ndarray]], size: int) -> Iterator[list[tuple[str, np.ndarray]]]:
    batch: list[tuple[str, np.ndarray]] = []
    for item in stream:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_extract(
    config: ExtractConfig,
    model_dir: Path,
    inputs: list[Path],
    output: Path,
    *,
    output_format: str | None = None,
    per_micrograph: bool = False,
    quiet: bool = False,
) -> ExtractSummary:
    model, record, geometry = load_picker(model_dir)
    fmt = (output_format or "star") if per_micrograph else format_of(output, output_format)
    box_size = geometry.particle_diameter_orig_px
    nms_radius_px = config.nms_radius_px or geometry.particle_radius_px
    device = resolve_device(config.device)
    batch_size = config.batch_size or (8 if device.type == "cuda" else 1)
    names, stream = _working_micrographs(inputs, Path(model_dir), geometry, record["normalization"])
    log.info("picking %d micrographs (NMS radius %.1f working px, threshold %g) on %s",
             len(names), nms_radius_px, config.threshold, device)
    parts: list[Picks] = []
    with tqdm(total=len(names), desc="extract", unit="mic", disable=quiet, leave=False) as progress:
        for batch in _batches(_prefetched(stream), batch_size):
            scores = score_micrographs(model, [image for _, image in batch], device=device,
                                       batch_size=batch_size, tile_size_px=config.tile_size_px)
            for (name, _), score_map in zip(batch, scores, strict=True):
                rows, cols, values = non_maximum_suppression(score_map, radius_px=nms_radius_px,
                                                             threshold=config.threshold)
                parts.append(Picks.build(
                    [name] * len(rows),
                    to_original_px(cols, downsample_factor=geometry.downsample_factor),
                    to_original_px(rows, downsample_factor=geometry.downsample_factor),
                    values,
                ))
            progress.update(len(batch))
    picks = Picks.concatenate(parts).with_info(micrograph_infos(inputs))
    outputs = write_coordinates(output, picks, fmt=fmt, per_micrograph=per_micrograph, micrographs=names,
                                box_size_orig_px=box_size)
    log.info("%d picks on %d micrographs -> %s", len(picks), len(names), describe_output(output, fmt, per_micrograph))
    return ExtractSummary(len(names), len(picks), outputs)
