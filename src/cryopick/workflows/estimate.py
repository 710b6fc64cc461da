"""Estimated precision without a reference: from a model's score calibration to a file beside the picks.

``extract`` writes ``<output>.estimate.json`` (``estimate.json`` inside a per-micrograph output
directory): the model's calibration record and the estimated precision, recall and F1 at every
threshold with their band. ``threshold`` and ``report`` read it back and recompute the estimate
for the picks they are given. Models trained before the calibration existed have none: the
estimate is skipped with a note, and choosing a threshold from it is refused.
"""

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from cryopick.config import ThresholdChoice
from cryopick.errors import ConfigError, InputError
from cryopick.evaluate.estimate import (
    GRID_STEP,
    RECORD_VERSION,
    DensityReference,
    ThresholdEstimate,
    choose_threshold,
    estimate_curve,
)
from cryopick.io._atomic import atomic_write_text, is_stream
from cryopick.io.coordinates import ESTIMATE_NAME, ESTIMATE_SUFFIX
from cryopick.io.model_files import model_files
from cryopick.picks import Picks

log = logging.getLogger(__name__)

NO_CALIBRATION = ("the model records no score calibration (trained before cryopick recorded one, or imported): "
                  "no precision estimate; retrain it with this version to get one")


def estimate_path(output: Path, per_micrograph: bool) -> Path | None:
    """Where the estimate of picks written to ``output`` lives (None for a stream)."""
    if is_stream(output):
        return None
    if per_micrograph or output.is_dir():
        return output / ESTIMATE_NAME
    return output.with_name(output.name + ESTIMATE_SUFFIX)


