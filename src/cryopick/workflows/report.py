"""``run_report``: one self-contained HTML page for a picking run."""

import datetime
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cryopick import __version__
from cryopick.config import ReportConfig
from cryopick.errors import InputError
from cryopick.evaluate.estimate import choose_threshold
from cryopick.evaluate.metrics import agreement
from cryopick.io._atomic import atomic_write_text
from cryopick.io.coordinates import read_all_picks
from cryopick.io.micrographs import read_micrograph
from cryopick.picks import Picks
from cryopick.preprocess.fourier import fourier_crop
from cryopick.report.figures import (
    colorbar_figure,
    estimate_figure,
    picks_per_micrograph_figure,
    precision_recall_figure,
    score_display_range,
    score_histogram,
    thumbnail,
)
from cryopick.report.page import ReportPage, Thumbnail, render, spread
from cryopick.workflows.estimate import calibration_for, estimate_for
from cryopick.workflows.sources import MicrographSource, find_micrograph_sources

log = logging.getLogger(__name__)


def _thumbnails(sources: list[MicrographSource], picks: Picks, reference: Picks | None, config: ReportConfig,
                threshold: float, score_range: tuple[float, float], quiet: bool) -> Iterator[Thumbnail]:
    for source in tqdm(sources, desc="thumbnails", unit="mic", disable=quiet, leave=False):
        image = read_micrograph(source.path).array
        shape_orig = source.info.shape_orig_px if source.info and source.info.shape_orig_px else image.shape
        factor = max(1, math.ceil(max(image.shape) / config.thumbnail_px))
        small = fourier_crop(image, factor) if factor > 1 else image
        scale = small.shape[1] / shape_orig[1]  # thumbnail px per original px
        mine = picks.for_micrograph(source.name)
        shown = mine.select(mine.score >= threshold) if mine.has_scores else mine
        reference_xy = None
        caption = f"{source.name}: {len(shown)} picks"
        if reference is not None:
            truth = reference.for_micrograph(source.name)
            reference_xy = np.stack([truth.x_orig_px, truth.y_orig_px], axis=1) * scale
            caption += f", {len(truth)} reference particles (+)"
        yield Thumbnail(source.name, thumbnail(
            small, x_px=shown.x_orig_px * scale, y_px=shown.y_orig_px * scale, scores=shown.score,
            radius_px=config.particle_radius_orig_px * scale, score_range=score_range,
            reference_xy_px=reference_xy), caption)


def _check_names(picks: Picks, sources: list[MicrographSource], picks_path: Path) -> None:
    """Keep only the picks on given micrographs; none in common is an error.

    Picks for micrographs that were not given cannot be drawn: none in common is an error
    (the wrong files, or names that differ), some missing a warning.
    """
    given = {s.name for s in sources}
    missing = sorted(set(picks.micrographs()) - given)
    if not missing or not len(picks):
        return
    if len(missing) == len(picks.micrographs()):
        raise InputError(picks_path, f"no micrograph in common with --micrographs (picks name e.g. {missing[0]!r}, "
                                     f"the micrographs e.g. {min(given) if given else 'none'!r})")
    n_picks = int(np.isin(picks.micrograph, missing).sum())
    log.warning("%d picks on %d micrographs not among --micrographs (e.g. %s): counted, not drawn", n_picks,
                len(missing), missing[0])


