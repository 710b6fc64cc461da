"""Write a synthetic dataset in the layout the demo, tests and benchmarks read.

``run_simulate``: a synthetic dataset in the benchmark layout (micrographs/, particles_*.txt,
meta.json), so the demo, the tests and the benchmarks read the same thing.
"""

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cryopick.config import SimulateConfig
from cryopick.io._atomic import atomic_write_text
from cryopick.io.coordinates import write_picks
from cryopick.io.micrographs import write_mrc
from cryopick.picks import Picks
from cryopick.synthetic import make_micrograph

log = logging.getLogger(__name__)


def run_simulate(config: SimulateConfig, output_dir: Path, *, quiet: bool = False) -> dict[str, Any]:
    """Write a synthetic dataset with known particle centres."""
    output_dir = Path(output_dir)
    n_micrographs, pixel_size_A = config.num_micrographs, config.pixel_size_A
    diameter_px = config.particle_diameter_A / pixel_size_A
    n_test = max(1, round(n_micrographs * config.test_fraction)) if n_micrographs > 1 else 0
    parts: dict[str, list[Picks]] = {"train": [], "test": []}
    counts = {}
    for index in tqdm(range(n_micrographs), desc="simulate", unit="mic", disable=quiet, leave=False):
        name = f"synthetic_{index:03d}"
        mic = make_micrograph((config.size_px, config.size_px), n_particles=config.particles_per_micrograph,
                              diameter_px=diameter_px, snr=config.snr, seed=config.seed * 1000 + index)
        write_mrc(output_dir / "micrographs" / f"{name}.mrc", mic.image, pixel_size_A=pixel_size_A)
        split = "test" if index >= n_micrographs - n_test else "train"
        parts[split].append(Picks.build([name] * len(mic.centres_px), mic.centres_px[:, 1], mic.centres_px[:, 0]))
        counts[name] = len(mic.centres_px)
    for split, picks in parts.items():
        write_picks(output_dir / f"particles_{split}.txt", Picks.concatenate(picks), "topaz")
    meta = {
        "name": output_dir.name, "kind": "synthetic (cryopick.synthetic)",
        "pixel_size_A": pixel_size_A, "particle_diameter_A": config.particle_diameter_A,
        "particle_radius_px": diameter_px / 2,
        "suggested_downsample": max(1, round(diameter_px / 20)),
        "expected_particles_per_micrograph": float(np.mean(list(counts.values()))),
        "particles_per_micrograph": counts,
        "n_micrographs_train": n_micrographs - n_test, "n_micrographs_test": n_test,
        "snr": config.snr, "seed": config.seed,
    }
    atomic_write_text(output_dir / "meta.json", json.dumps(meta, indent=1) + "\n")
    log.info("wrote %d synthetic micrographs to %s", n_micrographs, output_dir)
    return meta
