"""A model ready to pick, in this process or on Dask.

:class:`Extractor` holds the per-micrograph job, the micrograph read and prepared at the
model's scale, its picks kept in a result store, in this process (see
``cryopick.extract.runtime``) or as Dask tasks; ``run_extract`` and ``run_extract_watch`` drive it.
"""

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from cryopick.cluster import ClusterConfig, dask_client, map_on_cluster
from cryopick.config import ExtractConfig, Geometry, sizes_agree
from cryopick.device import resolve_device
from cryopick.errors import InputError
from cryopick.extract.picking import peaks_orig_px
from cryopick.extract.runtime import run_batched, run_on_cpu_threads, worker_model
from cryopick.extract.scoring import score_micrographs
from cryopick.io.manifest import manifest_path
from cryopick.io.micrographs import read_micrograph
from cryopick.io.model_files import CONFIG_NAME, load_model, model_files
from cryopick.io.results import ResultStore, fingerprint
from cryopick.models import PickerNet
from cryopick.picks import Picks
from cryopick.preprocess.normalization import Normalization, prepare_micrograph
from cryopick.workflows.modelio import build_picker, recorded_normalization
from cryopick.workflows.sources import (
    MicrographSource,
    MicrographSources,
    find_micrograph_sources,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractJob:
    """What every micrograph's task needs besides the model: sent to each Dask worker once."""

    config: ExtractConfig
    geometry: Geometry
    normalization: Normalization
    nms_radius_px: float
    settings: str  # fingerprint of the model's weights and every setting that changes the picks
    results_dir: Path


def check_geometry(sources: MicrographSources, geometry: Geometry, model_dir: Path) -> None:
    """Refuse a preprocessed directory at a geometry other than the model's.

    A preprocessed directory must be at the model's geometry (raw micrographs are checked one
    by one as they are read).
    """
    if sources.manifest is not None and sources.directory is not None \
            and not sources.manifest.geometry.agrees_with(geometry):
        raise InputError(manifest_path(sources.directory), f"geometry {sources.manifest.geometry} differs from "
                                                           f"the model's {geometry} in {model_dir / CONFIG_NAME}")


def working_image(source: MicrographSource, job: ExtractJob) -> npt.NDArray[np.float32]:
    """A micrograph at the model's scale and normalisation, read from its source."""
    micrograph = read_micrograph(source.path)
    if source.preprocessed:
        return micrograph.array
    size = job.config.pixel_size_A or micrograph.pixel_size_A
    expected = job.geometry.pixel_size_A
    # picking at another scale than the model learnt finds nothing useful: refuse, never guess
    if size is None:
        raise InputError(source.path, f"records no pixel size; the model was trained at {expected:.4g} A/px: "
                                      "give --pixel-size-A if that is this micrograph's")
    if not sizes_agree(size, expected):
        given = "given with --pixel-size-A" if job.config.pixel_size_A else "in its header"
        raise InputError(source.path, f"pixel size {size:.4g} A ({given}), but the model was trained at "
                                      f"{expected:.4g} A/px: preprocess these micrographs with their own pixel size "
                                      "and train a model on them, or resample them to the model's")
    return prepare_micrograph(micrograph.array, downsample_factor=job.geometry.downsample_factor,
                              normalization=job.normalization)


def _picks_of(score_map: npt.NDArray[np.float32], job: ExtractJob) -> dict[str, npt.NDArray[np.float64]]:
    return peaks_orig_px(score_map, score_stride_px=job.config.score_stride_px, nms_radius_px=job.nms_radius_px,
                         threshold=job.config.threshold, downsample_factor=job.geometry.downsample_factor)


def pick_one(model: PickerNet, source: MicrographSource, job: ExtractJob) -> dict[str, npt.NDArray[np.float64]]:
    """Pick one micrograph on the CPU in one thread, so scores never depend on core count.

    One micrograph on the CPU, in one thread. Parallelism comes from running several at once
    (threads here, processes on Dask), never from splitting one convolution: its arithmetic, and so
    every score, is then the same however many cores or workers a run has.
    """
    image = working_image(source, job)
    score_map = score_micrographs(model, [image], device=torch.device("cpu"), batch_size=1,
                                  tile_size_px=job.config.tile_size_px, output_stride=job.config.score_stride_px)[0]
    return _picks_of(score_map, job)


def extract_on_worker(source: MicrographSource, *, model_payload: dict[str, Any], job: ExtractJob) -> tuple[str, int]:
    """One micrograph as a Dask task: each worker thread builds the model once and keeps it."""
    model = worker_model(model_payload["record"].get("weights_sha256", ""), lambda: build_picker(
        model_payload["tensors"], model_payload["record"], Path(model_payload["path"]))[0])
    arrays = pick_one(model, source, job)
    ResultStore(job.results_dir).write(source.name, job.settings, source.path, arrays)
    return source.name, len(arrays["score"])


class Extractor:
    """A model ready to pick, whose runs skip micrographs already done.

    It picks in this process or on a Dask cluster; ``run`` may be called again with more
    micrographs (``--watch``), doing only those not yet done.
    """

    def __init__(self, config: ExtractConfig, model_dir: Path, results_dir: Path, *,
                 cluster: ClusterConfig | None = None, quiet: bool = False) -> None:
        tensors, record = load_model(model_dir)
        self.model_dir = Path(model_dir)
        config_path, _ = model_files(self.model_dir)
        self.model, self.geometry = build_picker(tensors, record, config_path)
        self.record = record
        self.payload = {"tensors": tensors, "record": record, "path": str(config_path)}
        settings = dataclasses.asdict(config)
        for irrelevant in ("batch_size", "device"):  # change the speed, not the picks
            settings.pop(irrelevant)
        nms_radius_px = config.nms_radius_px or self.geometry.particle_radius_px
        normalization = recorded_normalization(record, config_path)
        self.job = ExtractJob(config, self.geometry, normalization, nms_radius_px, fingerprint({
            "settings": settings, "nms_radius_px": nms_radius_px, "weights_sha256": record.get("weights_sha256"),
            "geometry": self.geometry.to_json(), "normalization": normalization.to_json()}), Path(results_dir))
        self.store = ResultStore(results_dir)
        self.cluster = cluster or ClusterConfig()
        self.quiet = quiet
        self._client_context: Any = None
        self.client: Any = None

    def __enter__(self) -> "Extractor":
        if self.cluster.distributed:
            self._client_context = dask_client(self.cluster)
            self.client = self._client_context.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client_context is not None:
            self._client_context.__exit__(*exc_info)

    def sources(self, inputs: list[Path]) -> list[MicrographSource]:
        """The micrographs ``inputs`` name, checked against the model's geometry."""
        sources = find_micrograph_sources(inputs)
        check_geometry(sources, self.geometry, self.model_dir)
        return sources.micrographs

    def pending(self, sources: list[MicrographSource]) -> list[MicrographSource]:
        """The sources whose results are missing or stale."""
        return [s for s in sources if not self.store.is_done(s.name, self.job.settings, s.path)]

    def run(self, sources: list[MicrographSource]) -> int:
        """Pick every source not done yet; returns how many were skipped as done."""
        todo = self.pending(sources)
        skipped = len(sources) - len(todo)
        if skipped:
            log.info("%d of %d micrographs already done by an earlier run (same inputs, model and settings)",
                     skipped, len(sources))
        if not todo:
            return skipped
        if self.client is not None:
            for _ in map_on_cluster(self.client, extract_on_worker, todo, desc="extract", quiet=self.quiet,
                                    model_payload=self.payload, job=self.job):
                pass
            return skipped
        device = resolve_device(self.job.config.device)
        if device.type == "cpu":
            run_on_cpu_threads(self.model, todo, self._pick_and_save, quiet=self.quiet)
        else:
            self.run_batched(todo, device)
        return skipped

    def _pick_and_save(self, model: PickerNet, source: MicrographSource) -> None:
        self.store.write(source.name, self.job.settings, source.path, pick_one(model, source, self.job))

    def run_batched(self, todo: list[MicrographSource], device: torch.device) -> None:
        """A GPU's path (it runs on any device): see :func:`cryopick.extract.runtime.run_batched`."""
        run_batched(self.model, todo, lambda source: working_image(source, self.job),
                    lambda source, score_map: self.store.write(source.name, self.job.settings, source.path,
                                                               _picks_of(score_map, self.job)),
                    device=device, batch_size=self.job.config.batch_size or 8,
                    tile_size_px=self.job.config.tile_size_px, output_stride=self.job.config.score_stride_px,
                    quiet=self.quiet)

    def picks(self, sources: list[MicrographSource]) -> Picks:
        """The stored picks of ``sources``, in their order."""
        parts = []
        for source in sources:
            arrays = self.store.read(source.name)
            parts.append(Picks.build([source.name] * len(arrays["score"]), arrays["x_orig_px"], arrays["y_orig_px"],
                                     arrays["score"]))
        return Picks.concatenate(parts)
