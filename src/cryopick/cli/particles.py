"""Cut particle images out of the original micrographs, for 2-D classification elsewhere.

Writes OUTPUT/Particles/<micrograph>.mrcs (one stack per micrograph) and OUTPUT/particles.star
(RELION 3.1+: an optics table and one row per particle with rlnImageName, the micrograph and
the pick's coordinates and score), which RELION's 2D classification and cryoSPARC's Import
Particle Stack read. Each box is normalised as RELION's extraction does (background outside a
circle to mean 0, sd 1) and by default inverted so that particles are white. Boxes reaching past
the micrograph's edge are left out. No CTF parameters are known here: classify without CTF
correction, or re-extract in RELION/cryoSPARC after CTF estimation. A rerun redoes only the
micrographs not done yet (or whose picks or settings changed); --workers/--scheduler run them on
Dask as `extract` does.

Example usage:
  cryopick particles --picks picks_t0.star --micrographs raw/ --box-size-orig-px 256 -o stack/
  cryopick particles --picks picks.star --micrographs work/ --box-size-orig-px 256 --no-invert-contrast -o stack/
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import (
    add_cluster_args,
    add_deprecated_alias,
    add_picks_options,
    cluster_config,
    fraction,
    positive_float,
    positive_int,
)
from cryopick.config import ParticlesConfig, default_of


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``particles``'s options."""
    add_picks_options(parser, what="coordinate files or directories (threshold them first: every pick becomes a "
                                   "particle)", required=True)
    parser.add_argument("--micrographs", type=Path, nargs="+", required=True,
                        help="the original micrographs (files or directories), or a preprocessed directory, "
                             "whose originals are used")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.add_argument("--box-size-orig-px", type=positive_int, default=None,
                        help="box side in original pixels (often 1.5-2x the particle diameter); required")
    add_deprecated_alias(parser, "--box-size-px", "--box-size-orig-px", dest="box_size_orig_px", type=positive_int)
    parser.add_argument("--background-radius-orig-px", type=positive_float,
                        default=default_of(ParticlesConfig, "background_radius_orig_px"),
                        help="original pixels farther than this from the centre are background for normalising "
                             "(default: 3/4 of half the box, as RELION)")
    add_deprecated_alias(parser, "--background-radius-px", "--background-radius-orig-px",
                         dest="background_radius_orig_px", type=positive_float)
    parser.add_argument("--no-invert-contrast", dest="invert_contrast", action="store_false",
                        help="keep the micrograph's contrast (default: invert, particles white)")
    parser.add_argument("--pixel-size-A", type=positive_float, default=default_of(ParticlesConfig, "pixel_size_A"),
                        help="pixel size of the micrographs (default: from their headers)")
    parser.add_argument("--voltage-kV", type=positive_float, default=default_of(ParticlesConfig, "voltage_kV"),
                        help="written to the optics table (default: %(default)s)")
    parser.add_argument("--spherical-aberration-mm", type=positive_float,
                        default=default_of(ParticlesConfig, "spherical_aberration_mm"),
                        help="written to the optics table (default: %(default)s)")
    parser.add_argument("--amplitude-contrast", type=fraction,
                        default=default_of(ParticlesConfig, "amplitude_contrast"),
                        help="written to the optics table (default: %(default)s)")
    add_cluster_args(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``particles``; returns the exit status."""
    from cryopick.config import ParticlesConfig
    from cryopick.errors import ConfigError
    from cryopick.workflows.particles import run_particles

    if args.box_size_orig_px is None:
        raise ConfigError("give the box size: --box-size-orig-px")
    config = ParticlesConfig(
        box_size_orig_px=args.box_size_orig_px, background_radius_orig_px=args.background_radius_orig_px,
        invert_contrast=args.invert_contrast, pixel_size_A=args.pixel_size_A, voltage_kV=args.voltage_kV,
        spherical_aberration_mm=args.spherical_aberration_mm, amplitude_contrast=args.amplitude_contrast,
    )
    run_particles(config, args.picks, args.micrographs, args.output, picks_format=args.picks_format,
                  quiet=args.progress_disabled, cluster=cluster_config(args))
    return 0
