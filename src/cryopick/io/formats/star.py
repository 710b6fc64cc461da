"""The RELION STAR coordinate format.

RELION STAR files: particles.star (3.0, 3.1 with data_optics, 5), per-micrograph pick files
and the ``coordinate_files.star`` index, whose listed files are read in turn.
"""

from pathlib import Path

from cryopick.io._atomic import atomic_path
from cryopick.io._star import read_star, write_star
from cryopick.io.formats._text import read_text
from cryopick.picks import Picks


def read(path: Path) -> Picks:
    """Read a RELION STAR file, following a ``coordinate_files.star`` index."""
    from cryopick.io.coordinates import read_picks  # an index lists files of any format

    if not path.is_file():
        read_text(path)  # raises the right InputError
    return read_star(path, read_picks)


def write(path: Path, picks: Picks, *, box_size_orig_px: float | None = None) -> None:
    """Write a RELION STAR file."""
    with atomic_path(path) as tmp:
        write_star(tmp, picks)
