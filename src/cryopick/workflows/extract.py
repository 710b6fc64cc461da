"""``run_extract``: a model and micrographs in, picked coordinates (original pixels) out.

Micrographs are either a preprocessed directory (with ``preprocess.json``, checked against the
model's geometry) or raw micrographs, which are downsampled and normalised here exactly as the
model's training data were. Each micrograph's picks are saved as it finishes (a
:class:`~cryopick.io.results.ResultStore` beside the output), so a rerun skips the micrographs
already done from the same inputs, model and settings; the output files are assembled from those
results at the end. Micrographs run in this process (batched, loading overlapped with scoring) or
as Dask tasks (``ClusterConfig``); the picks are the same either way.
"""

import collections
import contextlib
import copy
import dataclasses
import itertools
import logging
import os
import signal
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from cryopick.config import ExtractConfig, Geometry
from cryopick.errors import InputError
from cryopick.extract.nms import non_maximum_suppression
from cryopick.extract.rescale import to_original_px
from cryopick.extract.scoring import score_micrographs
from cryopick.io._atomic import is_stream
from cryopick.io.coordinates import describe_output, format_of, write_coordinates
from cryopick.io.manifest import manifest_path, read_manifest
from cryopick.io.micrographs import MICROGRAPH_SUFFIXES, find_micrographs, read_micrograph
from cryopick.io.model_files import CONFIG_NAME, load_model
from cryopick.io.results import RESULTS_DIR, ResultStore, fingerprint
from cryopick.models import PickerNet
from cryopick.picks import Picks
from cryopick.preprocess.fourier import fourier_crop
from cryopick.workflows.cluster import ClusterConfig, dask_client, map_on_cluster
from cryopick.workflows.device import resolve_device
from cryopick.workflows.modelio import build_picker
from cryopick.workflows.preprocess import normalize_micrograph
from cryopick.workflows.sources import is_preprocessed, micrograph_infos

log = logging.getLogger(__name__)
S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class ExtractSummary:
    n_micrographs: int
    n_picks: int
    n_skipped: int  # already done by an earlier run from the same inputs
    outputs: list[Path]


@dataclass(frozen=True)
class MicrographSource:
    name: str
    path: Path  # the file scored: preprocessed MRC or the raw micrograph
    preprocessed: bool


@dataclass(frozen=True)
class ExtractJob:
    """What every micrograph's task needs besides the model: sent to each Dask worker once."""

    config: ExtractConfig
    geometry: Geometry
    normalization: dict[str, Any]
    nms_radius_px: float
    settings: str  # fingerprint of the model's weights and every setting that changes the picks
    results_dir: Path


def _same_geometry(a: Geometry, b: Geometry) -> bool:
    return (a.downsample_factor == b.downsample_factor
            and abs(a.pixel_size_A - b.pixel_size_A) <= 0.01 * b.pixel_size_A
            and abs(a.particle_diameter_A - b.particle_diameter_A) <= 0.01 * b.particle_diameter_A)


def micrograph_sources(inputs: list[Path], model_dir: Path, geometry: Geometry) -> list[MicrographSource]:
    if is_preprocessed(inputs):
        directory = inputs[0]
        manifest = read_manifest(directory)
        if not _same_geometry(manifest.geometry, geometry):
            raise InputError(manifest_path(directory), f"geometry {manifest.geometry} differs from the "
                                                       f"model's {geometry} in {model_dir / CONFIG_NAME}")
        return [MicrographSource(name, directory / manifest.micrographs[name].file, True)
                for name in sorted(manifest.micrographs)]
    return [MicrographSource(path.stem, path, False) for path in find_micrographs(inputs)]


def working_image(source: MicrographSource, job: ExtractJob) -> npt.NDArray[np.float32]:
    micrograph = read_micrograph(source.path)
    if source.preprocessed:
        return micrograph.array
    size = job.config.pixel_size_A or micrograph.pixel_size_A
    expected = job.geometry.pixel_size_A
    # picking at another scale than the model learnt finds nothing useful: refuse, never guess
    if size is None:
        raise InputError(source.path, f"records no pixel size; the model was trained at {expected:.4g} A/px: "
                                      "give --pixel-size-A if that is this micrograph's")
    if abs(size - expected) > 0.01 * expected:
        given = "given with --pixel-size-A" if job.config.pixel_size_A else "in its header"
        raise InputError(source.path, f"pixel size {size:.4g} A ({given}), but the model was trained at "
                                      f"{expected:.4g} A/px: preprocess these micrographs with their own pixel size "
                                      "and train a model on them, or resample them to the model's")
    small = fourier_crop(micrograph.array, job.geometry.downsample_factor)
    # the micrograph's own scale is fitted on a sample seeded by its content: the same in every run,
    # and under any file name
    image, _, _ = normalize_micrograph(small, job.normalization, seed=zlib.crc32(small.tobytes()),
                                       samples=20_000)
    return image


