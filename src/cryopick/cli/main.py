r"""cryopick: learn to pick particles in cryo-EM micrographs from a few labelled examples.

Example usage (the whole pipeline):

  cryopick preprocess raw/*.mrc --particle-diameter-A 120 -o work/
  cryopick train --micrographs work/ --particles labels.star \
      --expected-particles-per-micrograph 150 -o model/
  cryopick extract --model model/ --micrographs work/ -o picks.star
  cryopick evaluate --picks picks.star --reference truth.star --model model/ -o eval/
  cryopick report --picks picks.star --micrographs work/ --reference truth.star -o report.html
  cryopick threshold --picks picks.star --threshold 0 -o picks_t0.star
  cryopick particles --picks picks_t0.star --micrographs raw/ --box-size-orig-px 256 -o stack/

Label, review and retrain in the browser (labels saved as RELION manual-pick files):

  cryopick app --micrographs work/ -n 150 -o project/

With no labels at all, a Topaz general detector (from an installed topaz-em, read without
running it) picks, or starts training:

  cryopick import-model --from-topaz resnet16_u64 --micrographs work/ -o topaz_general/
  cryopick extract --model topaz_general/ --micrographs work/ -o picks.star

Coordinates are read and written as RELION STAR (particles.star, *_autopick.star and the
coordinate_files.star index), cryoSPARC .cs, EMAN2 .box and *_info.json, Topaz .txt and CSV;
`cryopick convert` converts between them.

Each command's --help is its manual. Errors in the input are reported in one line naming the
file (and line), with exit status 2; outputs are written atomically.
"""

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from io import TextIOWrapper
from pathlib import Path
from types import ModuleType

from cryopick import __version__
from cryopick.cli import (
    app,
    convert,
    evaluate,
    extract,
    import_model,
    particles,
    preprocess,
    report,
    simulate,
    threshold,
    train,
)
from cryopick.errors import ConfigError, CryopickError, InputError
from cryopick.io._atomic import STDOUT, is_stream, output_lock

log = logging.getLogger("cryopick")

COMMANDS: dict[str, ModuleType] = {
    "preprocess": preprocess,
    "train": train,
    "extract": extract,
    "evaluate": evaluate,
    "threshold": threshold,
    "convert": convert,
    "particles": particles,
    "report": report,
    "simulate": simulate,
    "import-model": import_model,
    "app": app,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``cryopick`` parser with every command; commands load their modules only when run."""
    parser = argparse.ArgumentParser(
        prog="cryopick", description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cryopick {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        doc = module.__doc__ or ""
        summary, _, details = doc.partition("\n\n")
        command = sub.add_parser(name, help=summary, description=summary, epilog=details,
                                 parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_args(command)
        command.set_defaults(_module=module)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    """Send cryopick's log to stderr at the level that -v and -q ask for."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if verbose == 0 else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("cryopick")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class _RunLog(logging.FileHandler):
    """A run's log file, created lazily so refused input leaves nothing behind.

    Opened (and its directory made) at the first message: input refused before the run
    starts leaves no output directory behind.
    """

    def _open(self) -> TextIOWrapper:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    @property
    def opened(self) -> bool:
        return self.stream is not None


def attach_run_log(directory: Path) -> None:
    """Also log (at INFO, with times) to ``<directory>/run.log``, appending."""
    handler = _RunLog(directory / "run.log", encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("cryopick")
    root.addHandler(handler)
    if root.level > logging.INFO:
        for existing in root.handlers:
            if existing is not handler:
                existing.setLevel(root.level)
        root.setLevel(logging.INFO)


#: Commands whose ``-o`` can be one file, so ``-o -`` (standard output) makes sense.
SINGLE_FILE_COMMANDS = frozenset({"convert", "threshold", "extract", "report"})


def log_directory(args: argparse.Namespace) -> Path | None:
    """Where a command's run.log goes: its output directory, or the directory of its output file."""
    output = getattr(args, "output", None)
    if output is None:
        return None
    output = Path(output)
    if is_stream(output):  # standard output, a FIFO or a device: the log stays on stderr
        per_micrograph = getattr(args, "per_micrograph", False)
        if str(output) == STDOUT and (args.command not in SINGLE_FILE_COMMANDS or per_micrograph):
            raise ConfigError(f"-o - (standard output) takes one output file; `cryopick {args.command}` "
                              f"{'with --per-micrograph ' if per_micrograph else ''}writes a directory")
        return None
    if writes_directory(args):
        if output.exists() and not output.is_dir():
            raise InputError(output, f"exists and is not a directory, and `cryopick {args.command}` writes a "
                                     "directory here: choose another -o")
        return output
    if output.is_dir():
        raise InputError(output, f"is a directory; `cryopick {args.command}` writes one file here (or a "
                                 "directory with --per-micrograph, where it has that option): name the file")
    return output.parent


def writes_directory(args: argparse.Namespace) -> bool:
    """Whether ``-o`` names a directory: every command's but the single-file outputs'."""
    return args.command not in SINGLE_FILE_COMMANDS or bool(getattr(args, "per_micrograph", False))


def _detach_unopened_run_log() -> None:
    root = logging.getLogger("cryopick")
    for handler in list(root.handlers):
        if isinstance(handler, _RunLog) and not handler.opened:
            root.removeHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``cryopick`` entry point: run one command, turning known errors into messages."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    args.progress_disabled = args.quiet or not sys.stderr.isatty()
    try:
        directory = log_directory(args)
        if directory is not None:
            attach_run_log(directory)
        log.debug("cryopick %s: %s", __version__, " ".join(sys.argv))
        output = getattr(args, "output", None)
        with output_lock(output) if output is not None else contextlib.nullcontext():
            return int(args._module.run(args) or 0)
    except CryopickError as exc:
        _detach_unopened_run_log()
        log.error("cryopick %s: error: %s", args.command, exc)
        return 2
    except KeyboardInterrupt:
        log.error("cryopick %s: interrupted", args.command)
        return 130
    finally:
        root = logging.getLogger("cryopick")
        for handler in list(root.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                root.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
