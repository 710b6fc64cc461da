"""argparse value types that reject nonsense at the command line, with the reason."""

import argparse
import math
from collections.abc import Callable


def _parsed(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_float(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def autoencoder_weight(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    value = _parsed(text, float, "a number or auto")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be auto or a number >= 0")
    return value


def finite_float(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be finite")
    return value


def positive_int(text: str) -> int:
    value = int(_parsed(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def fraction(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1)")
    return value


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=positive_int, default=None,
                       help="run micrographs as tasks on a local Dask cluster of this many processes")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run micrographs on a running Dask cluster, e.g. tcp://head-node:8786")


def cluster_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from cryopick.workflows.cluster import ClusterConfig

    return ClusterConfig(workers=args.workers, scheduler=args.scheduler)
