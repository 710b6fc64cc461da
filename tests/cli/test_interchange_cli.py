"""`convert`, `threshold`, `particles` through the CLI, on files a user would have."""

from pathlib import Path

import mrcfile
import numpy as np
import pytest
import starfile

from cryopick import __version__
from cryopick.cli.main import main
from cryopick.io.coordinates import read_all_picks, read_picks, write_picks
from cryopick.picks import Picks


def _scored(dataset: Path) -> Path:
    """The training labels with made-up scores, as `extract` would write them."""
    labels = read_picks(dataset / "train.txt")
    scored = Picks.build(labels.micrograph, labels.x_orig_px, labels.y_orig_px,
                         np.round(np.linspace(-5, 5, len(labels)), 4))
    return write_picks(dataset / "scored.txt", scored)


def test_convert_between_pixel_sizes_and_to_cryosparc(synthetic_dataset, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = synthetic_dataset()
    picks = _scored(dataset)
    # binned coordinates -> the originals: 4 A/px picks scaled onto 2 A/px micrographs doubles them
    assert main(["convert", "--picks", str(picks), "-o", str(dataset / "x2.star"), "--from-pixel-size-A", "4",
                 "--to-pixel-size-A", "2", "-q"]) == 0
    doubled = read_picks(dataset / "x2.star")
    np.testing.assert_allclose(doubled.x_orig_px, 2 * read_picks(picks).x_orig_px, atol=0.01)
    # .cs records micrograph sizes: refused without them, in one line naming the output
    capsys.readouterr()
    assert main(["convert", "--picks", str(picks), "-o", str(dataset / "p.cs"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "p.cs" in err
    assert "--micrographs" in err
    assert not (dataset / "p.cs").exists()
    assert main(["convert", "--picks", str(picks), "-o", str(dataset / "p.cs"), "--micrographs",
                 str(dataset / "micrographs"), "-q"]) == 0
    back = read_picks(dataset / "p.cs")
    assert back.info["mic00"].shape_orig_px == (256, 256)
    assert back.info["mic00"].path == str(dataset / "micrographs" / "mic00.mrc")
    # and on to RELION per-micrograph files, keeping the micrograph paths from the .cs
    assert main(["convert", "--picks", str(dataset / "p.cs"),
                 "-o", str(dataset / "relion"), "--per-micrograph", "-q"]) == 0
    index = starfile.read(dataset / "relion" / "coordinate_files.star")
    assert index["rlnMicrographName"].tolist()[0] == str(dataset / "micrographs" / "mic00.mrc")
    original = read_picks(picks)
    again = read_all_picks([dataset / "relion" / "coordinate_files.star"])
    np.testing.assert_allclose(np.sort(again.x_orig_px), np.sort(original.x_orig_px), atol=0.01)


def test_box_output_needs_a_box_size(synthetic_dataset, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = synthetic_dataset()
    picks = _scored(dataset)
    capsys.readouterr()
    assert main(["convert", "--picks", str(picks), "-o", str(dataset / "boxes"), "--per-micrograph", "--format", "box",
                 "-q"]) == 2
    assert "--box-size-orig-px" in capsys.readouterr().err
    assert main(["convert", "--picks", str(picks), "-o", str(dataset / "boxes"), "--per-micrograph", "--format", "box",
                 "--box-size-orig-px", "40", "-q"]) == 0
    assert len(list((dataset / "boxes").glob("*.box"))) == 4


def test_threshold_by_score_and_top_k(synthetic_dataset) -> None:
    dataset = synthetic_dataset()
    picks = read_picks(_scored(dataset))
    assert main(["threshold", "--picks", str(dataset / "scored.txt"), "-o", str(dataset / "t.star"), "--threshold", "0",
                 "-q"]) == 0
    kept = read_picks(dataset / "t.star")
    assert len(kept) == int((picks.score >= 0).sum())
    assert kept.score.min() >= 0
    assert main(["threshold", "--picks", str(dataset / "scored.txt"), "-o", str(dataset / "top.txt"), "--top-k", "3",
                 "--threshold", "-4", "-q"]) == 0
    top = read_picks(dataset / "top.txt")
    for name in picks.micrographs():
        mine = picks.for_micrograph(name)
        expected = np.sort(mine.score[mine.score >= -4])[::-1][:3]
        np.testing.assert_allclose(np.sort(top.for_micrograph(name).score)[::-1], expected, atol=1e-4)


def test_threshold_refuses_picks_without_scores(synthetic_dataset, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = synthetic_dataset()
    capsys.readouterr()
    assert main(["threshold", "--picks", str(dataset / "train.txt"),
                 "-o", str(dataset / "t.txt"), "--threshold", "0"]) == 2
    assert "train.txt: these picks carry no scores" in capsys.readouterr().err
    assert not (dataset / "t.txt").exists()


def test_particles_stack_and_star(synthetic_dataset) -> None:
    dataset = synthetic_dataset()
    picks = read_picks(dataset / "train.txt")
    out = dataset / "stack"
    assert main(["particles", "--picks", str(dataset / "train.txt"), "--micrographs", str(dataset / "micrographs"),
                 "--box-size-orig-px", "32", "-o", str(out), "-q"]) == 0
    star = starfile.read(out / "particles.star", always_dict=True)
    optics, particles = star["optics"], star["particles"]
    assert optics["rlnImageSize"].tolist() == [32]
    assert optics["rlnImagePixelSize"].tolist() == [2.0]
    # every box whose square lies inside the 256 px micrograph, none reaching past an edge
    inside = (np.rint(picks.x_orig_px) - 16 >= 0) & (np.rint(picks.x_orig_px) + 16 <= 256) \
        & (np.rint(picks.y_orig_px) - 16 >= 0) & (np.rint(picks.y_orig_px) + 16 <= 256)
    assert len(particles) == int(inside.sum()) > 0
    index, stack_path = particles["rlnImageName"][0].split("@")
    with mrcfile.open(stack_path) as mrc:
        stack = np.asarray(mrc.data)
        assert mrc.is_image_stack()
    assert stack.shape[1:] == (32, 32)
    assert stack.shape[0] == int((particles["rlnImageName"].str.endswith(Path(stack_path).name)).sum())
    # the first box is the micrograph around the pick, normalised and inverted (particles white)
    with mrcfile.open(dataset / "micrographs" / f"{Path(stack_path).stem}.mrc") as mrc:
        micrograph = np.asarray(mrc.data)
    x, y = int(np.rint(particles["rlnCoordinateX"][0])), int(np.rint(particles["rlnCoordinateY"][0]))
    raw = micrograph[y - 16:y + 16, x - 16:x + 16]
    correlation = np.corrcoef(raw.ravel(), stack[int(index) - 1].ravel())[0, 1]
    assert correlation < -0.999
    yy, xx = np.mgrid[:32, :32]
    background = np.hypot(yy - 15.5, xx - 15.5) > 12
    assert abs(stack[0][background].mean()) < 1e-4
    assert abs(stack[0][background].std() - 1) < 1e-3


def test_version_and_run_log(synthetic_dataset, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cryopick {__version__}"
    dataset = synthetic_dataset()
    assert main(["threshold", "--picks", str(_scored(dataset)),
                 "-o", str(dataset / "kept" / "t.txt"), "--top-k", "2"]) == 0
    assert "kept 8 of" in (dataset / "kept" / "run.log").read_text()
    err = capsys.readouterr().err
    assert "kept 8 of" in err  # and on stderr
    assert "\r" not in err  # no progress bar when stderr is not a terminal
