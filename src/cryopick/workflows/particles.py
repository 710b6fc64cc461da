"""``run_particles``: particle images cut from the original micrographs, one ``.mrcs`` stack per
micrograph and a RELION ``particles.star`` listing them, for 2-D classification elsewhere."""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cryopick.config import ParticlesConfig
from cryopick.errors import InputError
from cryopick.io.coordinates import read_all_picks
from cryopick.io.manifest import read_manifest
from cryopick.io.micrographs import find_micrographs, read_micrograph
from cryopick.io.particle_stacks import Optics, write_mrcs, write_particles_star
from cryopick.particles.boxes import box_corners, cut_boxes, inside, normalize_boxes
from cryopick.workflows.sources import is_preprocessed

log = logging.getLogger(__name__)
STACK_DIR = "Particles"
STAR_NAME = "particles.star"


@dataclass(frozen=True)
class ParticlesSummary:
    n_particles: int
    n_outside: int  # boxes reaching past an edge, left out
    n_micrographs: int
    star: Path


def _original_micrographs(inputs: list[Path]) -> list[Path]:
    """Boxes come from the originals: a preprocessed directory points to them."""
    if is_preprocessed(inputs):
        return [Path(record.source) for _, record in sorted(read_manifest(inputs[0]).micrographs.items())]
    return find_micrographs(inputs)


def run_particles(config: ParticlesConfig, picks_paths: list[Path], micrograph_inputs: list[Path],
                  output_dir: Path, *, picks_format: str | None = None, quiet: bool = False) -> ParticlesSummary:
    picks = read_all_picks(picks_paths, picks_format)
    by_name = {path.stem: path for path in _original_micrographs(micrograph_inputs)}
    missing = sorted(set(picks.micrographs()) - set(by_name))
    if missing:
        log.warning("%d micrographs in the picks were not given (%s...): their picks are skipped",
                    len(missing), ", ".join(missing[:3]))
    box = config.box_size_orig_px
    columns: dict[str, list] = {"image": [], "micrograph": [], "x": [], "y": [], "score": []}
    pixel_size_A = config.pixel_size_A
    n_outside = 0
    names = [name for name in picks.micrographs() if name in by_name]
    for name in tqdm(names, desc="particles", unit="mic", disable=quiet, leave=False):
        micrograph = read_micrograph(by_name[name])
        size = config.pixel_size_A or micrograph.pixel_size_A
        if size is None:
            raise InputError(micrograph.path, "has no pixel size in its header: give --pixel-size-A")
        if pixel_size_A is None:
            pixel_size_A = size
        elif abs(size - pixel_size_A) > 0.01 * pixel_size_A:
            raise InputError(micrograph.path, f"pixel size {size:g} A differs from the others' {pixel_size_A:g} A; "
                                              "one particles.star holds one optics group")
        mine = picks.for_micrograph(name)
        rows, cols = box_corners(mine.x_orig_px, mine.y_orig_px, box)
        keep = inside(micrograph.array.shape, rows, cols, box)
        n_outside += int((~keep).sum())
        if not keep.any():
            continue
        stack = normalize_boxes(cut_boxes(micrograph.array, rows[keep], cols[keep], box),
                                background_radius_px=config.resolved_background_radius_orig_px,
                                invert_contrast=config.invert_contrast)
        stack_path = output_dir / STACK_DIR / f"{name}.mrcs"
        write_mrcs(stack_path, stack, pixel_size_A=size)
        kept = mine.select(keep)
        columns["image"] += [f"{i:06d}@{stack_path}" for i in range(1, len(kept) + 1)]
        columns["micrograph"] += [str(by_name[name])] * len(kept)
        columns["x"].append(kept.x_orig_px)
        columns["y"].append(kept.y_orig_px)
        columns["score"].append(kept.score)
    if not columns["image"]:
        raise InputError(picks_paths[0], "no pick lies on the given micrographs with its whole box inside")
    assert pixel_size_A is not None
    star = output_dir / STAR_NAME
    write_particles_star(
        star, Optics(pixel_size_A, box, config.voltage_kV, config.spherical_aberration_mm, config.amplitude_contrast),
        image_names=columns["image"], micrograph_names=columns["micrograph"],
        x_orig_px=np.concatenate(columns["x"]), y_orig_px=np.concatenate(columns["y"]),
        score=np.concatenate(columns["score"]),
    )
    log.info("%d particles (%d px boxes) from %d micrographs -> %s (%d boxes reaching past an edge left out)",
             len(columns["image"]), box, len(names), star, n_outside)
    return ParticlesSummary(len(columns["image"]), n_outside, len(names), star)