def _picks_of(score_map: npt.NDArray[np.float32], job: ExtractJob) -> dict[str, npt.NDArray]:
    """Peaks of a map scored every ``score_stride_px`` working pixels, in original pixels."""
    stride = job.config.score_stride_px
    rows, cols, values = non_maximum_suppression(score_map, radius_px=job.nms_radius_px / stride,
                                                 threshold=job.config.threshold)
    factor = job.geometry.downsample_factor
    return {"x_orig_px": to_original_px(cols * stride, downsample_factor=factor),
            "y_orig_px": to_original_px(rows * stride, downsample_factor=factor), "score": values.astype(np.float64)}


def pick_one(model: PickerNet, source: MicrographSource, job: ExtractJob) -> dict[str, npt.NDArray]:
    """One micrograph on the CPU, in one thread. Parallelism comes from running several at once
    (threads here, processes on Dask), never from splitting one convolution: its arithmetic, and so
    every score, is then the same however many cores or workers a run has."""
    image = working_image(source, job)
    score_map = score_micrographs(model, [image], device=torch.device("cpu"), batch_size=1,
                                  tile_size_px=job.config.tile_size_px, output_stride=job.config.score_stride_px)[0]
    return _picks_of(score_map, job)


_WORKER_MODEL = threading.local()  # per worker thread: scoring switches a model's mode


def extract_on_worker(source: MicrographSource, *, model_payload: dict[str, Any], job: ExtractJob) -> tuple[str, int]:
    """One micrograph as a Dask task: each worker thread builds the model once and keeps it."""
    key = model_payload["record"].get("weights_sha256", "")
    if getattr(_WORKER_MODEL, "key", None) != key:
        _WORKER_MODEL.model, _ = build_picker(model_payload["tensors"], model_payload["record"],
                                              Path(model_payload["path"]))
        _WORKER_MODEL.key = key
        torch.set_num_threads(1)  # the worker's Dask threads are the parallelism (see pick_one)
    arrays = pick_one(_WORKER_MODEL.model, source, job)
    ResultStore(job.results_dir).write(source.name, job.settings, source.path, arrays)
    return source.name, len(arrays["score"])


