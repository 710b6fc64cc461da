"""Figures render to PNG without touching the caller's matplotlib state."""

import subprocess
import sys

import numpy as np

from cryopick.evaluate.estimate import estimate_curve
from cryopick.evaluate.metrics import precision_recall
from cryopick.report.figures import colorbar_figure, estimate_figure, thumbnail

PNG = b"\x89PNG\r\n\x1a\n"


def test_importing_and_drawing_leaves_the_backend_and_open_figures_alone() -> None:
    code = (
        "import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt; plt.figure();"
        "import numpy as np; from cryopick.report.figures import colorbar_figure, thumbnail;"
        "png = thumbnail(np.zeros((40, 50), np.float32), x_px=np.array([10.0]), y_px=np.array([20.0]),"
        " scores=np.array([1.0]), radius_px=4, score_range=(0, 2)) + colorbar_figure((0, 2));"
        "print(matplotlib.get_backend(), len(plt.get_fignums()))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["svg", "1"]


def test_thumbnail_has_the_image_size() -> None:
    png = thumbnail(np.random.default_rng(0).normal(size=(60, 90)).astype(np.float32), x_px=np.array([10.0]),
                    y_px=np.array([20.0]), scores=np.array([1.0]), radius_px=4, score_range=(0, 2))
    assert png.startswith(PNG)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (90, 60)
    assert colorbar_figure((0, 2)).startswith(PNG)


def test_estimate_figure_draws_with_and_without_the_true_curve() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 2, 400)
    estimate = estimate_curve(scores, np.repeat(np.arange(4), 100), slope=1.5,
                              expected_particles_per_micrograph=30, n_bootstrap=10)
    truth = precision_recall(scores, rng.random(400) < 0.3, n_reference=130)
    alone, overlaid = estimate_figure(estimate), estimate_figure(estimate, truth)
    assert alone.startswith(PNG)
    assert overlaid.startswith(PNG)
    assert alone != overlaid
