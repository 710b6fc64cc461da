"""Coordinates in and out, in every dialect, behind ``read_picks`` and ``write_picks``.

Formats (chosen from the suffix, or named): ``topaz`` (tab-separated ``.txt``/``.tsv``), ``csv``,
``star`` (RELION), ``box`` (EMAN2), ``eman2`` (EMAN2's ``<micrograph>_info.json``) and ``cs``
(cryoSPARC). All convert to and from :class:`cryopick.picks.Picks`. Which formats exist, and
their suffixes, is the registry in :mod:`cryopick.io.formats`; each format's reader and writer is
a module there with one signature, so adding a format adds a module and a registry line.
"""

from collections.abc import Iterable
from pathlib import Path

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path
from cryopick.io._star import INDEX_NAME, write_autopick_star, write_index_star
from cryopick.io.formats import FORMATS, REGISTRY, SUFFIX_FORMAT, adapter
from cryopick.picks import Picks

#: file names of one micrograph's picks, by format, in a per-micrograph output directory
PER_MICROGRAPH_NAME = {f.name: f.per_micrograph_name for f in REGISTRY.values() if f.per_micrograph_name}


def format_of(path: Path, fmt: str | None) -> str:
    """The coordinate format to use: ``fmt`` if given (checked), else the one ``path``'s suffix names."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(path, f"unknown coordinate format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    try:
        return SUFFIX_FORMAT[path.suffix.lower()]
    except KeyError:
        raise InputError(
            path, f"cannot tell the coordinate format from the suffix; name it ({', '.join(FORMATS)})"
        ) from None


def read_picks(path: str | Path, fmt: str | None = None) -> Picks:
    """Read a coordinate file into the canonical table; bad content is an ``InputError``."""
    path = Path(path)
    return adapter(format_of(path, fmt)).read(path)


#: ``extract`` writes the picks' estimated precision beside them, as ``<output>.estimate.json``
#: (``estimate.json`` in a per-micrograph directory): JSON, but never EMAN2 coordinates.
ESTIMATE_SUFFIX = ".estimate.json"
ESTIMATE_NAME = "estimate.json"


def is_estimate_file(path: Path) -> bool:
    """Whether ``path`` is an estimate file ``extract`` wrote, which a directory's picks leave out."""
    return path.name == ESTIMATE_NAME or path.name.endswith(ESTIMATE_SUFFIX)


def coordinate_files(inputs: Iterable[str | Path], fmt: str | None = None) -> list[Path]:
    """The coordinate files that ``paths`` name, directories expanded.

    Files as given; directories (a RELION job's ``Movies/``, an EMAN2 ``info/``) expanded to
    every file with a coordinate suffix except a ``coordinate_files.star`` index, whose files are
    the others (give an index itself to follow it), and the estimate files ``extract`` writes.
    """
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if not item.is_dir():
            files.append(item)
            continue
        suffixes = (REGISTRY[fmt].suffixes[0],) if fmt else tuple(SUFFIX_FORMAT)
        found = sorted(p for p in item.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in suffixes and p.name != INDEX_NAME and not is_estimate_file(p))
        if not found:
            raise InputError(item, f"directory holds no coordinate files ({', '.join(suffixes)})")
        files.extend(found)
    return files


def read_all_picks(inputs: Iterable[str | Path], fmt: str | None = None) -> Picks:
    """Every coordinate file in ``inputs`` (see :func:`coordinate_files`) as one table."""
    parts = [read_picks(path, fmt) for path in coordinate_files(inputs, fmt)]
    return parts[0] if len(parts) == 1 else Picks.concatenate(parts)


def write_picks(
    path: str | Path, picks: Picks, fmt: str | None = None, *, box_size_orig_px: float | None = None
) -> Path:
    """Write one coordinate file atomically.

    ``box`` needs the box size in original pixels,
    ``cs`` each micrograph's size (``picks.info``).
    """
    path = Path(path)
    kind = format_of(path, fmt)
    if REGISTRY[kind].one_micrograph_per_file and len(set(picks.micrograph.tolist())) > 1:
        raise InputError(path, f"an EMAN2 {REGISTRY[kind].suffixes[0]} file holds one micrograph: write one per "
                               "micrograph (--per-micrograph)")
    adapter(kind).write(path, picks, box_size_orig_px=box_size_orig_px)
    return path


