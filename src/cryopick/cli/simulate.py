"""Make a synthetic dataset: particles on structured noise with distractors, and their centres.

Writes micrographs/*.mrc, particles_train.txt, particles_test.txt (split by micrograph) and
meta.json, the same layout as the benchmark datasets, for trying cryopick without real data.

Example usage:
  cryopick simulate -o demo-data/ --num-micrographs 8
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import add_deprecated_alias, fraction, positive_float, positive_int
from cryopick.config import SimulateConfig, default_of


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``simulate``'s options."""
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset directory to write")
    parser.add_argument("--num-micrographs", type=positive_int, default=default_of(SimulateConfig, "num_micrographs"),
                        help="how many micrographs to make (default: %(default)s)")
    add_deprecated_alias(parser, "--micrographs", "--num-micrographs", dest="num_micrographs", type=positive_int)
    parser.add_argument("--size-px", type=positive_int, default=default_of(SimulateConfig, "size_px"),
                        help="micrograph edge in pixels, at least 64 (default: %(default)s)")
    parser.add_argument("--pixel-size-A", type=positive_float, default=default_of(SimulateConfig, "pixel_size_A"),
                        help="(default: %(default)s)")
    parser.add_argument("--particle-diameter-A", type=positive_float,
                        default=default_of(SimulateConfig, "particle_diameter_A"), help="(default: %(default)s)")
    parser.add_argument("--particles-per-micrograph", type=positive_int,
                        default=default_of(SimulateConfig, "particles_per_micrograph"),
                        help="(default: %(default)s)")
    parser.add_argument("--snr", type=positive_float, default=default_of(SimulateConfig, "snr"),
                        help="particle signal variance over noise variance (default: %(default)s)")
    parser.add_argument("--test-fraction", type=fraction, default=default_of(SimulateConfig, "test_fraction"),
                        help="share of micrographs in particles_test.txt (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=default_of(SimulateConfig, "seed"), help="(default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Run ``simulate``; returns the exit status."""
    from cryopick.workflows.simulate import run_simulate

    config = SimulateConfig(num_micrographs=args.num_micrographs, size_px=args.size_px,
                            pixel_size_A=args.pixel_size_A, particle_diameter_A=args.particle_diameter_A,
                            particles_per_micrograph=args.particles_per_micrograph, snr=args.snr,
                            test_fraction=args.test_fraction, seed=args.seed)
    run_simulate(config, args.output, quiet=args.progress_disabled)
    return 0
