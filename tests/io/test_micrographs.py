import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import tifffile
from PIL import Image

from cryopick.errors import InputError
from cryopick.io.micrographs import find_micrographs, read_micrograph, write_mrc


def test_mrc_round_trip_keeps_pixel_size(tmp_path: Path, rng: np.random.Generator) -> None:
    image = rng.standard_normal((40, 50)).astype(np.float32)
    write_mrc(tmp_path / "m.mrc", image, pixel_size_A=1.34)
    mic = read_micrograph(tmp_path / "m.mrc")
    assert mic.name == "m"
    assert mic.array.shape == (40, 50)
    np.testing.assert_array_equal(mic.array, image)
    assert mic.pixel_size_A == pytest.approx(1.34, rel=1e-5)
    assert not list(tmp_path.glob("*.part"))


def test_mrc_byte_orders_and_integer_modes_read_as_mrcfile_reads_them(tmp_path: Path,
                                                                     rng: np.random.Generator) -> None:
    for name, data in (("big", rng.standard_normal((24, 36)).astype(">f4")),
                       ("int8", rng.integers(-128, 128, (20, 30)).astype(np.int8)),
                       ("uint16", rng.integers(0, 65536, (20, 30)).astype(np.uint16))):
        with mrcfile.new(tmp_path / f"{name}.mrc") as mrc:
            mrc.set_extended_header(np.zeros(96, dtype="V1"))  # the data start past an extended header
            mrc.set_data(data)
            mrc.voxel_size = 1.5
        mic = read_micrograph(tmp_path / f"{name}.mrc")
        with mrcfile.open(tmp_path / f"{name}.mrc") as mrc:
            np.testing.assert_array_equal(mic.array, mrc.data.astype(np.float32), err_msg=name)
        assert mic.array.dtype == np.float32
        assert mic.pixel_size_A == pytest.approx(1.5)


def test_mrc_read_on_threads_keeps_mrcfile_warnings_silenced_and_filters_intact(
        tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """extract loads micrographs on several threads; ``catch_warnings`` is process-wide, so unguarded
    threads restored each other's filters and a silenced warning escaped: with warnings as errors
    (pytest here), reads failed on a 16-core machine with NumPy 2.5, whose deprecation of setting
    ``.dtype`` mrcfile 1.5 trips on every header."""
    image = rng.standard_normal((32, 32)).astype(np.float32)
    write_mrc(tmp_path / "m.mrc", image, pixel_size_A=1.0)
    real_open = mrcfile.open

    def warning_open(*args, **kwargs):  # as mrcfile 1.5 under NumPy 2.5, with time for threads to interleave
        warnings.warn("Setting the dtype on a NumPy array has been deprecated", DeprecationWarning, stacklevel=2)
        time.sleep(0.002)
        mrc = real_open(*args, **kwargs)
        warnings.warn("Setting the dtype on a NumPy array has been deprecated", DeprecationWarning, stacklevel=2)
        return mrc

    monkeypatch.setattr(mrcfile, "open", warning_open)
    filters = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        arrays = list(pool.map(lambda _: read_micrograph(tmp_path / "m.mrc").array, range(64)))
    assert all(np.array_equal(array, image) for array in arrays)
    assert warnings.filters == filters


def test_tiff_and_png_8_and_16_bit(tmp_path: Path) -> None:
    data16 = (np.arange(30 * 20).reshape(30, 20) * 50).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", data16)
    Image.fromarray(data16).save(tmp_path / "p16.png")
    Image.fromarray((data16 // 256).astype(np.uint8)).save(tmp_path / "p8.png")
    np.testing.assert_array_equal(read_micrograph(tmp_path / "t.tif").array, data16)
    np.testing.assert_array_equal(read_micrograph(tmp_path / "p16.png").array, data16)
    assert read_micrograph(tmp_path / "p8.png").array.max() == data16.max() // 256
    assert read_micrograph(tmp_path / "p16.png").pixel_size_A is None


def test_truncated_mrc_is_an_input_error(tmp_path: Path, rng: np.random.Generator) -> None:
    write_mrc(tmp_path / "m.mrc", rng.standard_normal((64, 64)).astype(np.float32), pixel_size_A=1.0)
    data = (tmp_path / "m.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.mrc: cannot read micrograph"):
        read_micrograph(tmp_path / "cut.mrc")


def test_stack_nan_and_tiny_images_are_refused(tmp_path: Path) -> None:
    with mrcfile.new(tmp_path / "stack.mrc") as mrc:
        mrc.set_data(np.zeros((3, 16, 16), dtype=np.float32))
    with pytest.raises(InputError, match=r"stack\.mrc: expected a single 2-D image"):
        read_micrograph(tmp_path / "stack.mrc")
    nan = np.zeros((16, 16), dtype=np.float32)
    nan[3, 4] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        write_mrc(tmp_path / "nan.mrc", nan, pixel_size_A=1)
    with pytest.raises(InputError, match=r"nan\.mrc: 1 pixels are NaN"):
        read_micrograph(tmp_path / "nan.mrc")
    write_mrc(tmp_path / "tiny.mrc", np.zeros((4, 4), dtype=np.float32), pixel_size_A=1)
    with pytest.raises(InputError, match="too small"):
        read_micrograph(tmp_path / "tiny.mrc")


def test_find_micrographs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: directory holds no micrographs"):
        find_micrographs([tmp_path / "empty"])
    with pytest.raises(InputError, match=r"nowhere: no such file or directory"):
        find_micrographs([tmp_path / "nowhere"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        write_mrc(tmp_path / folder / "same.mrc", np.zeros((16, 16), np.float32), pixel_size_A=1)
    with pytest.raises(InputError, match="same name"):
        find_micrographs([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "a" / "notes.txt").write_text("x")
    assert [p.name for p in find_micrographs([tmp_path / "a"])] == ["same.mrc"]
