"""`cryopick report`: one HTML file, rendered in a real headless browser (Debian's chromium)."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cryopick.cli.main import main
from cryopick.io.coordinates import read_picks, write_picks
from cryopick.picks import Picks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: flags for a root, offline, display-less machine
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000"]


@pytest.fixture
def report(synthetic_dataset) -> Path:
    """Picks = the true particles (high scores) plus misses elsewhere (low scores)."""
    dataset = synthetic_dataset()
    truth = read_picks(dataset / "test.txt")
    rng = np.random.default_rng(0)
    false_x, false_y = rng.uniform(10, 246, (2, 30))
    names = truth.micrographs()
    picks = Picks.build(
        np.concatenate([truth.micrograph, np.repeat(names, 15)]),
        np.concatenate([truth.x_orig_px + rng.normal(0, 1, len(truth)), false_x]),
        np.concatenate([truth.y_orig_px + rng.normal(0, 1, len(truth)), false_y]),
        np.concatenate([rng.normal(3, 1, len(truth)), rng.normal(-3, 1, 30)]),
    )
    write_picks(dataset / "picks.star", picks)
    output = dataset / "out" / "report.html"
    assert main(["report", "--picks", str(dataset / "picks.star"), "--micrographs", str(dataset / "micrographs"),
                 "--reference", str(dataset / "test.txt"), "--particle-radius-orig-px", "10", "-o", str(output),
                 "-q"]) == 0
    return output


def test_report_is_one_self_contained_file(report: Path) -> None:
    page = report.read_text()
    images = re.findall(r'<img src="data:image/png;base64,', page)
    # PR/F1, score histogram, picks per micrograph, the colour bar, and six thumbnails
    assert len(images) == 3 + 1 + 6
    assert "average precision" in page
    assert "best F1 against the reference" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from beside it or a server
    assert not list(report.parent.glob("*.part"))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (`make test` installs it)")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile1'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r'<body data-images-total="(\d+)" data-images-decoded="(\d+)"', dom)
    assert body is not None, dom[:500]
    assert int(body.group(1)) == 10
    assert int(body.group(2)) == 10
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1200,2000",
                    f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape[:2] == (2000, 1200)
    colourful = np.ptp(pixels, axis=2) > 60  # plots and coloured circles, not a blank or grey page
    assert colourful.mean() > 0.005
    assert pixels.std() > 20
