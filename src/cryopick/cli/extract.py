r"""Pick particles: dense scores, non-maximum suppression, coordinates in original pixels.

Takes a model directory (from `cryopick train`) and either the directory written by
`cryopick preprocess` or raw micrographs (downsampled and normalised here as the model's
training data were). Each pick's score is the network's log-likelihood ratio; keep everything
above --threshold now and threshold later, or set it here.

Without a reference: the model's score calibration (recorded by `train`) and the expected count
per micrograph (-n, the dataset's average, scaled by how much denser or sparser the model finds
these micrographs than a sample of the dataset's) give the estimated precision, recall and F1 at
every threshold, with a band over micrographs; they are written beside the picks
(picks.star.estimate.json, or estimate.json in a --per-micrograph directory), shown by `report`,
and --auto / --target-precision P keep the picks above the threshold they choose. A score of 0
is not even odds: the log says what 0 and -3 mean for this model on these micrographs (README,
"Choosing the threshold").

Each micrograph's picks are kept as it finishes (in .cryopick-results/ beside the output): rerun
the same command after a crash or a kill and only the micrographs not yet done, or whose input,
model or settings changed, are picked again. --workers N runs micrographs on a local Dask cluster
of N processes, --scheduler ADDRESS on a running one (see the README's cluster section); the
picks are identical to an in-process run.

Example usage:
  cryopick extract --model model/ --micrographs work/ -o picks.star
  cryopick extract --model model/ --micrographs work/ -o picks_auto.star --auto
  cryopick extract --model model/ --micrographs raw/*.mrc -o picks/ --per-micrograph --format box \
      --box-size-orig-px 256
  # from a RELION project: RELION's paths, <mic>_autopick.star files and coordinate_files.star
  cryopick extract --model model/ --micrographs MotionCorr/job002/Movies/*.mrc -o AutoPick/cp/ --per-micrograph
  cryopick extract --model model/ --micrographs work/ -o picks.cs   # cryoSPARC
  cryopick extract --model model/ --watch /data/session42/ -o picks/ --per-micrograph --workers 4
"""

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from cryopick.cli.arguments import (
    add_choice_args,
    add_cluster_args,
    cluster_config,
    finite_float,
    positive_float,
    positive_int,
)
from cryopick.config import SCORE_STRIDES_PX, ExtractConfig, default_of
from cryopick.io.formats import FORMAT_HELP, FORMATS


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register ``extract``'s options."""
    parser.add_argument("--model", type=Path, required=True, help="model directory from `cryopick train`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--micrographs", type=Path, nargs="+",
                        help="a preprocessed directory, or raw micrograph files/directories")
    source.add_argument("--watch", type=Path, metavar="DIR",
                        help="keep picking raw micrographs as they appear in DIR (once their size stops "
                             "changing; hidden and temporary names ignored), rewriting the output after each "
                             "new batch, until Ctrl-C/SIGTERM")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="coordinate file (format from its suffix), or a directory with --per-micrograph")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help=f"output format (default: from the suffix; star with --per-micrograph): {FORMAT_HELP}")
    parser.add_argument("--per-micrograph", action="store_true",
                        help="write one file per micrograph into the --output directory: RELION "
                             "<micrograph>_autopick.star files plus the coordinate_files.star index RELION's "
                             "Extract and Import jobs read, EMAN2 .box or <micrograph>_info.json, or .txt/.csv")
    parser.add_argument("--box-size-orig-px", type=positive_float,
                        default=default_of(ExtractConfig, "box_size_orig_px"),
                        help="box side written to EMAN2 .box output, in original pixels (default: the particle "
                             "diameter from the model); a box reaching past the micrograph's edge keeps its "
                             "centre, so its corner can be negative, as EMAN2 writes such boxes too")
    parser.add_argument("-t", "--threshold", type=finite_float, default=default_of(ExtractConfig, "threshold"),
                        help="keep picks whose log-likelihood ratio is at least this; with --auto or "
                             "--target-precision, the floor the estimate starts from (default: %(default)s)")
    add_choice_args(parser)
    parser.add_argument("--nms-radius-px", type=positive_float, default=default_of(ExtractConfig, "nms_radius_px"),
                        help="suppress picks within this many working pixels of a better one "
                             "(default: the particle radius from the model)")
    parser.add_argument("--batch-size", type=positive_int, default=default_of(ExtractConfig, "batch_size"),
                        help="on a GPU, micrograph tiles scored together (default: 8); a CPU scores one "
                             "micrograph per core")
    parser.add_argument("--tile-size-px", type=positive_int, default=default_of(ExtractConfig, "tile_size_px"),
                        help="largest tile scored at once, in working pixels; bounds memory "
                             "(default: %(default)s)")
    parser.add_argument("--score-stride-px", type=int, choices=SCORE_STRIDES_PX,
                        default=default_of(ExtractConfig, "score_stride_px"),
                        help="score every k-th working pixel: 2 does a quarter of the work of 1 and places each "
                             "centre within 1 working pixel (the particle is ~20 across); 1 scores every pixel "
                             "(default: 2, or 4 for a model that pools its input 4 x 4 or more, trained on a "
                             "particle over ~100 working px across: centres within 2 px)")
    parser.add_argument("--poll-interval-s", type=positive_float, default=5.0,
                        help="with --watch: seconds between looks at DIR (default: %(default)s)")
    parser.add_argument("--stop-after-idle-s", type=positive_float, default=None,
                        help="with --watch: stop once no new micrograph came for this long (default: never)")
    add_cluster_args(parser)
    parser.add_argument("--pixel-size-A", type=positive_float, default=default_of(ExtractConfig, "pixel_size_A"),
                        help="pixel size of raw --micrographs when their headers lack it or are wrong (default: "
                             "each header). A pixel size more than 1%% off the model's is refused: the model picks "
                             "at the scale it was trained at")
    parser.add_argument("--device", default=default_of(ExtractConfig, "device"),
                        help="cpu, cuda, cuda:N or auto (CUDA when available) (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Run ``extract`` (or watch a directory); returns the exit status."""
    from cryopick.config import ExtractConfig, ThresholdChoice
    from cryopick.workflows.extract import run_extract
    from cryopick.workflows.watch import run_extract_watch

    config = ExtractConfig(threshold=args.threshold, nms_radius_px=args.nms_radius_px, batch_size=args.batch_size,
                           tile_size_px=args.tile_size_px, device=args.device, score_stride_px=args.score_stride_px,
                           pixel_size_A=args.pixel_size_A, box_size_orig_px=args.box_size_orig_px)
    common = {"output_format": args.format, "per_micrograph": args.per_micrograph, "quiet": args.progress_disabled,
              "cluster": cluster_config(args)}
    if args.watch is not None:
        if args.auto or args.target_precision is not None:
            from cryopick.errors import ConfigError

            raise ConfigError("--auto and --target-precision need every micrograph's picks: with --watch, run "
                              "`cryopick threshold --auto` on the output afterwards")
        with _sigterm_interrupts():
            run_extract_watch(config, args.model, args.watch, args.output, poll_interval_s=args.poll_interval_s,
                              stop_after_idle_s=args.stop_after_idle_s, **common)
    else:
        run_extract(config, args.model, args.micrographs, args.output,
                    choice=ThresholdChoice(auto=args.auto, target_precision=args.target_precision), **common)
    return 0


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM stop a watch gracefully, like Ctrl-C.

    SIGTERM stops a watch as Ctrl-C does (its finished picks are written). The CLI owns the
    process, so the handler is set here, not in the library; only the main thread can set one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
