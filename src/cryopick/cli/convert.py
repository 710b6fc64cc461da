"""Convert coordinates between RELION, cryoSPARC, EMAN2, Topaz and CSV, and between pixel sizes.

Reads any format cryopick reads (files or directories of per-micrograph files; a RELION
coordinate_files.star index is followed) and writes one file, or one per micrograph with
--per-micrograph. Coordinates are particle centres; EMAN2 .box corners are converted. --scale
(or the two pixel sizes) rescales them, e.g. from picks on binned micrographs to the originals.
cryoSPARC .cs output records each micrograph's size: it comes from a .cs input, or give the
micrographs with --micrographs (which also sets the micrograph paths written to STAR/.cs files).

Example usage:
  cryopick convert --picks picks.star -o picks.cs --micrographs MotionCorr/job002/Movies/
  cryopick convert --picks particles.cs -o AutoPick/from_cs/ --per-micrograph --format star
  cryopick convert --picks info/ -o picks.txt                      # EMAN2 *_info.json files
  cryopick convert --picks picks_bin4.txt -o picks.star --from-pixel-size-A 4.24 --to-pixel-size-A 1.06
  cryopick convert --picks picks.txt -o boxes/ --per-micrograph --format box --box-size-orig-px 256
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import add_deprecated_alias, add_picks_args, picks_inputs, positive_float
from cryopick.io.formats import FORMATS


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """Output options shared by `convert` and `threshold`."""
    add_picks_args(parser, what="coordinate files, or directories of per-micrograph files")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file (format from its suffix), or a directory with --per-micrograph")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from the --output suffix; star with --per-micrograph)")
    parser.add_argument("--per-micrograph", action="store_true",
                        help="one file per micrograph into the --output directory (RELION output adds the "
                             "coordinate_files.star index)")
    parser.add_argument("--box-size-orig-px", type=positive_float, default=None,
                        help="box side for EMAN2 .box output, in the output coordinates' pixels (the original "
                             "micrographs' unless rescaled); required for .box output")
    add_deprecated_alias(parser, "--box-size-px", "--box-size-orig-px", dest="box_size_orig_px", type=positive_float)


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``convert``'s options."""
    add_output_args(parser)
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=positive_float, default=None,
                       help="multiply coordinates by this (input pixel size / output pixel size)")
    scale.add_argument("--from-pixel-size-A", type=positive_float, default=None,
                       help="pixel size of the input coordinates (with --to-pixel-size-A)")
    parser.add_argument("--to-pixel-size-A", type=positive_float, default=None,
                        help="pixel size of the output coordinates (with --from-pixel-size-A)")
    parser.add_argument("--micrographs", type=Path, nargs="+", default=None,
                        help="the micrographs (at the output pixel size), or a preprocessed directory: "
                             "their paths and sizes go into STAR and .cs output")


def run(args: argparse.Namespace) -> int:
    """Run ``convert``; returns the exit status."""
    from cryopick.errors import ConfigError
    from cryopick.workflows.coordinates import run_convert

    if (args.from_pixel_size_A is None) != (args.to_pixel_size_A is None):
        raise ConfigError("give both --from-pixel-size-A and --to-pixel-size-A, or neither")
    scale = args.scale or (args.from_pixel_size_A / args.to_pixel_size_A if args.from_pixel_size_A else 1.0)
    run_convert(picks_inputs(args), args.output, input_format=args.picks_format, output_format=args.format,
                per_micrograph=args.per_micrograph, scale=scale, micrographs=args.micrographs,
                box_size_orig_px=args.box_size_orig_px)
    return 0
