"""``run_evaluate``: picks against reference particles; metrics JSON and a PR-curve PNG."""

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from cryopick.config import EvaluateConfig
from cryopick.errors import InputError
from cryopick.evaluate.metrics import agreement
from cryopick.io._atomic import atomic_write_bytes, atomic_write_text
from cryopick.io.coordinates import read_all_picks
from cryopick.report.figures import precision_recall_figure

log = logging.getLogger(__name__)


def _names(paths: list[Path]) -> str:
    return Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} files"


def run_evaluate(
    config: EvaluateConfig,
    picks_paths: list[Path],
    reference_paths: list[Path],
    output_dir: Path | None,
    *,
    picks_format: str | None = None,
    reference_format: str | None = None,
) -> dict[str, Any]:
    """Score picks against reference particles; with ``output_dir``, write metrics.json and the PR curve."""
    picks = read_all_picks(picks_paths, picks_format)
    reference = read_all_picks(reference_paths, reference_format)
    shared = set(picks.micrographs()) & set(reference.micrographs())
    if len(picks) and len(reference) and not shared:
        raise InputError(picks_paths[0], f"names no micrograph of the reference ({picks.micrographs()[0]!r}, ... "
                                         f"against {reference.micrographs()[0]!r}, ... in {reference_paths[0]}): "
                                         "AP would be 0; are they the same micrographs under other names?")
    result = agreement(reference, picks, radius_orig_px=config.match_radius_orig_px, method=config.matching)
    if result.n_ignored:
        log.info("ignoring %d picks on micrographs the reference does not cover", result.n_ignored)
    curve, matched = result.curve, result.matched
    best = curve.best_f1_index
    metrics: dict[str, Any] = {
        "average_precision": curve.average_precision,
        "n_picks": curve.n_picks,
        "n_reference": curve.n_reference,
        "n_matched": int(matched.sum()),
        "n_micrographs": len(reference.micrographs()),
        "match_radius_orig_px": config.match_radius_orig_px,
        "matching": config.matching,
        "best_f1": float(curve.f1[best]) if best >= 0 else 0.0,
        "best_f1_threshold": float(curve.thresholds[best]) if best >= 0 else None,
        "precision_at_best_f1": float(curve.precision[best]) if best >= 0 else 0.0,
        "recall_at_best_f1": float(curve.recall[best]) if best >= 0 else 0.0,
        "picks": [str(p) for p in picks_paths],
        "reference": [str(p) for p in reference_paths],
    }
    if output_dir is not None:
        output_dir = Path(output_dir)
        step = max(1, len(curve.thresholds) // 2000)  # keep the JSON small
        metrics_file = dict(metrics)
        metrics_file["curve"] = {
            "threshold": np.round(curve.thresholds[::step], 4).tolist(),
            "precision": np.round(curve.precision[::step], 4).tolist(),
            "recall": np.round(curve.recall[::step], 4).tolist(),
            "f1": np.round(curve.f1[::step], 4).tolist(),
        }
        atomic_write_text(output_dir / "metrics.json", json.dumps(metrics_file, indent=1) + "\n")
        figure = precision_recall_figure(curve, f"{_names(picks_paths)} vs {_names(reference_paths)}")
        atomic_write_bytes(output_dir / "pr_curve.png", figure)
    return metrics