def run_report(
    config: ReportConfig,
    picks_paths: list[Path],
    micrograph_inputs: list[Path],
    output: Path,
    *,
    reference_paths: list[Path] | None = None,
    picks_format: str | None = None,
    reference_format: str | None = None,
    quiet: bool = False,
    command: list[str] | None = None,
    model_dir: Path | None = None,
) -> dict[str, float | int | None]:
    """Write the HTML report of picks on their micrographs.

    The estimated precision, recall and F1 (no reference needed) are drawn when the model's score
    calibration is at hand (``model_dir``, or the estimate file extract wrote beside the picks),
    with the true curves over them when a reference is given.
    """
    picks = read_all_picks(picks_paths, picks_format)
    reference = read_all_picks(reference_paths, reference_format) if reference_paths else None
    sources = find_micrograph_sources(micrograph_inputs).micrographs
    _check_names(picks, sources, Path(picks_paths[0]))
    scores = picks.score if picks.has_scores else np.zeros(len(picks))
    summary = [("picks", ", ".join(str(p) for p in picks_paths)), ("micrographs", str(len(sources)))]
    figures = []
    average_precision = best_f1 = None
    threshold = config.threshold if config.threshold is not None else 0.0
    threshold_reason = "set by --threshold" if config.threshold is not None else "score 0"
    calibration = calibration_for(Path(picks_paths[0]), model_dir) if picks.has_scores and len(picks) else None
    n_micrographs = len({s.name for s in sources} | set(picks.micrographs()))
    estimate = estimate_for(picks, calibration, n_micrographs=n_micrographs) if calibration is not None else None
    if estimate is not None and config.threshold is None and reference is None:
        best = choose_threshold(estimate)
        threshold, threshold_reason = float(estimate.thresholds[best]), "best F1 estimated without a reference"
    if reference is not None:
        result = agreement(reference, picks, radius_orig_px=config.particle_radius_orig_px, method=config.matching)
        curve = result.curve
        average_precision = curve.average_precision
        best = curve.best_f1_index
        best_f1 = float(curve.f1[best]) if best >= 0 else 0.0
        if config.threshold is None and best >= 0:
            threshold, threshold_reason = float(curve.thresholds[best]), "best F1 against the reference"
        figures.append(("Precision-recall against the reference, and F1 against the threshold",
                        precision_recall_figure(curve, "against the reference")))
        summary += [("reference", ", ".join(str(p) for p in reference_paths or [])),
                    ("average precision", f"{average_precision:.4f}"),
                    ("best F1", f"{best_f1:.4f} (precision {curve.precision[best]:.3f}, recall "
                                f"{curve.recall[best]:.3f})" if best >= 0 else "n/a")]
        histogram = score_histogram(result.picks.score if picks.has_scores else np.zeros(len(result.picks)),
                                    threshold, result.matched)
    else:
        histogram = score_histogram(scores, threshold)
    if estimate is not None:
        index = int(np.clip(np.searchsorted(estimate.thresholds, threshold, side="right") - 1, 0,
                            len(estimate.thresholds) - 1))
        figures.insert(0, ("Precision, recall and F1 estimated without a reference (bands: 5-95% over micrographs)"
                           + ("; dashed: against the reference" if reference is not None else ""),
                           estimate_figure(estimate, curve if reference is not None else None)))
        low, high = estimate.precision_band[:, index]
        summary += [("estimated at the threshold", f"precision {estimate.precision[index]:.3f} ({low:.3f}-{high:.3f}), "
                                                   f"recall {estimate.recall[index]:.3f}, "
                                                   f"{estimate.expected_true_picks(index):.0f} particles expected "
                                                   f"among the picks, of {estimate.expected_particles:.0f}"),
                    ("what a score means here", f"a pick scoring 0 is a particle with probability "
                                                f"{estimate.probability(0):.2f}; scoring -3, "
                                                f"{estimate.probability(-3):.2f}")]
    if not picks.has_scores:
        threshold, threshold_reason = -math.inf, "the picks carry no scores"
    kept = scores >= threshold
    names = sorted({s.name for s in sources} | set(picks.micrographs()))
    counts = np.array([int(np.count_nonzero(kept & (picks.micrograph == name))) for name in names], dtype=np.int64)
    figures.append(("Distribution of pick scores", histogram))
    figures.append(("Picks per micrograph above the threshold", picks_per_micrograph_figure(counts, threshold)))
    summary += [("picks in all", str(len(picks))),
                ("threshold", f"{threshold:g} ({threshold_reason})"),
                ("picks at or above it", f"{int(kept.sum())} ({np.mean(counts) if len(counts) else 0:.1f} "
                                         "per micrograph)")]
    score_range = score_display_range(scores, threshold)
    shown = spread(sources, config.max_micrographs)
    thumbnails = list(_thumbnails(shown, picks, reference, config, threshold, score_range, quiet))
    notes = [f"Thumbnails: {len(shown)} of {len(sources)} micrographs, evenly spaced through the sorted list; "
             "circles mark picks at or above the threshold (particle radius), coloured by score"
             + ("; + marks reference particles." if reference is not None else ".")]
    summary += [("made", f"{datetime.datetime.now().isoformat(timespec='seconds')} by cryopick {__version__}")]
    if command:
        summary.append(("command", " ".join(command)))
    page = ReportPage(title=f"cryopick picks: {Path(picks_paths[0]).name}", summary=summary, figures=figures,
                      thumbnails=thumbnails, colorbar_png=colorbar_figure(score_range) if thumbnails else None,
                      notes=notes)
    atomic_write_text(output, render(page))
    log.info("report: %d micrographs (%d drawn), %d picks at or above %g -> %s",
             len(sources), len(shown), int(kept.sum()), threshold, output)
    return {"average_precision": average_precision, "best_f1": best_f1, "threshold": threshold,
            "n_picks_above_threshold": int(kept.sum()), "n_thumbnails": len(thumbnails)}
