"""A model ready to pick, in this process or on Dask.

:class:`Extractor` holds the model and the per-micrograph job (``cryopick.extract.job``), reads
each micrograph and keeps its picks in a result store, picking in this process or as Dask tasks;
``run_extract`` and ``run_extract_watch`` drive it.
"""

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from cryopick.cluster import ClusterConfig, dask_client, map_on_cluster
from cryopick.config import ExtractConfig, Geometry
from cryopick.device import resolve_device
from cryopick.errors import InputError
from cryopick.extract.job import ExtractJob, pick_batched, pick_image, pick_locally, picks_settings, prepared_image
from cryopick.extract.runtime import worker_model
from cryopick.io.manifest import manifest_path
from cryopick.io.micrographs import read_micrograph
from cryopick.io.model_files import CONFIG_NAME, load_model, model_files
from cryopick.io.results import ResultStore, fingerprint
from cryopick.picks import Picks
from cryopick.workflows.modelio import build_picker, recorded_normalization
from cryopick.workflows.sources import (
    MicrographSource,
    MicrographSources,
    find_micrograph_sources,
)

log = logging.getLogger(__name__)


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
    return prepared_image(micrograph.array, micrograph.pixel_size_A, job, path=source.path)


def extract_on_worker(source: MicrographSource, *, model_payload: dict[str, Any], job: ExtractJob) -> tuple[str, int]:
    """One micrograph as a Dask task: each worker thread builds the model once and keeps it."""
    model = worker_model(model_payload["record"].get("weights_sha256", ""), lambda: build_picker(
        model_payload["tensors"], model_payload["record"], Path(model_payload["path"]))[0])
    arrays = pick_image(model, working_image(source, job), job)
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
        nms_radius_px = config.nms_radius_px or self.geometry.particle_radius_px
        score_stride_px = config.resolved_score_stride_px(self.model.input_pool)
        config = dataclasses.replace(config, score_stride_px=score_stride_px)  # the fingerprint records it
        normalization = recorded_normalization(record, config_path)
        settings = fingerprint(picks_settings(config, self.geometry, normalization, nms_radius_px=nms_radius_px,
                                              weights_sha256=record.get("weights_sha256")))
        self.job = ExtractJob(config, self.geometry, normalization, nms_radius_px, score_stride_px, settings,
                              Path(results_dir))
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
        pick_locally(self.model, todo, load=self._load, save=self._save, job=self.job,
                     device=resolve_device(self.job.config.device), quiet=self.quiet)
        return skipped

    def run_batched(self, todo: list[MicrographSource], device: torch.device) -> None:
        """A GPU's path (it runs on any device): see :func:`cryopick.extract.job.pick_batched`."""
        pick_batched(self.model, todo, load=self._load, save=self._save, job=self.job, device=device,
                     quiet=self.quiet)

    def _load(self, source: MicrographSource) -> npt.NDArray[np.float32]:
        return working_image(source, self.job)

    def _save(self, source: MicrographSource, arrays: dict[str, npt.NDArray[np.float64]]) -> None:
        self.store.write(source.name, self.job.settings, source.path, arrays)

    def picks(self, sources: list[MicrographSource]) -> Picks:
        """The stored picks of ``sources``, in their order."""
        parts = []
        for source in sources:
            arrays = self.store.read(source.name)
            parts.append(Picks.build([source.name] * len(arrays["score"]), arrays["x_orig_px"], arrays["y_orig_px"],
                                     arrays["score"]))
        return Picks.concatenate(parts)