def loader_threads() -> int:
    """Threads that load micrographs for a GPU: every core but the one driving it, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def _loaded_ahead(load: Callable[[S], T], items: list[S], *, threads: int, depth: int) -> Iterator[tuple[S, T]]:
    """``(item, load(item))`` in order, with up to ``depth`` loads running ahead on ``threads``
    threads: reading, downsampling and normalising the next micrographs (numpy, scipy and mrcfile
    release the GIL) overlaps scoring these, and on a GPU several cores keep it fed."""
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="cryopick-load") as pool:
        pending: collections.deque = collections.deque()
        upcoming = iter(items)
        try:
            for item in itertools.islice(upcoming, max(1, depth)):
                pending.append((item, pool.submit(load, item)))
            while pending:
                item, future = pending.popleft()
                result = future.result()
                for following in itertools.islice(upcoming, 1):
                    pending.append((following, pool.submit(load, following)))
                yield item, result
        finally:  # stopped early (an error, Ctrl-C): drop what has not started
            for _, future in pending:
                future.cancel()


def _batches(stream: Iterator[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in stream:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def results_dir_for(output: Path, per_micrograph: bool) -> Path:
    """Where per-micrograph results live: inside an output directory, or beside an output file."""
    return output / RESULTS_DIR if per_micrograph else output.parent / RESULTS_DIR / output.name


class Extractor:
    """A model ready to pick, in this process or on a Dask cluster; ``run`` may be called again
    with more micrographs (``--watch``), doing only those not yet done."""

    def __init__(self, config: ExtractConfig, model_dir: Path, results_dir: Path, *,
                 cluster: ClusterConfig | None = None, quiet: bool = False) -> None:
        tensors, record = load_model(model_dir)
        self.model_dir = Path(model_dir)
        config_path = self.model_dir / CONFIG_NAME if self.model_dir.is_dir() else self.model_dir
        self.model, self.geometry = build_picker(tensors, record, config_path)
        self.record = record
        self.payload = {"tensors": tensors, "record": record, "path": str(config_path)}
        settings = dataclasses.asdict(config)
        for irrelevant in ("batch_size", "device"):  # change the speed, not the picks
            settings.pop(irrelevant)
        nms_radius_px = config.nms_radius_px or self.geometry.particle_radius_px
        self.job = ExtractJob(config, self.geometry, record["normalization"], nms_radius_px, fingerprint({
            "settings": settings, "nms_radius_px": nms_radius_px, "weights_sha256": record.get("weights_sha256"),
            "geometry": self.geometry.to_json(), "normalization": record["normalization"]}), Path(results_dir))
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
        return micrograph_sources(inputs, self.model_dir, self.geometry)

    def pending(self, sources: list[MicrographSource]) -> list[MicrographSource]:
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
            self._run_on_cpu_threads(todo)
        else:
            self.run_batched(todo, device)
        return skipped

    def _run_on_cpu_threads(self, todo: list[MicrographSource]) -> None:
        threads = max(1, min(torch.get_num_threads(), len(todo)))
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="cryopick-extract")
        try:
            with tqdm(total=len(todo), desc="extract", unit="mic", disable=self.quiet, leave=False) as progress:
                own = threading.local()  # scoring switches a model's mode: one copy per thread

                def one(source: MicrographSource) -> None:
                    if not hasattr(own, "model"):
                        own.model = copy.deepcopy(self.model)
                    self.store.write(source.name, self.job.settings, source.path, pick_one(own.model, source, self.job))

                for future in as_completed([pool.submit(one, source) for source in todo]):
                    future.result()
                    progress.update(1)
        except BaseException:
            # Ctrl-C or an error: drop the queued micrographs now (the ones in flight finish, a
            # second or so); what is done stays in the result store for the rerun
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        else:
            pool.shutdown(wait=True)
        finally:
            torch.set_num_threads(previous)

    def run_batched(self, todo: list[MicrographSource], device: torch.device) -> None:
        """A GPU's path (it runs on any device): micrographs scored in batches while the next ones
        are loaded on the CPU's other cores."""
        batch_size = self.job.config.batch_size or 8
        loaders = loader_threads()
        loaded = _loaded_ahead(lambda source: working_image(source, self.job), todo, threads=loaders,
                               depth=batch_size + loaders)
        with tqdm(total=len(todo), desc="extract", unit="mic", disable=self.quiet, leave=False) as progress:
            for batch in _batches(loaded, batch_size):
                score_maps = score_micrographs(self.model, [image for _, image in batch], device=device,
                                               batch_size=batch_size, tile_size_px=self.job.config.tile_size_px,
                                               output_stride=self.job.config.score_stride_px)
                for (source, _), score_map in zip(batch, score_maps, strict=True):
                    self.store.write(source.name, self.job.settings, source.path, _picks_of(score_map, self.job))
                progress.update(len(batch))

    def picks(self, sources: list[MicrographSource]) -> Picks:
        parts = []
        for source in sources:
            arrays = self.store.read(source.name)
            parts.append(Picks.build([source.name] * len(arrays["score"]), arrays["x_orig_px"], arrays["y_orig_px"],
                                     arrays["score"]))
        return Picks.concatenate(parts)


def run_extract(
    config: ExtractConfig,
    model_dir: Path,
    inputs: list[Path],
    output: Path,
    *,
    output_format: str | None = None,
    per_micrograph: bool = False,
    quiet: bool = False,
    cluster: ClusterConfig | None = None,
) -> ExtractSummary:
    output = Path(output)
    fmt = (output_format or "star") if per_micrograph else format_of(output, output_format)
    with contextlib.ExitStack() as scratch:
        # standard output, a FIFO or a device has no folder beside it: results live only for this run
        results_dir = (Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="cryopick-results-")))
                       if is_stream(output) else results_dir_for(output, per_micrograph))
        extractor = scratch.enter_context(Extractor(config, model_dir, results_dir, cluster=cluster, quiet=quiet))
        sources = extractor.sources(inputs)
        log.info("picking %d micrographs (NMS radius %.1f working px, threshold %g)%s", len(sources),
                 extractor.job.nms_radius_px, config.threshold,
                 " on a Dask cluster" if extractor.client is not None else "")
        skipped = extractor.run(sources)
        picks = extractor.picks(sources)
    return _write_outputs(picks, sources, inputs, output, fmt, per_micrograph, _box_size(config, extractor), skipped)


