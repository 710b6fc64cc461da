"""Topaz's tab-separated ``image_name x_coord y_coord [score]`` (``.txt``, ``.tsv``)."""

from pathlib import Path

from cryopick.io._atomic import atomic_write_text
from cryopick.io._table import format_table, read_table
from cryopick.io.formats._text import read_plain_text
from cryopick.picks import Picks


def read(path: Path) -> Picks:
    """Read a Topaz tab-separated coordinate table."""
    return read_table(path, read_plain_text(path), delimiter="\t")


def write(path: Path, picks: Picks, *, box_size_orig_px: float | None = None) -> None:
    """Write a Topaz tab-separated coordinate table."""
    atomic_write_text(path, format_table(picks, delimiter="\t"))
