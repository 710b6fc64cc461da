"""``run_evaluate``: picks against reference particles; metrics JSON and a PR-curve PNG."""

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from cryopick.config import EvaluateConfig
from cryopick.evaluate.matching import match_picks
from cryopick.evaluate.metrics import PrecisionRecall, precision_recall
from cryopick.io._atomic import atomic_path, atomic_write_text
from cryopick.io.coordinates import read_picks

log = logging.getLogger(__name__)


def _plot(curve: PrecisionRecall, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot(curve.recall, curve.precision, color="tab:blue")
    left.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
             title=f"precision-recall (AP {curve.average_precision:.3f})")
    left.grid(alpha=0.3)
    right.plot(curve.thresholds, curve.f1, color="tab:green", label="F1")
    right.plot(curve.thresholds, curve.precision, color="tab:blue", alpha=0.6, label="precision")
    right.plot(curve.thresholds, curve.recall, color="tab:orange", alpha=0.6, label="recall")
    if len(curve.f1):
        best = curve.best_f1_index
        right.axvline(curve.thresholds[best], color="grey", ls="--", lw=1)
    right.set(xlabel="score threshold (log-likelihood ratio)", ylim=(0, 1.02), title="against the threshold")
    right.invert_xaxis()
    right.legend()
    right.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


def run_evaluate(
    config: EvaluateConfig,
    picks_path: Path,
    reference_path: Path,
    output_dir: Path | None,
    *,
    picks_format: str | None = None,
    reference_format: str | None = None,
) -> dict[str, Any]:
    picks = read_picks(picks_path, picks_format)
    reference = read_picks(reference_path, reference_format)
    reference_names = set(reference.micrographs())
    on_reference = np.isin(picks.micrograph, list(reference_names))
    if not on_reference.all():
        log.info("ignoring %d picks on %d micrographs the reference does not cover",
                 int((~on_reference).sum()), len(set(picks.micrograph[~on_reference].tolist())))
    picks = picks.select(on_reference)
    scores = picks.score if picks.has_scores else np.zeros(len(picks))
    matched = np.zeros(len(picks), dtype=bool)
    for name in reference_names:
        mine = np.flatnonzero(picks.micrograph == name)
        truth = reference.for_micrograph(name)
        matched[mine] = match_picks(
            np.stack([picks.x_orig_px[mine], picks.y_orig_px[mine]], axis=1),
            np.stack([truth.x_orig_px, truth.y_orig_px], axis=1),
            scores[mine], radius=config.match_radius_orig_px, method=config.matching,
        )
    curve = precision_recall(scores, matched, n_reference=len(reference))
    best = curve.best_f1_index
    metrics: dict[str, Any] = {
        "average_precision": curve.average_precision,
        "n_picks": curve.n_picks,
        "n_reference": curve.n_reference,
        "n_matched": int(matched.sum()),
        "n_micrographs": len(reference_names),
        "match_radius_orig_px": config.match_radius_orig_px,
        "matching": config.matching,
        "best_f1": float(curve.f1[best]) if best >= 0 else 0.0,
        "best_f1_threshold": float(curve.thresholds[best]) if best >= 0 else None,
        "precision_at_best_f1": float(curve.precision[best]) if best >= 0 else 0.0,
        "recall_at_best_f1": float(curve.recall[best]) if best >= 0 else 0.0,
        "picks": str(picks_path),
        "reference": str(reference_path),
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
        _plot(curve, output_dir / "pr_curve.png", f"{Path(picks_path).name} vs {Path(reference_path).name}")
    return metrics
