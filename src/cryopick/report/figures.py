"""The report's figures, rendered as PNG bytes.

Figures as PNG bytes: the PR curve, score histogram, particles per micrograph, and micrograph
thumbnails with their picks drawn and coloured by score.

Figures are built as ``matplotlib.figure.Figure`` objects and rendered by Agg directly, without
pyplot: importing this module leaves a notebook's backend and open figures alone.
"""

import io
from typing import Any

import matplotlib.cm
import matplotlib.colors
import matplotlib.ticker
import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from cryopick.evaluate.estimate import ThresholdEstimate, choose_threshold
from cryopick.evaluate.metrics import PrecisionRecall

SCORE_COLORMAP = "plasma"


def _subplots(*grid: int, figsize: tuple[float, float]) -> tuple[Figure, Any]:
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*grid)


def _png(figure: Figure, dpi: float = 100) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # no pyplot: the figure gets its own Agg canvas
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def precision_recall_figure(curve: PrecisionRecall, title: str) -> bytes:
    """Left: precision against recall. Right: F1, precision and recall against the threshold."""
    figure, (left, right) = _subplots(1, 2, figsize=(10, 4.2))
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
    return _png(figure, dpi=110)


def estimate_figure(estimate: ThresholdEstimate, truth: PrecisionRecall | None = None) -> bytes:
    """Estimated precision, recall and F1 against the threshold, with their bands; the true curves dashed."""
    figure, axes = _subplots(figsize=(6.4, 4.2))
    for values, band, colour, name in ((estimate.precision, estimate.precision_band, "tab:blue", "precision"),
                                       (estimate.recall, estimate.recall_band, "tab:orange", "recall"),
                                       (estimate.f1, estimate.f1_band, "tab:green", "F1")):
        axes.plot(estimate.thresholds, values, color=colour, label=f"{name}, estimated")
        axes.fill_between(estimate.thresholds, band[0], band[1], color=colour, alpha=0.18, lw=0)
    if truth is not None and len(truth.thresholds):
        for values, colour in ((truth.precision, "tab:blue"), (truth.recall, "tab:orange"), (truth.f1, "tab:green")):
            axes.plot(truth.thresholds, values, color=colour, ls="--", lw=1)
        axes.plot([], [], color="grey", ls="--", lw=1, label="against the reference")
    best = choose_threshold(estimate)
    axes.axvline(estimate.thresholds[best], color="grey", ls=":", lw=1)
    axes.set(xlabel="score threshold (log-likelihood ratio)", ylim=(0, 1.02),
             title=f"estimated without a reference ({estimate.expected_particles:.0f} particles expected)")
    axes.invert_xaxis()
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure, dpi=110)


def score_histogram(scores: npt.NDArray[np.float64], threshold: float,
                    matched: npt.NDArray[np.bool_] | None = None) -> bytes:
    """With a reference, matched and unmatched picks are stacked in two colours."""
    figure, axes = _subplots(figsize=(5.2, 3.6))
    finite = np.isfinite(scores)
    bins = np.histogram_bin_edges(scores[finite], bins=60) if finite.any() else 10
    if matched is None:
        axes.hist(scores[finite], bins=bins, color="tab:purple")
    else:
        axes.hist([scores[finite & matched], scores[finite & ~matched]], bins=bins, stacked=True,
                  color=["tab:green", "tab:red"], label=["matches a reference particle", "no match"])
        axes.legend(fontsize=8)
    axes.axvline(threshold, color="black", ls="--", lw=1, label="threshold")
    axes.set(xlabel="score (log-likelihood ratio)", ylabel="picks", title="score distribution")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def picks_per_micrograph_figure(counts: npt.NDArray[np.int64], threshold: float) -> bytes:
    """Histogram of picks per micrograph above ``threshold``, as PNG."""
    figure, axes = _subplots(figsize=(5.2, 3.6))
    axes.hist(counts, bins=min(40, max(5, len(np.unique(counts)))), color="tab:cyan")
    axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set(xlabel=f"picks per micrograph (score >= {threshold:g})", ylabel="micrographs",
             title=f"{len(counts)} micrographs, median {np.median(counts) if len(counts) else 0:g} picks")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def display_range(image: npt.NDArray[np.float32]) -> tuple[float, float]:
    """Grey levels to display ``image`` with: its 1st to 99th percentile."""
    low, high = np.percentile(image, [1, 99])
    return float(low), float(high if high > low else low + 1)


def score_display_range(scores: npt.NDArray[np.float64], threshold: float) -> tuple[float, float]:
    """Scores to colour picks by: the lowest drawn (at or above ``threshold``) to their 99th percentile."""
    finite = scores[np.isfinite(scores) & (scores >= threshold)]
    if not len(finite):
        return threshold, threshold + 1
    low, high = float(np.min(finite)), float(np.percentile(finite, 99))
    return low, high if high > low else low + 1


def thumbnail(image: npt.NDArray[np.float32], *, x_px: npt.NDArray[np.float64], y_px: npt.NDArray[np.float64],
              scores: npt.NDArray[np.float64], radius_px: float, score_range: tuple[float, float],
              reference_xy_px: npt.NDArray[np.float64] | None = None) -> bytes:
    """A micrograph thumbnail with its picks drawn, coloured by score.

    ``image`` already at thumbnail size; coordinates in its pixels. Picks are circles of the
    particle radius coloured by score; reference particles, if any, small white crosses.
    """
    rows, cols = image.shape
    dpi = 100
    figure = Figure(figsize=(cols / dpi, rows / dpi), dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    low, high = display_range(image)
    axes.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="antialiased")
    if reference_xy_px is not None and len(reference_xy_px):
        axes.scatter(reference_xy_px[:, 0], reference_xy_px[:, 1], marker="+", s=14, c="white", linewidths=0.8)
    circles = PatchCollection([Circle((x, y), radius_px) for x, y in zip(x_px, y_px, strict=True)],
                              cmap=SCORE_COLORMAP, facecolor="none", linewidths=1.2)
    circles.set_array(np.nan_to_num(scores, nan=score_range[0]))
    circles.set_clim(*score_range)
    circles.set_facecolor("none")
    axes.add_collection(circles)
    axes.set(xlim=(-0.5, cols - 0.5), ylim=(rows - 0.5, -0.5))
    axes.axis("off")
    return _png(figure, dpi=dpi)


def colorbar_figure(score_range: tuple[float, float]) -> bytes:
    """The score colour scale of the thumbnails, as a PNG strip."""
    figure = Figure(figsize=(4.5, 0.9))
    axes = figure.add_axes((0.05, 0.6, 0.9, 0.25))
    figure.colorbar(matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(*score_range), cmap=SCORE_COLORMAP),
                    cax=axes, orientation="horizontal", label="pick score (log-likelihood ratio)")
    return _png(figure)
