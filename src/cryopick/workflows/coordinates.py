"""``run_convert`` and ``run_threshold``: coordinate files between formats and pixel sizes, and
kept above a score or the best K per micrograph."""

import logging
from pathlib import Path

from cryopick.errors import InputError
from cryopick.extract.selection import select_picks
from cryopick.io.coordinates import describe_output, read_all_picks, write_coordinates
from cryopick.picks import Picks
from cryopick.workflows.sources import micrograph_infos

log = logging.getLogger(__name__)


def _write(picks: Picks, output: Path, fmt: str | None, per_micrograph: bool, box_size_orig_px: float | None) -> None:
    write_coordinates(output, picks, fmt=fmt, per_micrograph=per_micrograph, box_size_orig_px=box_size_orig_px)
    log.info("%d picks on %d micrographs -> %s", len(picks), len(picks.known_micrographs()),
             describe_output(output, fmt, per_micrograph))


def run_convert(inputs: list[Path], output: Path, *, input_format: str | None = None,
                output_format: str | None = None, per_micrograph: bool = False, scale: float = 1.0,
                micrographs: list[Path] | None = None, box_size_orig_px: float | None = None) -> Picks:
    """``scale`` multiplies coordinates (input pixel size / output pixel size); ``micrographs``
    (at the output's pixel size) name the micrographs and give their sizes."""
    picks = read_all_picks(inputs, input_format)
    if scale != 1.0:
        picks = picks.scaled(scale)
    if micrographs:
        picks = picks.with_info(micrograph_infos(micrographs), override=True)
    _write(picks, output, output_format, per_micrograph, box_size_orig_px)
    return picks


def run_threshold(inputs: list[Path], output: Path, *, min_score: float | None, top_k_per_micrograph: int | None,
                  input_format: str | None = None, output_format: str | None = None, per_micrograph: bool = False,
                  box_size_orig_px: float | None = None) -> Picks:
    picks = read_all_picks(inputs, input_format)
    try:
        kept = select_picks(picks, min_score=min_score, top_k_per_micrograph=top_k_per_micrograph)
    except ValueError as exc:
        raise InputError(Path(inputs[0]), str(exc)) from None
    log.info("kept %d of %d picks", len(kept), len(picks))
    _write(kept, output, output_format, per_micrograph, box_size_orig_px)
    return kept
