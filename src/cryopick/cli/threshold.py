"""Keep the picks above a score, or the best K on each micrograph.

`extract` keeps generous picks (score >= -6 by default) so that the choice can be made later,
here, without scoring again: from the F1-vs-threshold curve of `evaluate` or `report`, or by
the expected count per micrograph. Reads and writes every format `convert` does.

Example usage:
  cryopick threshold --picks picks.star -o picks_t0.star --threshold 0
  cryopick threshold --picks picks.star -o AutoPick/top300/ --per-micrograph --top-k 300
"""

import argparse

from cryopick.cli.arguments import add_deprecated_alias, finite_float, picks_inputs, positive_int
from cryopick.cli.convert import add_output_args


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``threshold``'s options."""
    add_output_args(parser)
    parser.add_argument("-t", "--threshold", type=finite_float, default=None,
                        help="keep picks scoring at least this (log-likelihood ratio; 0 is even odds)")
    add_deprecated_alias(parser, "--min-score", "--threshold", dest="threshold", type=finite_float)
    parser.add_argument("--top-k", type=positive_int, default=None,
                        help="keep at most this many best-scoring picks per micrograph")


def run(args: argparse.Namespace) -> int:
    """Run ``threshold``; returns the exit status."""
    from cryopick.errors import ConfigError
    from cryopick.workflows.coordinates import run_threshold

    if args.threshold is None and args.top_k is None:
        raise ConfigError("give --threshold, --top-k or both")
    run_threshold(picks_inputs(args), args.output, min_score=args.threshold, top_k_per_micrograph=args.top_k,
                  input_format=args.picks_format, output_format=args.format, per_micrograph=args.per_micrograph,
                  box_size_orig_px=args.box_size_orig_px)
    return 0
