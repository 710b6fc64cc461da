"""Downsample and normalise micrographs, recording the particle geometry for later steps.

Fourier-crops each micrograph so the particle is about 20 working pixels across (or by
--downsample), then normalises by a two-component Gaussian mixture with a scale per micrograph,
fitted by EM over the whole set (--normalize gmm), or per micrograph (--normalize affine).
Writes float32 MRC files and preprocess.json (pixel size, downsampling, particle diameter,
normalisation) into the output directory; train and extract read the geometry from there.
Each micrograph's work is kept as it finishes (.cryopick-results/ in the output directory): a
rerun after a crash or kill redoes only what is missing. --workers/--scheduler run the
micrographs on Dask, as `extract` does.

Example usage:
  cryopick preprocess raw/*.mrc --particle-diameter-A 120 -o work/
  cryopick preprocess raw/ --particle-diameter-A 120 --pixel-size-A 1.06 --downsample 4 -o work/
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import add_cluster_args, cluster_config, positive_float, positive_int
from cryopick.config import NORMALIZATIONS, PreprocessConfig, default_of


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``preprocess``'s options."""
    parser.add_argument("micrographs", nargs="+", type=Path,
                        help="micrograph files (.mrc, .tif, .png) or directories holding them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.add_argument("--particle-diameter-A", type=positive_float, required=True,
                        help="particle diameter in Angstrom (its longest dimension)")
    parser.add_argument("--pixel-size-A", type=positive_float, default=default_of(PreprocessConfig, "pixel_size_A"),
                        help="pixel size of the micrographs in Angstrom (default: from the MRC header)")
    parser.add_argument("--downsample", type=positive_int, default=default_of(PreprocessConfig, "downsample_factor"),
                        help="whole downsampling factor (default: the particle becomes ~20 px across)")
    parser.add_argument("--normalize", choices=NORMALIZATIONS, default=default_of(PreprocessConfig, "normalization"),
                        help="gmm: dataset-wide scaled two-component mixture; affine: per-micrograph "
                             "mean/sd (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=default_of(PreprocessConfig, "seed"),
                        help="seed for pixel sampling (default: %(default)s)")
    add_cluster_args(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``preprocess``; returns the exit status."""
    from cryopick.config import PreprocessConfig
    from cryopick.io.micrographs import find_micrographs
    from cryopick.workflows.preprocess import run_preprocess

    config = PreprocessConfig(
        particle_diameter_A=args.particle_diameter_A, pixel_size_A=args.pixel_size_A,
        downsample_factor=args.downsample, normalization=args.normalize, seed=args.seed,
    )
    paths = find_micrographs(args.micrographs)
    run_preprocess(config, paths, args.output, quiet=args.progress_disabled, cluster=cluster_config(args))
    return 0
