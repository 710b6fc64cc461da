"""Coordinates in and out, in every dialect, behind ``read_picks`` and ``write_picks``.

Formats (chosen from the suffix, or named): ``topaz`` (tab-separated ``.txt``/``.tsv``), ``csv``,
``star`` (RELION) and ``box`` (EMAN2). All convert to and from :class:`cryopick.picks.Picks`.
"""

from pathlib import Path

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path, atomic_write_text
from cryopick.io._box import format_box, read_box
from cryopick.io._star import read_star, write_star
from cryopick.io._table import format_table, read_table
from cryopick.picks import Picks

FORMATS = ("topaz", "csv", "star", "box")
_SUFFIX_FORMAT = {".txt": "topaz", ".tsv": "topaz", ".csv": "csv", ".star": "star", ".box": "box"}
FORMAT_SUFFIX = {"topaz": ".txt", "csv": ".csv", "star": ".star", "box": ".box"}


def format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(path, f"unknown coordinate format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    try:
        return _SUFFIX_FORMAT[path.suffix.lower()]
    except KeyError:
        raise InputError(
            path, f"cannot tell the coordinate format from the suffix; name it ({', '.join(FORMATS)})"
        ) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a coordinate file") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a text file (byte {exc.start} is not UTF-8)") from None


def read_picks(path: str | Path, fmt: str | None = None) -> Picks:
    """Read a coordinate file into the canonical table; bad content is an ``InputError``."""
    path = Path(path)
    kind = format_of(path, fmt)
    if kind == "star":
        if not path.is_file():
            _read_text(path)  # raises the right InputError
        return read_star(path)
    text = _read_text(path)
    if "\x00" in text:
        raise InputError(path, "not a text file (contains NUL bytes)")
    if kind == "box":
        return read_box(path, text)
    return read_table(path, text, delimiter="\t" if kind == "topaz" else ",")


def write_picks(
    path: str | Path, picks: Picks, fmt: str | None = None, *, box_size_orig_px: float | None = None
) -> Path:
    """Write one coordinate file atomically. ``box`` needs the box size in original pixels."""
    path = Path(path)
    kind = format_of(path, fmt)
    if kind == "star":
        with atomic_path(path) as tmp:
            write_star(tmp, picks)
    elif kind == "box":
        if box_size_orig_px is None:
            raise ValueError("EMAN2 .box output needs box_size_orig_px")
        atomic_write_text(path, format_box(picks, box_size_orig_px=box_size_orig_px))
    else:
        atomic_write_text(path, format_table(picks, delimiter="\t" if kind == "topaz" else ","))
    return path


def write_picks_per_micrograph(
    directory: str | Path,
    picks: Picks,
    micrographs: list[str],
    fmt: str,
    *,
    box_size_orig_px: float | None = None,
) -> list[Path]:
    """One file per micrograph (``<name><suffix>``), written even when it has no picks."""
    directory = Path(directory)
    written = []
    for name in micrographs:
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise InputError(directory, f"micrograph name {name!r} is not a plain file name; refusing to "
                                        "write outside the output directory")
        target = directory / f"{name}{FORMAT_SUFFIX[fmt]}"
        written.append(write_picks(target, picks.for_micrograph(name), fmt, box_size_orig_px=box_size_orig_px))
    return written