def model_calibration(record: dict[str, Any], where: Path) -> dict[str, Any] | None:
    """The model's score calibration, checked; None (with a note) when the model has none."""
    calibration = record.get("score_calibration")
    if calibration is None:
        log.warning("%s: %s", where, NO_CALIBRATION)
        return None
    try:
        if int(calibration["version"]) > RECORD_VERSION:
            raise InputError(where, f"score_calibration version {calibration['version']} is newer than this "
                                    f"cryopick reads ({RECORD_VERSION}): upgrade cryopick", field="score_calibration")
        slope = float(calibration["slope"])
        replicates = [float(x) for x in calibration.get("slope_replicates", [])]
        expected = float(calibration["expected_particles_per_micrograph"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, f"malformed score_calibration: {exc}", field="score_calibration") from None
    checked = {"slope": slope, "slope_replicates": replicates, "expected_particles_per_micrograph": expected}
    if not (math.isfinite(slope) and slope > 0 and math.isfinite(expected) and expected > 0
            and all(math.isfinite(x) and x > 0 for x in replicates)):
        raise InputError(where, "score_calibration: slope and expected count must be positive numbers",
                         field="score_calibration")
    return {**calibration, **checked, "dataset_reference": _reference(calibration, where)}


def _reference(calibration: dict[str, Any], where: Path) -> DensityReference | None:
    """The record's picks on a sample of the dataset, checked (None in records made before it existed)."""
    saved = calibration.get("dataset_reference")
    if saved is None or isinstance(saved, DensityReference):
        return saved
    field = "score_calibration.dataset_reference"
    try:
        counts = np.array([float(x) for x in saved["picks_per_micrograph"]], dtype=np.float64)
        reference = DensityReference(float(saved["score_low"]), counts, float(calibration["intercept"]),
                                     int(saved["n_micrographs"]))
        width = float(saved["bin_width"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, f"malformed dataset reference: {exc}", field=field) from None
    if not (math.isclose(width, GRID_STEP) and math.isfinite(reference.score_low) and math.isfinite(reference.intercept)
            and reference.n_micrographs > 0 and np.all(np.isfinite(counts)) and np.all(counts >= 0)):
        raise InputError(where, f"dataset reference: bins of {GRID_STEP} score units with finite, non-negative "
                                "counts expected", field=field)
    return reference


def calibration_for(picks_path: Path, model_dir: Path | None) -> dict[str, Any] | None:
    """The calibration from ``--model``, else from the estimate file beside ``picks_path``."""
    if model_dir is not None:
        config_path, _ = model_files(Path(model_dir))
        try:
            record = json.loads(config_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(config_path, f"cannot read the model description: {exc}") from None
        return model_calibration(record, config_path)
    beside = [Path(picks_path) / ESTIMATE_NAME, Path(picks_path).with_name(Path(picks_path).name + ESTIMATE_SUFFIX)]
    for path in beside:
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
                return model_calibration(saved["calibration"], path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(path, f"not a cryopick estimate file: {exc}") from None
    return None


def estimate_for(picks: Picks, calibration: dict[str, Any], *, n_micrographs: int | None = None) -> ThresholdEstimate:
    """The estimated precision, recall and F1 of ``picks`` at every threshold."""
    if not picks.has_scores:
        raise ConfigError("these picks carry no scores: nothing to estimate precision from")
    return estimate_curve(picks.score, picks.micrograph, slope=calibration["slope"],
                          slopes=calibration["slope_replicates"] or None, n_micrographs=n_micrographs,
                          expected_particles_per_micrograph=calibration["expected_particles_per_micrograph"],
                          reference=calibration.get("dataset_reference"))


def estimate_json(estimate: ThresholdEstimate, calibration: dict[str, Any], chosen: int | None) -> str:
    """The estimate file: the calibration, a summary, and the curve with its band."""
    def rounded(values: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else round(float(v), 4) for v in values]

    best = choose_threshold(estimate)
    data: dict[str, Any] = {
        "what": "precision, recall and F1 of keeping picks with score >= threshold, estimated without a reference "
                "from the model's score calibration and the expected count per micrograph (scaled by density_ratio: "
                "what the model finds here relative to a sample of the dataset); band: 5-95% over bootstrap "
                "resamples of micrographs",
        "expected_particles": round(estimate.expected_particles, 2),
        "n_micrographs": estimate.n_micrographs,
        "density_ratio": round(estimate.density_ratio, 4),
        "probability_at_score": {str(s): round(estimate.probability(s), 4) for s in (-3, 0, 3)},
        "best_f1": {"threshold": round(float(estimate.thresholds[best]), 3), "f1": round(float(estimate.f1[best]), 4),
                    "precision": round(float(estimate.precision[best]), 4),
                    "recall": round(float(estimate.recall[best]), 4)},
        "chosen_threshold": None if chosen is None else round(float(estimate.thresholds[chosen]), 3),
        "curve": {"threshold": rounded(estimate.thresholds), "n_picks": estimate.n_picks.tolist(),
                  "precision": rounded(estimate.precision), "recall": rounded(estimate.recall),
                  "f1": rounded(estimate.f1),
                  "precision_low": rounded(estimate.precision_band[0]),
                  "precision_high": rounded(estimate.precision_band[1]),
                  "recall_low": rounded(estimate.recall_band[0]), "recall_high": rounded(estimate.recall_band[1]),
                  "f1_low": rounded(estimate.f1_band[0]), "f1_high": rounded(estimate.f1_band[1])},
        "calibration": {"score_calibration": saved_calibration(calibration)},
    }
    return json.dumps(data, indent=1) + "\n"


def saved_calibration(calibration: dict[str, Any]) -> dict[str, Any]:
    """The calibration as model.json records it (the checked reference back to plain numbers)."""
    reference = calibration.get("dataset_reference")
    if not isinstance(reference, DensityReference):
        return calibration
    return {**calibration, "dataset_reference": {
        "score_low": reference.score_low, "bin_width": GRID_STEP, "n_micrographs": reference.n_micrographs,
        "picks_per_micrograph": [round(float(c), 4) for c in reference.counts_per_micrograph]}}


def apply_choice(picks: Picks, estimate: ThresholdEstimate, choice: ThresholdChoice) -> tuple[Picks, int]:
    """Keep the picks at or above the threshold ``choice`` asks for; log it and what it means."""
    index = choose_threshold(estimate, target_precision=choice.target_precision)
    if index < 0:
        raise ConfigError(f"no threshold reaches an estimated precision of {choice.target_precision:g} "
                          f"(the best F1 is at precision {estimate.precision[choose_threshold(estimate)]:.3f}): "
                          "lower --target-precision")
    threshold = float(estimate.thresholds[index])
    low, high = estimate.precision_band[:, index]
    log.info("threshold %.2f (%s): %d picks, estimated precision %.3f (%.3f-%.3f), recall %.3f, F1 %.3f; "
             "expected particles among them %.0f of %.0f expected in all (%.1f per micrograph, %.2f x the "
             "dataset's typical density)", threshold,
             "best estimated F1" if choice.auto else f"estimated precision >= {choice.target_precision:g}",
             estimate.n_picks[index], estimate.precision[index], low, high, estimate.recall[index],
             estimate.f1[index], estimate.expected_true_picks(index), estimate.expected_particles,
             estimate.expected_particles / max(estimate.n_micrographs, 1), estimate.density_ratio)
    return picks.select(picks.score >= threshold), index


def log_estimate(estimate: ThresholdEstimate) -> None:
    """Say what the scores mean for these picks, and where the best estimated F1 lies."""
    best = choose_threshold(estimate)
    log.info("estimated (no reference): a pick scoring 0 is a particle with probability %.2f, scoring -3 with %.2f; "
             "best estimated F1 %.3f at threshold %.2f (precision %.3f, recall %.3f, %d picks)",
             estimate.probability(0), estimate.probability(-3), estimate.f1[best], estimate.thresholds[best],
             estimate.precision[best], estimate.recall[best], estimate.n_picks[best])


def write_estimate(path: Path | None, estimate: ThresholdEstimate, calibration: dict[str, Any],
                   chosen: int | None) -> None:
    """Write the estimate file (nothing for a stream output)."""
    if path is None:
        return
    atomic_write_text(path, estimate_json(estimate, calibration, chosen))
    log.info("estimated precision, recall and F1 at every threshold -> %s", path)


def estimate_and_choose(picks: Picks, calibration: dict[str, Any] | None, choice: ThresholdChoice, *,
                        n_micrographs: int | None, path: Path | None) -> Picks:
    """Estimate the picks' precision at every threshold, write it, and keep what ``choice`` asks for.

    Without a calibration (an old or imported model) the picks are returned as they are, unless a
    threshold was to be chosen from the estimate: that is refused.
    """
    if calibration is None:
        if choice.active:
            raise ConfigError(f"--auto and --target-precision need a precision estimate, but {NO_CALIBRATION}")
        return picks
    if not len(picks):
        if choice.active:
            raise ConfigError("no picks at all: no threshold to choose")
        log.warning("no picks: no precision estimate")
        return picks
    estimate = estimate_for(picks, calibration, n_micrographs=n_micrographs)
    log_estimate(estimate)
    chosen = None
    if choice.active:
        picks, chosen = apply_choice(picks, estimate, choice)
    write_estimate(path, estimate, calibration, chosen)
    return picks
