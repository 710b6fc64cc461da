"""Cut particle stacks from the original micrographs for 2-D classification.

``run_particles``: particle images cut from the original micrographs, one ``.mrcs`` stack per
micrograph and a RELION ``particles.star`` listing them, for 2-D classification elsewhere.
"""

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cryopick.cluster import ClusterConfig, map_on_cluster, optional_dask_client
from cryopick.config import ParticlesConfig, sizes_agree
from cryopick.errors import InputError
from cryopick.io.coordinates import read_all_picks
from cryopick.io.micrographs import read_micrograph
from cryopick.io.particle_stacks import Optics, write_mrcs, write_particles_star
from cryopick.io.results import RESULTS_DIR, ResultStore, fingerprint
from cryopick.particles.boxes import box_corners, cut_boxes, inside, normalize_boxes
from cryopick.workflows.sources import find_micrograph_sources

log = logging.getLogger(__name__)
STACK_DIR = "Particles"
STAR_NAME = "particles.star"


@dataclass(frozen=True)
class ParticlesSummary:
    """What a run of ``particles`` wrote."""

    n_particles: int
    n_outside: int  # boxes reaching past an edge, left out
    n_micrographs: int
    star: Path


@dataclass(frozen=True)
class ParticleTask:
    """One micrograph's boxes to cut: a task for Dask or this process."""

    name: str
    micrograph: Path
    x_orig_px: np.ndarray
    y_orig_px: np.ndarray
    score: np.ndarray
    settings: str  # fingerprint of the config and these picks


def cut_micrograph(task: ParticleTask, *, config: ParticlesConfig, output_dir: Path) -> tuple[str, int, int]:
    """Cut and write one micrograph's particle stack.

    One micrograph's stack (a Dask task, or in-process): writes Particles/<name>.mrcs and its
    saved result (which boxes were kept), returns (name, kept, reaching past an edge).
    """
    micrograph = read_micrograph(task.micrograph)
    size = config.pixel_size_A or micrograph.pixel_size_A
    if size is None:
        raise InputError(micrograph.path, "has no pixel size in its header: give --pixel-size-A")
    box = config.box_size_orig_px
    rows, cols = box_corners(task.x_orig_px, task.y_orig_px, box)
    keep = inside(micrograph.array.shape, rows, cols, box)
    if keep.any():
        stack = normalize_boxes(cut_boxes(micrograph.array, rows[keep], cols[keep], box),
                                background_radius_px=config.resolved_background_radius_orig_px,
                                invert_contrast=config.invert_contrast)
        write_mrcs(output_dir / STACK_DIR / f"{task.name}.mrcs", stack, pixel_size_A=size)
    ResultStore(output_dir / RESULTS_DIR).write(task.name, task.settings, task.micrograph,
                                                {"keep": keep, "pixel_size_A": np.array([size])})
    return task.name, int(keep.sum()), int((~keep).sum())


def run_particles(config: ParticlesConfig, picks_paths: list[Path], micrograph_inputs: list[Path],
                  output_dir: Path, *, picks_format: str | None = None, quiet: bool = False,
                  cluster: ClusterConfig | None = None) -> ParticlesSummary:
    """Cut every pick's box from the original micrographs and write stacks and particles.star."""
    picks = read_all_picks(picks_paths, picks_format)
    # boxes come from the originals: a preprocessed directory points to them
    by_name = {source.name: source.original for source in find_micrograph_sources(micrograph_inputs).micrographs}
    missing = sorted(set(picks.micrographs()) - set(by_name))
    if missing:
        log.warning("%d micrographs in the picks were not given (%s...): their picks are skipped",
                    len(missing), ", ".join(missing[:3]))
    output_dir = Path(output_dir)
    store = ResultStore(output_dir / RESULTS_DIR)
    tasks = []
    for name in (n for n in picks.micrographs() if n in by_name):
        mine = picks.for_micrograph(name)
        settings = fingerprint({"config": dataclasses.asdict(config), "x": mine.x_orig_px.tolist(),
                                "y": mine.y_orig_px.tolist(), "score": mine.score.tolist()})
        tasks.append(ParticleTask(name, by_name[name], mine.x_orig_px, mine.y_orig_px, mine.score, settings))
    todo = [t for t in tasks if not store.is_done(t.name, t.settings, t.micrograph)]
    if len(todo) < len(tasks):
        log.info("%d of %d micrographs already done by an earlier run", len(tasks) - len(todo), len(tasks))
    with optional_dask_client(cluster or ClusterConfig()) as client:
        for _ in map_on_cluster(client, cut_micrograph, todo, desc="particles", quiet=quiet, config=config,
                                output_dir=output_dir):
            pass
    return _write_star(config, tasks, store, output_dir, picks_paths[0])


def _write_star(config: ParticlesConfig, tasks: list[ParticleTask], store: ResultStore, output_dir: Path,
                picks_path: Path) -> ParticlesSummary:
    columns: dict[str, list[Any]] = {"image": [], "micrograph": [], "x": [], "y": [], "score": []}
    pixel_size_A = None
    n_outside = 0
    for task in tasks:
        saved = store.read(task.name)
        keep = saved["keep"]
        n_outside += int((~keep).sum())
        size = float(saved["pixel_size_A"][0])
        if pixel_size_A is None:
            pixel_size_A = size
        elif not sizes_agree(size, pixel_size_A):
            raise InputError(task.micrograph, f"pixel size {size:g} A differs from the others' {pixel_size_A:g} A; "
                                              "one particles.star holds one optics group")
        stack_path = output_dir / STACK_DIR / f"{task.name}.mrcs"
        kept = int(keep.sum())
        columns["image"] += [f"{i:06d}@{stack_path}" for i in range(1, kept + 1)]
        columns["micrograph"] += [str(task.micrograph)] * kept
        columns["x"].append(task.x_orig_px[keep])
        columns["y"].append(task.y_orig_px[keep])
        columns["score"].append(task.score[keep])
    if not columns["image"] or pixel_size_A is None:
        raise InputError(picks_path, "no pick lies on the given micrographs with its whole box inside")
    box = config.box_size_orig_px
    star = output_dir / STAR_NAME
    write_particles_star(
        star, Optics(pixel_size_A, box, config.voltage_kV, config.spherical_aberration_mm, config.amplitude_contrast),
        image_names=columns["image"], micrograph_names=columns["micrograph"],
        x_orig_px=np.concatenate(columns["x"]), y_orig_px=np.concatenate(columns["y"]),
        score=np.concatenate(columns["score"]),
    )
    log.info("%d particles (%d px boxes) from %d micrographs -> %s (%d boxes reaching past an edge left out)",
             len(columns["image"]), box, len(tasks), star, n_outside)
    return ParticlesSummary(len(columns["image"]), n_outside, len(tasks), star)
