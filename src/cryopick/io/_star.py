"""Read and write RELION STAR coordinates, every version RELION uses.

RELION STAR coordinates through ``starfile``: 3.0 (one block), 3.1+/4/5 ``particles.star``
(``data_optics`` beside ``data_particles``), per-micrograph ``*_autopick.star``/``*_manualpick.star``
(no micrograph column), and the ``coordinate_files.star`` index RELION 4/5 pass between jobs
(``rlnMicrographName`` -> ``rlnMicrographCoordinates``), which a read follows.

Coordinates are read as picked (``rlnCoordinateX/Y``); refinement offsets (``rlnOriginXAngst``)
are not applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# pandas and starfile are imported where used: they cost 0.4 s of every process start, and
# `extract` writing text picks needs neither.
if TYPE_CHECKING:
    import pandas as pd

from cryopick.errors import InputError
from cryopick.picks import MicrographInfo, Picks

#: suffixes RELION appends to a micrograph's stem in per-micrograph coordinate files
_PER_MICROGRAPH_SUFFIX = re.compile(r"_(autopick|manualpick|pick|coords?)$")
INDEX_NAME = "coordinate_files.star"
INDEX_COLUMN = "rlnMicrographCoordinates"


def micrograph_stem(name: str) -> str:
    """``MotionCorr/job002/mic_001.mrc`` -> ``mic_001``: the key coordinate files match on."""
    return Path(str(name).strip()).stem


def _blocks(path: Path) -> dict[str, Any]:
    import starfile
    try:
        blocks: dict[str, Any] = starfile.read(path, always_dict=True)
        return blocks
    except Exception as exc:  # noqa: BLE001 - starfile raises many types on bad input
        raise InputError(path, f"cannot parse STAR file: {exc}".splitlines()[0]) from None


def read_star(path: Path, read_other: Callable[[Path], Picks] | None = None) -> Picks:
    """``read_other`` reads the files an index names (so that they may be in any format)."""
    import pandas as pd
    blocks = _blocks(path)
    tables = [(name, block) for name, block in blocks.items() if isinstance(block, pd.DataFrame)]
    for name, table in tables:
        if INDEX_COLUMN in table.columns and "rlnMicrographName" in table.columns:
            return _read_index(path, name, table, read_other or read_star)
    tables = [(name, table) for name, table in tables if "rlnCoordinateX" in table.columns]
    if not tables:
        if not blocks:
            raise InputError(path, "STAR file has no data blocks")
        raise InputError(path, "no data block with rlnCoordinateX", field="rlnCoordinateX")
    name, table = tables[-1]
    coords = {}
    for column in ("rlnCoordinateX", "rlnCoordinateY"):
        if column not in table.columns:
            raise InputError(path, f"block data_{name} has no {column}", field=column)
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InputError(
                path, f"row {bad[0] + 1} of data_{name}: {table[column].iloc[bad[0]]!r} is not a number",
                field=column,
            )
        coords[column] = values
    info = {}
    if "rlnMicrographName" in table.columns:
        full_names = table["rlnMicrographName"].astype(str).str.strip().tolist()
        names = [micrograph_stem(n) for n in full_names]
        info = {stem: MicrographInfo(full) for stem, full in zip(names, full_names, strict=True)}
    else:
        names = [_PER_MICROGRAPH_SUFFIX.sub("", path.stem)] * len(table)
    score = None
    if "rlnAutopickFigureOfMerit" in table.columns:
        score = pd.to_numeric(table["rlnAutopickFigureOfMerit"], errors="coerce").to_numpy(dtype=np.float64)
    return Picks.build(names, coords["rlnCoordinateX"], coords["rlnCoordinateY"], score, source=path,
                       info=info)


def _resolve(listed: str, index: Path) -> Path:
    """Find a coordinate file named by a RELION index.

    RELION writes paths relative to its project directory: try that (the working directory),
    then the index's own directory and its parents.
    """
    candidate = Path(listed)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    for base in (index.parent, *index.parent.parents):
        if (base / candidate).exists():
            return base / candidate
    return candidate


def _read_index(path: Path, block: str, table: pd.DataFrame, read_other: Callable[[Path], Picks]) -> Picks:
    parts = []
    for row, (micrograph, coordinates) in enumerate(
            zip(table["rlnMicrographName"].astype(str), table[INDEX_COLUMN].astype(str), strict=True), start=1):
        if not coordinates.strip() or coordinates.strip() == "None":
            continue
        listed = _resolve(coordinates.strip(), path)
        if not listed.is_file():
            raise InputError(path, f"row {row} of data_{block}: coordinate file {coordinates!r} not found",
                             field=INDEX_COLUMN)
        picks = read_other(listed)
        stem = micrograph_stem(micrograph)
        parts.append(Picks.build([stem] * len(picks), picks.x_orig_px, picks.y_orig_px, picks.score,
                                 info={stem: MicrographInfo(micrograph.strip())}))
    return Picks.concatenate(parts)


def _micrograph_path(picks: Picks, name: str) -> str:
    record = picks.info.get(name)
    return record.path if record is not None else f"{name}.mrc"


def write_star(path: Path, picks: Picks) -> None:
    """One ``data_particles`` block with each micrograph's path as the picks' source named it."""
    import pandas as pd
    import starfile
    table = pd.DataFrame({
        "rlnMicrographName": [_micrograph_path(picks, name) for name in picks.micrograph.tolist()],
        "rlnCoordinateX": np.round(picks.x_orig_px, 2),
        "rlnCoordinateY": np.round(picks.y_orig_px, 2),
    })
    if picks.has_scores:
        table["rlnAutopickFigureOfMerit"] = np.round(picks.score, 4)
    starfile.write({"particles": table}, path, overwrite=True)


def write_autopick_star(path: Path, picks: Picks) -> None:
    """One micrograph's picks as RELION's autopicker writes them (no micrograph column)."""
    import pandas as pd
    import starfile
    table = pd.DataFrame({
        "rlnCoordinateX": np.round(picks.x_orig_px, 2),
        "rlnCoordinateY": np.round(picks.y_orig_px, 2),
        "rlnClassNumber": np.zeros(len(picks), dtype=int),
        "rlnAutopickFigureOfMerit": np.round(np.nan_to_num(picks.score, nan=0.0), 4),
        "rlnAnglePsi": np.full(len(picks), -999.0),
    })
    starfile.write({"": table}, path, overwrite=True)


def write_index_star(path: Path, micrograph_paths: list[str], coordinate_paths: list[str]) -> None:
    import pandas as pd
    import starfile
    table = pd.DataFrame({"rlnMicrographName": micrograph_paths, INDEX_COLUMN: coordinate_paths})
    starfile.write({"coordinate_files": table}, path, overwrite=True)
