"""Write one self-contained HTML page showing a picking run.

The page holds the score histogram, the number of picks per micrograph, and thumbnails of the
micrographs with picks drawn as circles of the particle radius coloured by score (evenly spaced
through the session, --max-micrographs of them). With --reference it adds the precision-recall
curve and F1 against the threshold, colours the histogram by matched/unmatched and marks the
reference particles. Every image is inlined: the file opens from disk in any browser, with no
server, and can be archived or mailed as it is.

With the model's score calibration (the estimate file `extract` writes beside the picks, or
--model) it also draws the precision, recall and F1 estimated without a reference, with their
bands over micrographs, the true curves dashed over them when --reference is given.

Picks drawn: those scoring at least --threshold (default: the best-F1 threshold against the
reference when one is given, else the best estimated F1, else 0). The particle radius comes from --model or a
preprocessed --micrographs directory, or --particle-radius-orig-px.

Example usage:
  cryopick report --picks picks.star --micrographs work/ -o report.html
  cryopick report --picks picks.star --micrographs raw/ --model model/ --reference truth.star -o report.html
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import add_deprecated_alias, add_picks_options, finite_float, positive_float, positive_int
from cryopick.config import ReportConfig, default_of
from cryopick.io.formats import FORMATS


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``report``'s options."""
    add_picks_options(parser, what="coordinate files or directories", required=True)
    parser.add_argument("--micrographs", type=Path, nargs="+", required=True,
                        help="the micrographs picked: raw files/directories or a preprocessed directory")
    parser.add_argument("-o", "--output", type=Path, required=True, help="HTML file to write")
    parser.add_argument("--reference", type=Path, nargs="+", default=None,
                        help="reference particle centres, to score the picks against")
    parser.add_argument("--reference-format", choices=FORMATS, default=None, help="default: from the suffix")
    parser.add_argument("--model", type=Path, default=None,
                        help="model directory: the particle radius, and the score calibration for the estimated "
                             "precision (default: the estimate file extract wrote beside the picks)")
    parser.add_argument("--particle-radius-orig-px", type=positive_float, default=None,
                        help="particle radius in original pixels (default: from --model or a preprocessed "
                             "--micrographs directory)")
    add_deprecated_alias(parser, "--particle-radius-px", "--particle-radius-orig-px", dest="particle_radius_orig_px",
                         type=positive_float)
    parser.add_argument("-t", "--threshold", type=finite_float, default=default_of(ReportConfig, "threshold"),
                        help="draw and count picks scoring at least this (default: best F1 with --reference, else 0)")
    parser.add_argument("--max-micrographs", type=positive_int, default=default_of(ReportConfig, "max_micrographs"),
                        help="thumbnails drawn (default: %(default)s)")
    parser.add_argument("--thumbnail-px", type=positive_int, default=default_of(ReportConfig, "thumbnail_px"),
                        help="longest side of a thumbnail (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Run ``report``; returns the exit status."""
    import sys

    from cryopick.config import ReportConfig
    from cryopick.errors import ConfigError
    from cryopick.workflows.report import run_report
    from cryopick.workflows.sources import is_preprocessed, recorded_geometry

    radius = args.particle_radius_orig_px
    if radius is None:
        if args.model is None and not is_preprocessed(args.micrographs):
            raise ConfigError("give the particle size: --model, a preprocessed --micrographs directory, "
                              "or --particle-radius-orig-px")
        radius = recorded_geometry(model_dir=args.model, preprocessed_dir=args.micrographs[0]).particle_radius_orig_px
    config = ReportConfig(particle_radius_orig_px=radius, threshold=args.threshold,
                          max_micrographs=args.max_micrographs, thumbnail_px=args.thumbnail_px)
    run_report(config, args.picks, args.micrographs, args.output, reference_paths=args.reference,
               picks_format=args.picks_format, reference_format=args.reference_format,
               quiet=args.progress_disabled, command=["cryopick", *sys.argv[1:]], model_dir=args.model)
    return 0
