"""Pick particles: dense scores, non-maximum suppression, coordinates in original pixels.

Takes a model directory (from `cryopick train`) and either the directory written by
`cryopick preprocess` or raw micrographs (downsampled and normalised here as the model's
training data were). Each pick's score is the network's log-likelihood ratio; keep everything
above --threshold now and threshold later, or set it here.

Example usage:
  cryopick extract --model model/ --micrographs work/ -o picks.star
  cryopick extract --model model/ --micrographs raw/*.mrc -o picks/ --per-micrograph --format box
  cryopick extract --model model/ --micrographs MotionCorr/job002/Movies/*.mrc -o AutoPick/cryopick/ \
      --per-micrograph          # run from the RELION project: RELION paths, coordinate_files.star
  cryopick extract --model model/ --micrographs work/ -o picks.cs   # cryoSPARC
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import finite_float, positive_float, positive_int
from cryopick.io.formats import FORMAT_HELP, FORMATS


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory from `cryopick train`")
    parser.add_argument("--micrographs", type=Path, nargs="+", required=True,
                        help="a preprocessed directory, or raw micrograph files/directories")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="coordinate file (format from its suffix), or a directory with --per-micrograph")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help=f"output format (default: from the suffix; star with --per-micrograph): {FORMAT_HELP}")
    parser.add_argument("--per-micrograph", action="store_true",
                        help="write one file per micrograph into the --output directory: RELION "
                             "<micrograph>_autopick.star files plus the coordinate_files.star index RELION's "
                             "Extract and Import jobs read, EMAN2 .box or <micrograph>_info.json, or .txt/.csv")
    parser.add_argument("-t", "--threshold", type=finite_float, default=-6.0,
                        help="keep picks whose log-likelihood ratio is at least this (default: %(default)s)")
    parser.add_argument("--nms-radius-px", type=positive_float, default=None,
                        help="suppress picks within this many working pixels of a better one "
                             "(default: the particle radius from the model)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="micrograph tiles scored together (default: 1 on a CPU, 8 on a GPU)")
    parser.add_argument("--tile-size-px", type=positive_int, default=1024,
                        help="largest tile scored at once, in working pixels; bounds memory "
                             "(default: %(default)s)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N or auto (CUDA when available) (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from cryopick.config import ExtractConfig
    from cryopick.workflows.extract import run_extract

    config = ExtractConfig(threshold=args.threshold, nms_radius_px=args.nms_radius_px,
                           batch_size=args.batch_size, tile_size_px=args.tile_size_px, device=args.device)
    run_extract(config, args.model, args.micrographs, args.output, output_format=args.format,
                per_micrograph=args.per_micrograph, quiet=args.progress_disabled)
    return 0
