"""The app's project: labels saved as RELION manual-pick files after every change, restored on restart."""

from pathlib import Path

import numpy as np
import pytest
import starfile
from scipy import ndimage

from cryopick.app.images import display_image, view_factor
from cryopick.app.project import LABELS_DIR, STATE_NAME, Project, RequestError, round_dir
from cryopick.app.ranking import pick_entropy_bits, rank_micrographs
from cryopick.errors import InputError
from cryopick.io.coordinates import read_all_picks, write_picks
from cryopick.picks import Picks


def test_every_change_is_on_disk_and_a_restart_restores_it(app_data: Path, tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    picks = Picks.build(["mic02"] * 2, [60.0, 180.0], [60.0, 180.0], [2.0, -1.0])
    write_picks(tmp_path / "picks.star", picks)
    project = Project(app_data / "work", project_dir, picks=[tmp_path / "picks.star"])
    project.add_label("mic00", 10.0, 20.5)
    project.add_label("mic00", 100.0, 120.0)
    project.add_label("mic01", 254.0, 0.0)  # the last pixel centre is inside
    project.remove_label("mic00", 12.0, 22.0)  # the nearest, within a particle radius (10 px)
    project.judge_picks("mic02", accept=False, point=(181.0, 179.0))
    # read back as any other tool would, after each change: no waiting for a clean exit
    saved = read_all_picks([project_dir / LABELS_DIR])
    assert sorted(zip(saved.micrograph.tolist(), saved.x_orig_px.tolist(), saved.y_orig_px.tolist(), strict=True)) \
        == [("mic00", 100.0, 120.0), ("mic01", 254.0, 0.0)]
    index = starfile.read(project_dir / LABELS_DIR / "coordinate_files.star")
    assert sorted(index["rlnMicrographCoordinates"].map(lambda p: Path(p).name)) == [
        "mic00_manualpick.star", "mic01_manualpick.star"]
    assert all(name.endswith(".mrc") for name in index["rlnMicrographName"])  # the originals, as RELION names them
    assert not list(project_dir.rglob("*.part"))

    restarted = Project(app_data / "work", project_dir, labels=[tmp_path / "picks.star"])  # --labels: not re-read
    assert restarted.labels("mic00") == [(100.0, 120.0)]
    assert restarted.labels("mic01") == [(254.0, 0.0)]
    assert restarted.labels("mic02") == []
    assert restarted.n_labels == 2
    # no picks were restored (they came from --picks, not a round), and the rejection is kept
    assert restarted.score_range() is None
    write_picks(round_dir(project_dir, 1) / "picks.star", picks)  # as a training round leaves them
    restarted.set_picks(picks, 1)
    assert restarted.open_picks("mic02").score.tolist() == [2.0]
    again = Project(app_data / "work", project_dir)
    assert again.picks_round == 1
    assert again.open_picks("mic02").score.tolist() == [2.0]  # the round's picks, the rejection still applied


def test_undo_reverts_each_kind_of_change_in_turn(app_data: Path, tmp_path: Path) -> None:
    project = Project(app_data / "work", tmp_path / "project")
    project.set_picks(Picks.build(["mic00"] * 3, [50.0, 120.0, 200.0], [50.0, 120.0, 200.0], [3.0, 1.0, -1.0]), None)
    project.add_label("mic00", 20.0, 200.0)
    assert project.judge_picks("mic00", accept=True, min_score=0.5) == 2
    project.judge_picks("mic00", accept=False, point=(200.0, 200.0))
    project.remove_label("mic00", 20.0, 200.0)
    assert project.open_picks("mic00").score.tolist() == []
    assert sorted(project.labels("mic00")) == [(50.0, 50.0), (120.0, 120.0)]
    assert project.undo().kind == "labels"
    assert (20.0, 200.0) in project.labels("mic00")
    assert project.undo().kind == "rejected"
    assert project.open_picks("mic00").score.tolist() == [-1.0]
    assert project.undo().points == ((50.0, 50.0), (120.0, 120.0))
    assert project.open_picks("mic00").score.tolist() == [3.0, 1.0, -1.0]
    project.undo()
    assert project.n_labels == 0
    with pytest.raises(RequestError, match="nothing to undo"):
        project.undo()
    assert read_all_picks([tmp_path / "project" / LABELS_DIR]).x_orig_px.tolist() == []


def test_labels_given_at_the_start_are_checked_and_saved(app_data: Path, tmp_path: Path) -> None:
    project = Project(app_data / "work", tmp_path / "project", labels=[app_data / "train.txt"])
    truth = read_all_picks([app_data / "train.txt"])
    assert project.n_labels == len(truth)
    assert len(read_all_picks([tmp_path / "project" / LABELS_DIR])) == len(truth)
    write_picks(tmp_path / "outside.txt", Picks.build(["mic00"], [300.0], [10.0]))
    with pytest.raises(InputError, match=r"outside\.txt.*lies outside micrograph 'mic00'"):
        Project(app_data / "work", tmp_path / "other", labels=[tmp_path / "outside.txt"])
    (tmp_path / "project" / STATE_NAME).write_text("{not json")
    with pytest.raises(InputError, match="app_state.json: malformed"):
        Project(app_data / "work", tmp_path / "project")


def test_the_display_keeps_original_pixels_where_they_are() -> None:
    """A bright blob at working pixel (r, c) shows at image pixel (r, c) / view factor: what the
    page's scale (downsampling x view factor) relies on to take a click back to original pixels."""
    rows, cols = np.mgrid[:600, :900]
    image = np.random.default_rng(0).normal(0, 1, (600, 900)) + 30 * np.exp(
        -((rows - 300) ** 2 + (cols - 452) ** 2) / (2 * 8.0**2))
    factor = view_factor(image.shape, view_max_px=256)
    assert factor == 4
    shown = display_image(image.astype(np.float32), factor=factor, particle_radius_px=6)
    assert shown.shape == (150, 225)
    peak = np.unravel_index(np.argmax(ndimage.gaussian_filter(shown.astype(np.float64), 2)), shown.shape)
    assert tuple(int(i) for i in peak) == (300 // 4, 452 // 4)
    assert display_image(np.ones((64, 64), dtype=np.float32), factor=1, particle_radius_px=3).tolist() \
        == np.full((64, 64), 128).tolist()


def test_which_next_puts_the_most_uncertain_micrograph_first() -> None:
    assert pick_entropy_bits([0.0, 50.0, -50.0]).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
    sure = (np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([8.0, -8.0]))
    unsure = (np.array([5.0, 6.0, 7.0]), np.array([5.0, 6.0, 7.0]), np.array([6.0, 0.2, -0.5]))
    order = rank_micrographs(["a", "b"], {"a": 0, "b": 3}, {"a": sure, "b": unsure}, regions=2)
    assert [s.name for s in order] == ["b", "a"]
    assert order[0].regions == [(6.0, 6.0), (7.0, 7.0)]  # the two picks nearest even odds
    assert [s.name for s in rank_micrographs(["a", "b"], {"a": 2, "b": 0}, None)] == ["b", "a"]