def write_picks_per_micrograph(
    directory: str | Path,
    picks: Picks,
    micrographs: list[str],
    fmt: str,
    *,
    box_size_orig_px: float | None = None,
) -> list[Path]:
    """Write one coordinate file per micrograph into ``directory``.

    One file per micrograph, written even when it has no picks. RELION STAR output also gets
    the ``coordinate_files.star`` index that RELION 4/5's Extract and Import jobs read.
    """
    directory = Path(directory)
    if fmt not in PER_MICROGRAPH_NAME:
        raise InputError(directory, f"{fmt} holds every micrograph in one file; write a single file, "
                                    "not one per micrograph")
    written = []
    for name in micrographs:
        target = directory / PER_MICROGRAPH_NAME[fmt].format(_plain_name(directory, name))
        one = picks.for_micrograph(name)
        if fmt == "star":
            with atomic_path(target) as tmp:
                write_autopick_star(tmp, one)
        else:
            adapter(fmt).write(target, one, box_size_orig_px=box_size_orig_px)
        written.append(target)
    if fmt == "star":
        index = directory / INDEX_NAME
        micrograph_paths = [picks.info[n].path if n in picks.info else f"{n}.mrc" for n in micrographs]
        with atomic_path(index) as tmp:
            write_index_star(tmp, micrograph_paths, [str(p) for p in written])
        written.append(index)
    return written


#: RELION's Manual Picking job's per-micrograph file name ("{}" the micrograph's name)
MANUALPICK_NAME = "{}_manualpick.star"


def _plain_name(directory: Path, name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InputError(directory, f"micrograph name {name!r} is not a plain file name; refusing to "
                                    "write outside the output directory")
    return name


def write_manualpick(directory: str | Path, name: str, picks: Picks) -> Path:
    """One micrograph's hand-made labels as RELION's ``<name>_manualpick.star``, atomically.

    Written even when empty, so that removing a micrograph's last label is saved too.
    """
    directory = Path(directory)
    target = directory / MANUALPICK_NAME.format(_plain_name(directory, name))
    with atomic_path(target) as tmp:
        write_autopick_star(tmp, picks)
    return target


def write_coordinate_index(directory: str | Path, files: dict[str, tuple[str, Path]]) -> Path:
    """RELION's ``coordinate_files.star`` in ``directory``, atomically.

    ``files`` maps each micrograph's name to its path as RELION knows it and its coordinate
    file, as RELION 4/5's Extract and Import jobs read them.
    """
    index = Path(directory) / INDEX_NAME
    names = sorted(files)
    with atomic_path(index) as tmp:
        write_index_star(tmp, [files[n][0] for n in names], [str(files[n][1]) for n in names])
    return index


def write_coordinates(
    output: str | Path,
    picks: Picks,
    *,
    fmt: str | None = None,
    per_micrograph: bool = False,
    micrographs: list[str] | None = None,
    box_size_orig_px: float | None = None,
) -> list[Path]:
    """Write picks in any coordinate format, to one file or one per micrograph.

    One file (format from ``fmt`` or the suffix), or with ``per_micrograph`` one file per
    micrograph in the ``output`` directory (``micrographs``: default every one ``picks`` knows).
    """
    if per_micrograph:
        names = picks.known_micrographs() if micrographs is None else micrographs
        return write_picks_per_micrograph(output, picks, names, fmt or "star", box_size_orig_px=box_size_orig_px)
    return [write_picks(output, picks, fmt, box_size_orig_px=box_size_orig_px)]


def describe_output(output: str | Path, fmt: str | None, per_micrograph: bool) -> str:
    """What a write to ``output`` produces, for log messages."""
    if not per_micrograph:
        return str(output)
    return str(Path(output) / PER_MICROGRAPH_NAME.get(fmt or "star", "*").format("*"))
