"""cryoSPARC ``.cs`` particle tables (NumPy structured arrays); writing needs each micrograph's size."""

from pathlib import Path

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path
from cryopick.io._cryosparc import read_cs, write_cs
from cryopick.io.formats._text import read_text
from cryopick.picks import Picks


def read(path: Path) -> Picks:
    """Read a cryoSPARC ``.cs`` file."""
    if not path.is_file():
        read_text(path)  # raises the right InputError
    return read_cs(path)


def write(path: Path, picks: Picks, *, box_size_orig_px: float | None = None) -> None:
    """Write a cryoSPARC ``.cs`` file."""
    try:
        with atomic_path(path) as tmp:
            write_cs(tmp, picks)
    except ValueError as exc:
        raise InputError(path, f"cannot write cryoSPARC picks: {exc}; give the micrographs "
                               "(--micrographs) so their sizes are known") from None
