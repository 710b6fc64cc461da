"""The registry of coordinate formats, light enough for ``--help``.

The coordinate formats: a registry of what each is called, its suffixes and its per-micrograph
file names, importable without loading any reader (the CLI's --help and choices). Each format's
reader and writer live in a module of this package named after it, all with one signature:
``read(path) -> Picks`` and ``write(path, picks, *, box_size_orig_px=None)``
(see :func:`adapter`; ``cryopick.io.coordinates`` is the facade).
"""

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from cryopick.picks import Picks

#: RELION's per-micrograph pick files, as its AutoPick job writes them
PER_MICROGRAPH_STAR_SUFFIX = "_autopick.star"
#: EMAN2's per-micrograph metadata (e2boxer)
INFO_SUFFIX = "_info.json"


@dataclass(frozen=True)
class CoordinateFormat:
    """A coordinate format's name, file suffixes and per-micrograph file name."""

    name: str
    suffixes: tuple[str, ...]  # recognised when reading; the first is written
    help: str
    per_micrograph_name: str | None  # one micrograph's file, "{}" its name; None: one file holds every micrograph
    one_micrograph_per_file: bool = False  # the file has no micrograph column (EMAN2)


REGISTRY: dict[str, CoordinateFormat] = {f.name: f for f in (
    CoordinateFormat("topaz", (".txt", ".tsv"), "topaz (.txt)", "{}.txt"),
    CoordinateFormat("csv", (".csv",), "csv", "{}.csv"),
    CoordinateFormat("star", (".star",), "star (RELION)", "{}" + PER_MICROGRAPH_STAR_SUFFIX),
    CoordinateFormat("box", (".box",), "box (EMAN2, corner + size)", "{}.box", one_micrograph_per_file=True),
    CoordinateFormat("eman2", (".json",), "eman2 (EMAN2 <micrograph>_info.json)", "{}" + INFO_SUFFIX,
                     one_micrograph_per_file=True),
    CoordinateFormat("cs", (".cs",), "cs (cryoSPARC)", None),
)}
FORMATS: tuple[str, ...] = tuple(REGISTRY)
FORMAT_HELP = ", ".join(f.help for f in REGISTRY.values())
#: the format each suffix is read as
SUFFIX_FORMAT: dict[str, str] = {suffix: f.name for f in REGISTRY.values() for suffix in f.suffixes}


class FormatModule(Protocol):
    """What each format's module provides: one reader and one writer signature for every format."""

    def read(self, path: Path) -> "Picks":
        """The picks in the file at ``path``."""

    def write(self, path: Path, picks: "Picks", *, box_size_orig_px: float | None = None) -> None:
        """Write ``picks`` to ``path`` (``box_size_orig_px``: for formats that record a box)."""


def adapter(name: str) -> FormatModule:
    """The module holding format ``name``'s ``read`` and ``write`` (imported on first use)."""
    return cast(FormatModule, importlib.import_module(f"{__name__}.{name}"))
