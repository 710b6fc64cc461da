"""Round trips through the other programs' own readers: cryopick -> file -> starfile (RELION) /
cryosparc-tools (cryoSPARC) / the EMAN2 conventions -> cryopick, with identical coordinates."""

import json
from pathlib import Path

import numpy as np
import pytest
import starfile

from cryopick.io.coordinates import read_all_picks, read_picks, write_coordinates, write_picks
from cryopick.picks import MicrographInfo, Picks

dataset_module = pytest.importorskip("cryosparc.dataset", reason="cryosparc-tools is in the test extra")
Dataset = dataset_module.Dataset

INFO = {
    "mic_001": MicrographInfo("MotionCorr/job002/Movies/mic_001.mrc", (4092, 5760), 0.83),
    "mic_002": MicrographInfo("MotionCorr/job002/Movies/mic_002.mrc", (4092, 5760), 0.83),
    "mic_003": MicrographInfo("MotionCorr/job002/Movies/mic_003.mrc", (4092, 5760), 0.83),
}


def _picks(seed: int = 0) -> Picks:
    """Centres on the 0.01 px grid (the precision text formats keep), with scores; mic_003 has none."""
    rng = np.random.default_rng(seed)
    names = ["mic_001"] * 40 + ["mic_002"] * 25
    x = np.round(rng.uniform(50, 5700, len(names)), 2)
    y = np.round(rng.uniform(50, 4040, len(names)), 2)
    return Picks.build(names, x, y, np.round(rng.normal(0, 3, len(names)), 4), info=INFO)


def _same(a: Picks, b: Picks, *, scores: bool = True) -> None:
    order_a = np.lexsort((a.y_orig_px, a.x_orig_px, a.micrograph))
    order_b = np.lexsort((b.y_orig_px, b.x_orig_px, b.micrograph))
    assert a.micrograph[order_a].tolist() == b.micrograph[order_b].tolist()
    np.testing.assert_array_equal(np.round(a.x_orig_px[order_a], 2), np.round(b.x_orig_px[order_b], 2))
    np.testing.assert_array_equal(np.round(a.y_orig_px[order_a], 2), np.round(b.y_orig_px[order_b], 2))
    if scores:
        np.testing.assert_allclose(a.score[order_a], b.score[order_b], atol=5e-5)


def test_relion_autopick_files_and_index(tmp_path: Path) -> None:
    picks = _picks()
    written = write_coordinates(tmp_path / "AutoPick", picks, per_micrograph=True)
    assert [p.name for p in written] == ["mic_001_autopick.star", "mic_002_autopick.star", "mic_003_autopick.star",
                                         "coordinate_files.star"]
    # RELION's view, through starfile: the index maps each micrograph (its RELION path) to its file
    index = starfile.read(tmp_path / "AutoPick" / "coordinate_files.star", always_dict=True)
    assert list(index) == ["coordinate_files"]
    table = index["coordinate_files"]
    assert table["rlnMicrographName"].tolist() == [INFO[n].path for n in ("mic_001", "mic_002", "mic_003")]
    one = starfile.read(table["rlnMicrographCoordinates"][0])
    assert list(one.columns) == ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber",
                                 "rlnAutopickFigureOfMerit", "rlnAnglePsi"]
    mine = picks.for_micrograph("mic_001")
    np.testing.assert_array_equal(one["rlnCoordinateX"].to_numpy(), mine.x_orig_px)
    # back into cryopick: through the index, and from the directory of per-micrograph files
    via_index = read_picks(tmp_path / "AutoPick" / "coordinate_files.star")
    _same(picks, via_index)
    assert via_index.info["mic_002"].path == INFO["mic_002"].path
    _same(picks, read_all_picks([tmp_path / "AutoPick"]))


def test_relion5_particles_star_with_optics_and_paths(tmp_path: Path) -> None:
    picks = _picks()
    optics = {"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnMicrographOriginalPixelSize": [0.83],
              "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
              "rlnImagePixelSize": [1.66], "rlnImageSize": [128], "rlnImageDimensionality": [2]}
    import pandas as pd

    particles = pd.DataFrame({
        "rlnCoordinateX": picks.x_orig_px, "rlnCoordinateY": picks.y_orig_px,
        "rlnImageName": [f"{i:06d}@Extract/job007/Movies/{n}.mrcs" for i, n in enumerate(picks.micrograph, 1)],
        "rlnMicrographName": [INFO[n].path for n in picks.micrograph],
        "rlnOpticsGroup": 1, "rlnOriginXAngst": 0.0, "rlnOriginYAngst": 0.0,
    })
    starfile.write({"optics": pd.DataFrame(optics), "particles": particles}, tmp_path / "particles.star")
    back = read_picks(tmp_path / "particles.star")
    _same(picks, back, scores=False)
    assert back.info["mic_001"].path == "MotionCorr/job002/Movies/mic_001.mrc"


