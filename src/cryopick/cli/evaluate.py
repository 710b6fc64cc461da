"""Score picks against reference particles: AP, and precision/recall/F1 against the threshold.

Each pick matches at most one reference particle within the match radius (default: the
particle radius, from --model or a preprocessed --micrographs directory). Picks on micrographs
absent from the reference are ignored. Writes metrics.json and pr_curve.png to --output and logs
the headline numbers.

Example usage:
  cryopick evaluate --picks picks.star --reference truth.txt --model model/ -o eval/
  cryopick evaluate --picks picks.txt --reference truth.txt --match-radius-orig-px 30
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import add_picks_options, positive_float
from cryopick.config import MATCHINGS, EvaluateConfig, default_of
from cryopick.io.formats import FORMATS


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``evaluate``'s options."""
    add_picks_options(parser, what="coordinate files (or directories of them) to score", required=True)
    parser.add_argument("--reference", type=Path, nargs="+", required=True,
                        help="reference (true) particle centres: files or directories")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="directory for metrics.json and pr_curve.png (default: log only)")
    radius = parser.add_mutually_exclusive_group(required=True)
    radius.add_argument("--match-radius-orig-px", type=positive_float,
                        help="match distance in original pixels")
    radius.add_argument("--model", type=Path, help="model directory: match within its particle radius")
    radius.add_argument("--micrographs", type=Path,
                        help="preprocessed directory: match within its particle radius")
    parser.add_argument("--matching", choices=MATCHINGS, default=default_of(EvaluateConfig, "matching"),
                        help="one-to-one assignment: optimal (most matches) or greedy by score "
                             "(default: %(default)s)")
    parser.add_argument("--reference-format", choices=FORMATS, default=None, help="default: from the suffix")


def run(args: argparse.Namespace) -> int:
    """Run ``evaluate``; returns the exit status."""
    import logging

    from cryopick.config import EvaluateConfig
    from cryopick.workflows.evaluate import run_evaluate
    from cryopick.workflows.sources import recorded_geometry

    log = logging.getLogger("cryopick.evaluate")
    radius = args.match_radius_orig_px
    if radius is None:
        radius = recorded_geometry(model_dir=args.model, preprocessed_dir=args.micrographs).particle_radius_orig_px
    metrics = run_evaluate(EvaluateConfig(match_radius_orig_px=radius, matching=args.matching),
                           args.picks, args.reference, args.output,
                           picks_format=args.picks_format, reference_format=args.reference_format)
    log.info("AP %.4f | best F1 %.4f at threshold %s (precision %.3f, recall %.3f) | %d picks, "
             "%d reference particles, match radius %.1f px",
             metrics["average_precision"], metrics["best_f1"],
             "n/a" if metrics["best_f1_threshold"] is None else f"{metrics['best_f1_threshold']:.2f}",
             metrics["precision_at_best_f1"], metrics["recall_at_best_f1"], metrics["n_picks"],
             metrics["n_reference"], radius)
    return 0
