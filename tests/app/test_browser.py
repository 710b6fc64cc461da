"""`cryopick app` in a real browser: Playwright (from PyPI) driving Debian's chromium, never a download.

Label 10 particles by clicking, undo, train, see picks appear, move the threshold, accept picks,
restart the server and find the same labels, in original pixels within 1 px of the clicks.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import cryopick
from cryopick.app.project import LABELS_DIR
from cryopick.io.coordinates import read_all_picks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # the `test` extra installs it
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (`make test` installs it)"),
    pytest.mark.skipif(sync_playwright is None, reason="needs playwright from PyPI (the `test` extra)"),
]
#: flags for a root, offline, display-less machine
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def app_server(app_data: Path, project: Path, log_path: Path) -> Iterator[str]:
    """``cryopick app`` as a user starts it (a process of its own); yields the address it prints."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(cryopick.__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "cryopick.cli.main", "app", "--micrographs", str(app_data / "work"),
               "-o", str(project), "-n", "25", "--epochs", "1", "--steps-per-epoch", "4", "--no-browser"]
    with log_path.open("a") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the address, once the socket listens
        assert line.startswith("open http://127.0.0.1:"), (line, log_path.read_text())
        yield line.split()[1]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def client_point(page: Page, x_orig_px: float, y_orig_px: float) -> tuple[float, float]:
    """Where original pixel (x, y) is on the screen, from the drawn image's box alone.

    The image element spans pixel edges -0.5 .. cols - 0.5, and the page is told each image
    pixel's size in original pixels; this test computes the position itself, not with the page's code.
    """
    box = page.locator("#micrograph-image").bounding_box()
    assert box is not None
    rows, cols, scale = page.evaluate("[app.current.image_shape[0], app.current.image_shape[1], "
                                      "app.current.orig_px_per_image_px]")
    return (box["x"] + (x_orig_px / scale + 0.5) * box["width"] / cols,
            box["y"] + (y_orig_px / scale + 0.5) * box["height"] / rows)


def set_threshold(page: Page, where: str) -> int:
    """Move the slider to its min, max or middle; returns the pick count the page then shows."""
    page.eval_on_selector("#threshold", f"""slider => {{
        slider.value = {{min: +slider.min, max: +slider.max,
                         middle: (+slider.min + +slider.max) / 2}}["{where}"];
        slider.dispatchEvent(new Event("input"));
    }}""")
    count = int(page.locator("#pick-count").get_attribute("data-count") or -1)
    assert page.locator("circle.pick").count() == count
    return count


def test_label_train_review_and_restart(app_data: Path, true_centres, tmp_path: Path) -> None:
    project = tmp_path / "project"
    log_path = tmp_path / "app.log"
    centres = true_centres.for_micrograph("mic00")
    # well inside the micrograph, so that a circle drawn at the edge is not what is clicked
    inside = (centres.x_orig_px > 15) & (centres.x_orig_px < 240) & (centres.y_orig_px > 15) & (centres.y_orig_px < 240)
    clicked = np.stack([centres.x_orig_px[inside], centres.y_orig_px[inside]], axis=1)[:10]
    assert len(clicked) == 10
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.set_default_timeout(30_000)
        with app_server(app_data, project, log_path) as url:
            page.goto(url)
            expect(page.locator("#viewer")).to_have_attribute("data-loaded", "mic00")
            labels = page.locator("#label-count")
            for count, (x, y) in enumerate(clicked, start=1):
                page.mouse.click(*client_point(page, x, y))
                expect(labels).to_have_attribute("data-count", str(count))
            # a click on a label removes it; u undoes that
            page.locator("circle.label").first.click()
            expect(labels).to_have_attribute("data-count", "9")
            page.keyboard.press("u")
            expect(labels).to_have_attribute("data-count", "10")
            expect(page.locator("#micrographs tr.current .n-labels")).to_have_text("10")

            page.locator("#train").click()
            # the page stays usable while the round runs: next and previous micrograph
            page.keyboard.press("n")
            expect(page.locator("#viewer")).to_have_attribute("data-loaded", "mic01")
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#viewer")).to_have_attribute("data-loaded", "mic00")
            expect(page.locator("#train-status")).to_have_attribute("data-state", "done", timeout=120_000)
            expect(page.locator("#train-status")).to_contain_text("round 1")

            everything = set_threshold(page, "min")
            assert everything > 0  # picks appeared
            fewer = set_threshold(page, "max")
            assert fewer < everything
            shown = set_threshold(page, "middle")
            assert shown > 0
            page.locator("#accept-shown").click()
            expect(labels).to_have_attribute("data-count", str(10 + shown))
            expect(page.locator("#pick-count")).to_have_attribute("data-count", "0")
        saved = read_all_picks([project / LABELS_DIR])
        assert len(saved) == 10 + shown

        with app_server(app_data, project, log_path) as url:  # a restart restores every label
            page.goto(url)
            expect(page.locator("#viewer")).to_have_attribute("data-loaded", "mic00")
            expect(labels).to_have_attribute("data-count", str(10 + shown))
            assert page.locator("circle.label").count() == 10 + shown
            expect(page.locator("#totals")).to_have_attribute("data-labels", str(10 + shown))
        browser.close()
    # the clicked centres, in original pixels, within 1 px
    distance = np.hypot(saved.x_orig_px[:, None] - clicked[:, 0], saved.y_orig_px[:, None] - clicked[:, 1])
    assert distance.min(axis=0).max() <= 1.0, distance.min(axis=0)
    assert set(saved.micrograph.tolist()) == {"mic00"}