def test_cryosparc_cs_read_by_cryosparc_tools(tmp_path: Path) -> None:
    picks = _picks()
    write_picks(tmp_path / "picks.cs", picks)
    dataset = Dataset.load(tmp_path / "picks.cs")
    assert len(dataset) == len(picks)
    assert len(set(dataset["uid"].tolist())) == len(picks)
    shape = dataset["location/micrograph_shape"]
    np.testing.assert_array_equal(shape, np.tile([4092, 5760], (len(picks), 1)))
    x = dataset["location/center_x_frac"] * shape[:, 1]
    y = dataset["location/center_y_frac"] * shape[:, 0]
    np.testing.assert_array_equal(np.round(x, 2), picks.x_orig_px)
    np.testing.assert_array_equal(np.round(y, 2), picks.y_orig_px)
    assert [p.decode() if isinstance(p, bytes) else p for p in dataset["location/micrograph_path"][:1]] == \
        [INFO["mic_001"].path]
    back = read_picks(tmp_path / "picks.cs")
    _same(picks, back)
    assert back.info["mic_002"].shape_orig_px == (4092, 5760)


def test_cs_written_by_cryosparc_tools_reads_back(tmp_path: Path) -> None:
    """A picker's output as cryoSPARC writes it: imported micrographs carry a uid prefix."""
    picks = _picks(seed=1)
    fields = [("location/micrograph_uid", "<u8"), ("location/exp_group_id", "<u4"),
              ("location/micrograph_path", "O"), ("location/micrograph_shape", "<u4", (2,)),
              ("location/center_x_frac", "<f4"), ("location/center_y_frac", "<f4"),
              ("pick_stats/ncc_score", "<f4"), ("pick_stats/power", "<f4")]
    dataset = Dataset.allocate(len(picks), fields)
    dataset["location/micrograph_path"] = [f"J1/imported/013780937236219374_{n}.mrc" for n in picks.micrograph]
    dataset["location/micrograph_shape"] = np.tile([4092, 5760], (len(picks), 1))
    dataset["location/center_x_frac"] = picks.x_orig_px / 5760
    dataset["location/center_y_frac"] = picks.y_orig_px / 4092
    dataset["pick_stats/ncc_score"] = picks.score
    dataset.save(tmp_path / "picked_particles.cs")
    back = read_picks(tmp_path / "picked_particles.cs")
    _same(picks, back, scores=False)
    np.testing.assert_allclose(back.score, picks.score, atol=1e-5)
    assert back.info["mic_001"].path == "J1/imported/013780937236219374_mic_001.mrc"


def test_eman2_box_follows_the_lower_left_corner_convention(tmp_path: Path) -> None:
    # e2boxer: "x y w h" with (x, y) the corner; the centre is the corner plus half the box
    (tmp_path / "mic_001.box").write_text("1000\t2000\t256\t256\n10\t20\t256\t256\n")
    picks = read_picks(tmp_path / "mic_001.box")
    np.testing.assert_array_equal(picks.x_orig_px, [1128, 138])
    np.testing.assert_array_equal(picks.y_orig_px, [2128, 148])
    write_coordinates(tmp_path / "out", picks, fmt="box", per_micrograph=True, box_size_orig_px=256)
    assert (tmp_path / "out" / "mic_001.box").read_text() == (tmp_path / "mic_001.box").read_text()


def test_eman2_info_json_round_trip_keeps_other_metadata(tmp_path: Path) -> None:
    picks = _picks()
    info_dir = tmp_path / "info"
    info_dir.mkdir()
    existing = {"ctf_frame": [512, {"defocus": 1.2}], "boxes": [[1.0, 2.0, "manual"]]}
    (info_dir / "mic_001_info.json").write_text(json.dumps(existing))
    write_coordinates(info_dir, picks, fmt="eman2", per_micrograph=True)
    document = json.loads((info_dir / "mic_001_info.json").read_text())
    assert document["ctf_frame"] == existing["ctf_frame"]  # EMAN2's own metadata kept
    mine = picks.for_micrograph("mic_001")
    assert document["boxes"][0][:3] == [mine.x_orig_px[0], mine.y_orig_px[0], "manual"]  # centres
    _same(picks, read_all_picks([info_dir]))
    assert json.loads((info_dir / "mic_003_info.json").read_text())["boxes"] == []


@pytest.mark.parametrize("fmt", ["topaz", "csv", "star", "cs"])
def test_every_single_file_format_round_trips(tmp_path: Path, fmt: str) -> None:
    picks = _picks()
    path = write_coordinates(tmp_path / f"picks.{fmt}", picks, fmt=fmt)[0]
    _same(picks, read_picks(path, fmt))
