"""Arbitrary bytes and mutated valid files: every reader either parses or raises the project's
InputError naming the file. Never another exception, never a hang."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryopick.io.coordinates import read_picks, write_picks
from cryopick.io.micrographs import read_micrograph, write_mrc
from cryopick.picks import MicrographInfo, Picks

SUFFIXES = [".txt", ".csv", ".star", ".box", "_info.json", ".cs"]
FORMAT_CHARACTERS = "\t ,\n\r#_-.0123456789eEinfNa:data_loop_rlnCoordinateXYMicrographName{}[]\"boxes"


def _valid_coordinates(suffix: str, tmp: Path) -> bytes:
    info = {name: MicrographInfo(f"mics/{name}.mrc", (64, 80)) for name in ("m1", "m2")}
    picks = Picks.build(["m1", "m1", "m2"], [10.5, 20, 30], [5, 6.25, 7], [0.5, 1.5, -2], info=info)
    path = tmp / f"valid{suffix}"
    if suffix in (".box", "_info.json"):
        write_picks(path, picks.for_micrograph("m1"), box_size_orig_px=32)
    else:
        write_picks(path, picks)
    return path.read_bytes()


def _valid_mrc(tmp: Path) -> bytes:
    write_mrc(tmp / "valid.mrc", np.arange(32 * 32, dtype=np.float32).reshape(32, 32), pixel_size_A=1.5)
    return (tmp / "valid.mrc").read_bytes()


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    mutable = bytearray(data)
    for position, value in edits:
        if mutable:
            mutable[position % len(mutable)] = value
    return bytes(mutable[:cut] if cut is not None else mutable)


@pytest.mark.parametrize(("reader", "suffix"), [(read_picks, suffix) for suffix in SUFFIXES]
                         + [(read_micrograph, suffix) for suffix in (".mrc", ".tif", ".png")])
@given(data=st.binary(max_size=3000))
def test_readers_on_arbitrary_bytes(tmp_path: Path, parses_or_refuses, reader, suffix: str, data: bytes) -> None:
    path = tmp_path / f"hostile{suffix}"
    path.write_bytes(data)
    parses_or_refuses(reader, path)


@pytest.mark.parametrize("suffix", SUFFIXES)
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 400)))
def test_coordinate_readers_on_mutated_files(tmp_path: Path, parses_or_refuses, suffix: str, edits, cut) -> None:
    path = tmp_path / f"mutated{suffix}"
    path.write_bytes(_mutate(_valid_coordinates(suffix, tmp_path), edits, cut))
    parses_or_refuses(read_picks, path)


def test_a_cs_file_whose_pixel_size_field_no_longer_converts_is_read_or_refused(tmp_path: Path,
                                                                               parses_or_refuses) -> None:
    """Found by the fuzzing below: one byte of the header retypes a field, whose cast then warned."""
    path = tmp_path / "mutated.cs"
    path.write_bytes(_mutate(_valid_coordinates(".cs", tmp_path), [(8, 213)], None))
    parses_or_refuses(read_picks, path)


@pytest.mark.parametrize("suffix", SUFFIXES)
@given(text=st.text(alphabet=st.sampled_from(list(FORMAT_CHARACTERS)), max_size=300))
def test_coordinate_readers_on_format_like_text(tmp_path: Path, parses_or_refuses, suffix: str, text: str) -> None:
    path = tmp_path / f"texty{suffix}"
    path.write_text(text)
    parses_or_refuses(read_picks, path)


@given(edits=st.lists(st.tuples(st.integers(0, 1100), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 5000)))
def test_micrograph_reader_on_mutated_mrc(tmp_path: Path, parses_or_refuses, edits, cut) -> None:
    path = tmp_path / "mutated.mrc"
    path.write_bytes(_mutate(_valid_mrc(tmp_path), edits, cut))
    parses_or_refuses(read_micrograph, path)
