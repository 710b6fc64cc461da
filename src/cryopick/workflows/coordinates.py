"""Convert coordinate files and threshold picks.

``run_convert`` and ``run_threshold``: coordinate files between formats and pixel sizes, and
kept above a score or the best K per micrograph.
"""

import logging
from pathlib import Path

import numpy as np

from cryopick.config import ThresholdChoice
from cryopick.errors import ConfigError, InputError
from cryopick.extract.selection import select_picks
from cryopick.io.coordinates import ESTIMATE_SUFFIX, describe_output, read_all_picks, write_coordinates
from cryopick.picks import Picks
from cryopick.workflows.estimate import calibration_for, estimate_and_choose
from cryopick.workflows.sources import find_micrograph_sources, micrograph_infos

log = logging.getLogger(__name__)


#: A rescale beyond this is a unit mistake, not a change of binning (those run 1/16 to 16).
MAX_SCALE = 1000.0
#: More picks than this share outside their micrographs means the coordinates are in other units.
MAX_OUTSIDE_SHARE = 0.01


def _inside_micrographs(picks: Picks, source: Path) -> Picks:
    """Drop picks outside their micrograph, refusing if there are too many.

    Picks whose centres fall outside their micrograph (where its size is known) cannot be
    right: a few (edge effects of another program) are left out with a warning; more than 1% is
    an error, as the coordinates must then be at another pixel size.
    """
    outside = np.zeros(len(picks), dtype=bool)
    for name, info in picks.info.items():
        if info.shape_orig_px is None:
            continue
        rows, cols = info.shape_orig_px
        on = picks.micrograph == name
        x, y = picks.x_orig_px[on], picks.y_orig_px[on]
        outside[on] = (x < -0.5) | (x > cols - 0.5) | (y < -0.5) | (y > rows - 0.5)
    n_outside = int(outside.sum())
    if n_outside == 0:
        return picks
    first = int(np.flatnonzero(outside)[0])
    name = str(picks.micrograph[first])
    rows, cols = picks.info[name].shape_orig_px  # type: ignore[misc]
    where = (f"{name} at x={picks.x_orig_px[first]:.1f}, y={picks.y_orig_px[first]:.1f} on a {cols} x {rows} px "
             "micrograph")
    if n_outside > MAX_OUTSIDE_SHARE * len(picks):
        raise InputError(source, f"{n_outside} of {len(picks)} picks lie outside their micrograph (first: {where}); "
                                 "are the coordinates at the micrographs' pixel size? (--scale, --from-pixel-size-A)")
    log.warning("%d of %d picks lie outside their micrograph and are left out (first: %s)", n_outside, len(picks),
                where)
    return picks.select(~outside)


def _write(picks: Picks, output: Path, fmt: str | None, per_micrograph: bool, box_size_orig_px: float | None) -> None:
    write_coordinates(output, picks, fmt=fmt, per_micrograph=per_micrograph, box_size_orig_px=box_size_orig_px)
    log.info("%d picks on %d micrographs -> %s", len(picks), len(picks.known_micrographs()),
             describe_output(output, fmt, per_micrograph))


def run_convert(inputs: list[Path], output: Path, *, input_format: str | None = None,
                output_format: str | None = None, per_micrograph: bool = False, scale: float = 1.0,
                micrographs: list[Path] | None = None, box_size_orig_px: float | None = None) -> Picks:
    """Convert coordinate files between formats and pixel sizes.

    ``scale`` multiplies coordinates (input pixel size / output pixel size); ``micrographs``
    (at the output's pixel size) name the micrographs and give their sizes.
    """
    if not 1 / MAX_SCALE <= scale <= MAX_SCALE:
        raise ConfigError(f"a coordinate scale of {scale:g} is not a change of binning (expected "
                          f"{1 / MAX_SCALE:g} to {MAX_SCALE:g}): check --scale or the pixel sizes")
    picks = read_all_picks(inputs, input_format)
    if scale != 1.0:
        picks = picks.scaled(scale)
    if micrographs:
        picks = picks.with_info(micrograph_infos(find_micrograph_sources(micrographs).micrographs), override=True)
    picks = _inside_micrographs(picks, Path(inputs[0]))
    _write(picks, output, output_format, per_micrograph, box_size_orig_px)
    return picks


def run_threshold(inputs: list[Path], output: Path, *, min_score: float | None, top_k_per_micrograph: int | None,
                  input_format: str | None = None, output_format: str | None = None, per_micrograph: bool = False,
                  box_size_orig_px: float | None = None, choice: ThresholdChoice | None = None,
                  model_dir: Path | None = None) -> Picks:
    """Keep picks above a score or the best K per micrograph, and write them.

    With ``choice`` active, first keep those above the threshold chosen from the estimated
    precision (the calibration from ``model_dir`` or the estimate file beside the first input).
    """
    picks = read_all_picks(inputs, input_format)
    if choice is not None and choice.active:
        calibration = calibration_for(Path(inputs[0]), model_dir)
        if calibration is None:
            raise ConfigError(f"--auto and --target-precision need the model's score calibration: no "
                              f"{Path(inputs[0]).name}{ESTIMATE_SUFFIX} beside {inputs[0]} (extract writes it); "
                              "give --model")
        try:
            picks = estimate_and_choose(picks, calibration, choice, n_micrographs=None, path=None)
        except ConfigError as exc:
            raise InputError(Path(inputs[0]), str(exc)) from None
    try:
        kept = select_picks(picks, min_score=min_score, top_k_per_micrograph=top_k_per_micrograph)
    except ValueError as exc:
        raise InputError(Path(inputs[0]), str(exc)) from None
    log.info("kept %d of %d picks", len(kept), len(picks))
    _write(kept, output, output_format, per_micrograph, box_size_orig_px)
    return kept
