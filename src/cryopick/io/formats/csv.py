"""The same columns as Topaz's table, comma-separated (``.csv``)."""

from pathlib import Path

from cryopick.io._atomic import atomic_write_text
from cryopick.io._table import format_table, read_table
from cryopick.io.formats._text import read_plain_text
from cryopick.picks import Picks


def read(path: Path) -> Picks:
    """Read a comma-separated coordinate table."""
    return read_table(path, read_plain_text(path), delimiter=",")


def write(path: Path, picks: Picks, *, box_size_orig_px: float | None = None) -> None:
    """Write a comma-separated coordinate table."""
    atomic_write_text(path, format_table(picks, delimiter=","))
