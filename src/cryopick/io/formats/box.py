"""EMAN2 ``.box``: one micrograph per file, box corners and sizes (converted to and from centres)."""

from pathlib import Path

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_write_text
from cryopick.io._eman2 import format_box, read_box
from cryopick.io.formats._text import read_plain_text
from cryopick.picks import Picks


def read(path: Path) -> Picks:
    """Read an EMAN2 ``.box`` file."""
    return read_box(path, read_plain_text(path))


def write(path: Path, picks: Picks, *, box_size_orig_px: float | None = None) -> None:
    """Write an EMAN2 ``.box`` file, which needs the box size."""
    if box_size_orig_px is None:
        raise InputError(path, "an EMAN2 .box file records a box size: give it (--box-size-orig-px)")
    atomic_write_text(path, format_box(picks, box_size_orig_px=box_size_orig_px))
