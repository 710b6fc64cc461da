"""argparse value types that reject nonsense at the command line, with the reason."""

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryopick.config import MAX_INPUT_POOL

if TYPE_CHECKING:
    from cryopick.cluster import ClusterConfig


def _parsed(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_float(text: str) -> float:
    """Argparse type for a finite number above zero."""
    value = _parsed(text, float, "a number")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def auto_or_nonnegative(text: str) -> float | str:
    """Argparse type for ``auto`` or a finite number >= 0."""
    if text.strip().lower() == "auto":
        return "auto"
    value = _parsed(text, float, "a number or auto")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be auto or a number >= 0")
    return value


def finite_float(text: str) -> float:
    """Argparse type for any finite number (no nan or inf)."""
    value = _parsed(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be finite")
    return value


def positive_int(text: str) -> int:
    """Argparse type for a whole number >= 1."""
    value = int(_parsed(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def input_pool(text: str) -> int | None:
    """Argparse type for ``train --input-pool``: ``auto`` (None) or a whole number 1..MAX_INPUT_POOL."""
    if text.strip().lower() == "auto":
        return None
    value = int(_parsed(text, int, "a whole number or auto"))
    if not 1 <= value <= MAX_INPUT_POOL:
        raise argparse.ArgumentTypeError(f"{text!r} must be auto or 1 to {MAX_INPUT_POOL}")
    return value


def fraction(text: str) -> float:
    """Argparse type for a fraction in [0, 1)."""
    value = _parsed(text, float, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1)")
    return value


def probability(text: str) -> float:
    """Argparse type for a probability strictly between 0 and 1."""
    value = _parsed(text, float, "a number")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def add_choice_args(parser: argparse.ArgumentParser) -> None:
    """--auto and --target-precision: choose the threshold from the estimate (threshold and extract)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--auto", action="store_true",
                       help="keep the picks at or above the threshold of best F1, estimated without a reference "
                            "from the model's score calibration and the expected count per micrograph (-n at "
                            "training); the log gives the threshold, the estimated precision and the expected "
                            "number of particles")
    group.add_argument("--target-precision", type=probability, default=None, metavar="P",
                       help="keep the picks at or above the lowest threshold whose estimated precision is at "
                            "least P (e.g. 0.9), and every threshold above it too")


class _DeprecatedAlias(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, replacement: str = "", **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn_deprecated(option_string or self.dest, self.replacement)
        setattr(namespace, self.dest, values)


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr (parsing runs before logging is set up)."""
    sys.stderr.write(f"cryopick: warning: {old} is deprecated and will be removed in the next release; use {new}\n")


def add_deprecated_alias(parser: argparse.ArgumentParser | Any, old: str, new: str, *, dest: str,
                         **kwargs: Any) -> None:
    """Add a hidden, deprecated alias for a renamed option.

    The old spelling of a renamed option, kept for one release: hidden from --help, it warns and
    stores into the new option's ``dest``. ``kwargs`` (type, nargs) as the new option's.
    """
    parser.add_argument(old, dest=dest, action=_DeprecatedAlias, replacement=new, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS, **kwargs)


def add_picks_options(parser: argparse.ArgumentParser, *, what: str, required: bool = False) -> None:
    """--picks (the one spelling for coordinate inputs, files or directories) and --picks-format."""
    from cryopick.io.formats import FORMAT_HELP, FORMATS

    parser.add_argument("--picks", type=Path, nargs="+", required=required, default=None, help=what)
    parser.add_argument("--picks-format", choices=FORMATS, default=None,
                        help=f"format of --picks (default: from each suffix): {FORMAT_HELP}")


def add_picks_args(parser: argparse.ArgumentParser, *, what: str) -> None:
    """:func:`add_picks_options`, plus the positional form of convert/threshold, deprecated for one release."""
    from cryopick.io.formats import FORMATS

    add_picks_options(parser, what=what)
    parser.add_argument("legacy_picks", type=Path, nargs="*", default=[], help=argparse.SUPPRESS)
    add_deprecated_alias(parser, "--input-format", "--picks-format", dest="picks_format", choices=FORMATS)


def picks_inputs(args: argparse.Namespace) -> list[Path]:
    """The coordinate files given, by --picks or (deprecated) positionally, but not both."""
    from cryopick.errors import ConfigError

    if args.picks and args.legacy_picks:
        raise ConfigError(f"give the coordinate files once, with --picks (not also {args.legacy_picks[0]} "
                          "before the options)")
    if args.legacy_picks:
        warn_deprecated("giving the coordinate files without --picks", "--picks FILE ...")
        return list(args.legacy_picks)
    if not args.picks:
        raise ConfigError("give the coordinate files with --picks")
    return list(args.picks)


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    """Add --workers and --scheduler, the options that put a run on Dask."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=positive_int, default=None,
                       help="run micrographs as tasks on a local Dask cluster of this many processes")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run micrographs on a running Dask cluster, e.g. tcp://head-node:8786")


def cluster_config(args: argparse.Namespace) -> "ClusterConfig":
    """The cluster settings that --workers and --scheduler ask for."""
    from cryopick.cluster import ClusterConfig

    return ClusterConfig(workers=args.workers, scheduler=args.scheduler)