def _box_size(config: ExtractConfig, extractor: "Extractor") -> float:
    """The EMAN2 .box side: as set, else the particle diameter the model records."""
    return config.box_size_orig_px or extractor.geometry.particle_diameter_orig_px


def _write_outputs(picks: Picks, sources: list[MicrographSource], inputs: list[Path], output: Path, fmt: str,
                   per_micrograph: bool, box_size_orig_px: float, skipped: int) -> ExtractSummary:
    picks = picks.with_info(micrograph_infos(inputs))
    names = [s.name for s in sources]
    outputs = write_coordinates(output, picks, fmt=fmt, per_micrograph=per_micrograph, micrographs=names,
                                box_size_orig_px=box_size_orig_px)
    log.info("%d picks on %d micrographs -> %s", len(picks), len(names), describe_output(output, fmt, per_micrograph))
    return ExtractSummary(len(names), len(picks), skipped, outputs)


def _stable_files(directory: Path, last_seen: dict[Path, tuple[int, int]]) -> list[Path]:
    """Micrographs whose size and modification time did not change since the previous poll: a
    file still being written is left for a later poll (so are hidden and temporary names)."""
    ready = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in MICROGRAPH_SUFFIXES or not path.is_file():
            continue
        status = path.stat()
        key = (status.st_size, status.st_mtime_ns)
        if last_seen.get(path) == key and status.st_size > 0:
            ready.append(path)
        last_seen[path] = key
    return ready


def run_extract_watch(
    config: ExtractConfig,
    model_dir: Path,
    watch_dir: Path,
    output: Path,
    *,
    output_format: str | None = None,
    per_micrograph: bool = False,
    quiet: bool = False,
    cluster: ClusterConfig | None = None,
    poll_interval_s: float = 5.0,
    stop_after_idle_s: float | None = None,
) -> ExtractSummary:
    """Pick micrographs as they appear in ``watch_dir`` until interrupted (Ctrl-C, SIGTERM) or idle
    for ``stop_after_idle_s``; the outputs are rewritten after each round of new micrographs."""
    output = Path(output)
    if not Path(watch_dir).is_dir():
        raise InputError(watch_dir, "no such directory to watch")
    fmt = (output_format or "star") if per_micrograph else format_of(output, output_format)
    last_seen: dict[Path, tuple[int, int]] = {}
    refused: dict[Path, tuple[int, int]] = {}  # unreadable as they stood; retried once they change
    done: dict[str, MicrographSource] = {}
    summary = ExtractSummary(0, 0, 0, [])
    idle_since = time.monotonic()
    # SIGTERM stops a watch as Ctrl-C does; a handler can only be set from the main thread (a
    # library caller on another thread stops it with an exception instead)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    log.info("watching %s for micrographs (every %g s; Ctrl-C to stop)", watch_dir, poll_interval_s)
    try:
        with Extractor(config, model_dir, results_dir_for(output, per_micrograph), cluster=cluster,
                       quiet=quiet) as extractor:

            def write_finished(sources: list[MicrographSource]) -> bool:
                nonlocal summary
                finished = [s for s in sources if s.name not in done and not extractor.pending([s])]
                if finished:
                    done.update((s.name, s) for s in finished)
                    summary = _write_outputs(extractor.picks(list(done.values())), list(done.values()),
                                             [s.path for s in done.values()], output, fmt, per_micrograph,
                                             _box_size(config, extractor), 0)
                return bool(finished)

            sources: list[MicrographSource] = []
            try:
                while True:
                    ready = [p for p in _stable_files(Path(watch_dir), last_seen)
                             if p.stem not in done and refused.get(p) != last_seen[p]]
                    sources = [MicrographSource(p.stem, p, False) for p in ready]
                    if sources:
                        try:
                            extractor.run(sources)
                        except InputError as exc:
                            log.warning("skipping for now: %s", exc)
                            if exc.path in last_seen:
                                refused[exc.path] = last_seen[exc.path]
                        if write_finished(sources):
                            idle_since = time.monotonic()
                    elif stop_after_idle_s is not None and time.monotonic() - idle_since >= stop_after_idle_s:
                        log.info("no new micrographs for %g s: stopping", stop_after_idle_s)
                        break
                    time.sleep(poll_interval_s)
            except KeyboardInterrupt:  # the batch's finished micrographs go into the output too
                write_finished(sources)
                log.info("stopped: %d micrographs picked", len(done))
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return summary


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
