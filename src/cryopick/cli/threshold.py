"""Keep the picks above a score, or the best K on each micrograph.

`extract` keeps generous picks (score >= -6 by default) so that the choice can be made later,
here, without scoring again: --auto (the best F1 estimated without a reference), --target-precision
P (the lowest threshold whose estimated precision is P), a score, or the best K per micrograph.
The estimate needs the model's score calibration: from the picks.star.estimate.json `extract`
wrote beside the picks (found automatically), or from --model. Reads and writes every format
`convert` does.

What a score means: it is the network's log-likelihood ratio, but PU training fixes only its
average, not its scale, so a score of 0 is not even odds. The calibration turns a score into the
chance that a pick is a particle on these micrographs: logged, and written to the estimate file
(probability_at_score); the README's "Choosing the threshold" gives it for five data sets.

Example usage:
  cryopick threshold --picks picks.star -o picks_auto.star --auto
  cryopick threshold --picks picks.star -o picks_p90.star --target-precision 0.9 --model model/
  cryopick threshold --picks picks.star -o picks_t0.star --threshold 0
  cryopick threshold --picks picks.star -o AutoPick/top300/ --per-micrograph --top-k 300
"""

import argparse
from pathlib import Path

from cryopick.cli.arguments import add_choice_args, add_deprecated_alias, finite_float, picks_inputs, positive_int
from cryopick.cli.convert import add_output_args


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``threshold``'s options."""
    add_output_args(parser)
    parser.add_argument("-t", "--threshold", type=finite_float, default=None,
                        help="keep picks scoring at least this (the log-likelihood ratio; its meaning in precision is "
                             "model-specific: see --auto and the estimate extract writes)")
    add_deprecated_alias(parser, "--min-score", "--threshold", dest="threshold", type=finite_float)
    parser.add_argument("--top-k", type=positive_int, default=None,
                        help="keep at most this many best-scoring picks per micrograph")
    add_choice_args(parser)
    parser.add_argument("--model", type=Path, default=None,
                        help="with --auto/--target-precision: the model whose score calibration to use (default: "
                             "the estimate file extract wrote beside the picks)")


def run(args: argparse.Namespace) -> int:
    """Run ``threshold``; returns the exit status."""
    from cryopick.config import ThresholdChoice
    from cryopick.errors import ConfigError
    from cryopick.workflows.coordinates import run_threshold

    choice = ThresholdChoice(auto=args.auto, target_precision=args.target_precision)
    if args.threshold is None and args.top_k is None and not choice.active:
        raise ConfigError("give --auto, --target-precision, --threshold or --top-k")
    run_threshold(picks_inputs(args), args.output, min_score=args.threshold, top_k_per_micrograph=args.top_k,
                  input_format=args.picks_format, output_format=args.format, per_micrograph=args.per_micrograph,
                  box_size_orig_px=args.box_size_orig_px, choice=choice, model_dir=args.model)
    return 0
