from pathlib import Path

import numpy as np
import pytest
import starfile

from cryopick.errors import InputError
from cryopick.io.coordinates import (
    coordinate_files,
    read_all_picks,
    read_picks,
    write_picks,
    write_picks_per_micrograph,
)
from cryopick.picks import Picks

DATA = Path(__file__).parent.parent / "data"


def _sample() -> Picks:
    return Picks.build(["a", "a", "b"], [10.5, 200.25, 31.0], [20.0, 40.75, 99.5], [1.5, -0.25, 3.0])


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".star"])
def test_write_read_round_trip(tmp_path: Path, suffix: str) -> None:
    picks = _sample()
    path = write_picks(tmp_path / f"picks{suffix}", picks)
    back = read_picks(path)
    assert back.micrograph.tolist() == picks.micrograph.tolist()
    np.testing.assert_allclose(back.x_orig_px, picks.x_orig_px, atol=0.01)
    np.testing.assert_allclose(back.y_orig_px, picks.y_orig_px, atol=0.01)
    np.testing.assert_allclose(back.score, picks.score, atol=1e-4)


def test_box_round_trip_per_micrograph(tmp_path: Path) -> None:
    picks = Picks.build(["a", "a", "b"], [100, 200, 31], [20, 40, 99], [1, 2, 3])
    paths = write_picks_per_micrograph(tmp_path, picks, ["a", "b", "c"], "box", box_size_orig_px=64)
    assert [p.name for p in paths] == ["a.box", "b.box", "c.box"]
    assert (tmp_path / "a.box").read_text().splitlines()[0].split("\t") == ["68", "-12", "64", "64"]
    back = read_picks(tmp_path / "a.box")
    assert back.micrograph.tolist() == ["a", "a"]
    np.testing.assert_allclose(back.x_orig_px, [100, 200])
    assert len(read_picks(tmp_path / "c.box")) == 0


def test_star_written_is_readable_by_starfile(tmp_path: Path) -> None:
    path = write_picks(tmp_path / "p.star", _sample())
    table = starfile.read(path)
    assert list(table.columns) == ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY",
                                   "rlnAutopickFigureOfMerit"]
    assert table["rlnMicrographName"].tolist() == ["a.mrc", "a.mrc", "b.mrc"]


def test_relion31_star_with_optics_block() -> None:
    picks = read_picks(DATA / "relion31_particles.star")
    assert picks.micrograph.tolist() == ["mic_001", "mic_001", "mic_002"]
    np.testing.assert_allclose(picks.x_orig_px, [1024.5, 300.0, 12.25])
    assert np.isnan(picks.score).all()


def test_relion_per_micrograph_autopick_star_takes_name_from_file(tmp_path: Path) -> None:
    path = tmp_path / "mic_007_autopick.star"
    path.write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n"
                    "_rlnAutopickFigureOfMerit #3\n10.0 20.0 0.5\n30.0 40.0 0.7\n")
    picks = read_picks(path)
    assert picks.micrograph.tolist() == ["mic_007", "mic_007"]
    np.testing.assert_allclose(picks.score, [0.5, 0.7])


def test_topaz_table_reads_columns_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("x_coord\timage_name\ty_coord\n5\tm1\t6\n")
    picks = read_picks(path)
    assert picks.micrograph.tolist() == ["m1"]
    assert picks.x_orig_px[0] == 5
    assert picks.y_orig_px[0] == 6
    assert picks.source_line is not None
    assert picks.source_line.tolist() == [2]


@pytest.mark.parametrize(("name", "content", "pattern"), [
    ("bad.txt", "image_name\tx_coord\ty_coord\nm\t1\t2\nm\tone\t2\n", r"bad\.txt:3: field x_coord"),
    ("cols.txt", "image_name\tx_coord\nm\t1\n", r"cols\.txt:1: header has no column 'y_coord'"),
    ("fields.csv", "image_name,x_coord,y_coord\nm,1\n", r"fields\.csv:2: expected 3 fields"),
    ("empty.txt", "", r"empty\.txt: file is empty"),
    ("inf.txt", "image_name\tx_coord\ty_coord\nm\tinf\t2\n", r"inf\.txt:2: field x_coord"),
    ("noname.txt", "image_name\tx_coord\ty_coord\n\t1\t2\n", r"noname\.txt:2"),
    ("bad.box", "1 2 64 64\n1 2 64\n", r"bad\.box:2: expected x y width height"),
    ("zero.box", "1 2 0 64\n", r"zero\.box:1: invalid box"),
    ("nocoord.star", "data_\nloop_\n_rlnMicrographName #1\nmic.mrc\n", r"nocoord\.star.*rlnCoordinateX"),
    ("badnum.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 x\n", r"badnum\.star.*rlnCoordinateY"),
])
def test_bad_coordinate_files_name_file_and_line(tmp_path: Path, name: str, content: str, pattern: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=pattern):
        read_picks(path)


def test_binary_and_missing_and_unknown_suffix(tmp_path: Path) -> None:
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match=r"b\.txt: not a text file"):
        read_picks(binary)
    with pytest.raises(InputError, match=r"missing\.star: no such file"):
        read_picks(tmp_path / "missing.star")
    with pytest.raises(InputError, match=r"p\.xyz: cannot tell the coordinate format"):
        read_picks(tmp_path / "p.xyz")
    (tmp_path / "p.xyz").write_text("image_name,x_coord,y_coord\nm,1,2\n")
    assert len(read_picks(tmp_path / "p.xyz", "csv")) == 1


def test_header_only_file_is_zero_picks(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_text("image_name\tx_coord\ty_coord\n")
    assert len(read_picks(path)) == 0


def test_a_directory_of_picks_leaves_out_the_estimate_files(tmp_path: Path) -> None:
    (tmp_path / "mic1.txt").write_text("image_name\tx_coord\ty_coord\tscore\nmic1\t10\t20\t1.5\n")
    (tmp_path / "estimate.json").write_text("{}")
    (tmp_path / "old.star.estimate.json").write_text("{}")
    assert coordinate_files([tmp_path]) == [tmp_path / "mic1.txt"]
    assert len(read_all_picks([tmp_path])) == 1
