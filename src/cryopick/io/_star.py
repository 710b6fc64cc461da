"""RELION STAR coordinates through ``starfile``: 3.0 (one block), 3.1+ (``data_optics`` beside
the particles) and per-micrograph autopick/manualpick files (no micrograph column)."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from cryopick.errors import InputError
from cryopick.picks import Picks

#: suffixes RELION appends to a micrograph's stem in per-micrograph coordinate files
_PER_MICROGRAPH_SUFFIX = re.compile(r"_(autopick|manualpick|pick|coords?)$")


def micrograph_stem(name: str) -> str:
    """``MotionCorr/job002/mic_001.mrc`` -> ``mic_001``: the key coordinate files match on."""
    return Path(str(name).strip()).stem


def read_star(path: Path) -> Picks:
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as exc:  # noqa: BLE001 - starfile raises many types on bad input
        raise InputError(path, f"cannot parse STAR file: {exc}") from None
    tables = [
        (name, block) for name, block in blocks.items()
        if isinstance(block, pd.DataFrame) and "rlnCoordinateX" in block.columns
    ]
    if not tables:
        if not blocks:
            raise InputError(path, "STAR file has no data blocks")
        raise InputError(path, "no data block with rlnCoordinateX", field="rlnCoordinateX")
    name, table = tables[-1]
    for column in ("rlnCoordinateX", "rlnCoordinateY"):
        if column not in table.columns:
            raise InputError(path, f"block data_{name} has no {column}", field=column)
    coords = {}
    for column in ("rlnCoordinateX", "rlnCoordinateY"):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InputError(
                path, f"row {bad[0] + 1} of data_{name}: {table[column].iloc[bad[0]]!r} is not a number",
                field=column,
            )
        coords[column] = values
    if "rlnMicrographName" in table.columns:
        names = [micrograph_stem(n) for n in table["rlnMicrographName"].astype(str)]
    else:
        names = [_PER_MICROGRAPH_SUFFIX.sub("", path.stem)] * len(table)
    score = None
    if "rlnAutopickFigureOfMerit" in table.columns:
        score = pd.to_numeric(table["rlnAutopickFigureOfMerit"], errors="coerce").to_numpy(dtype=np.float64)
    return Picks.build(names, coords["rlnCoordinateX"], coords["rlnCoordinateY"], score, source=path)


def write_star(path: Path, picks: Picks) -> None:
    """One ``data_particles`` block; RELION reads micrographs as MRC, so names get ``.mrc``."""
    table = pd.DataFrame({
        "rlnMicrographName": [f"{name}.mrc" for name in picks.micrograph],
        "rlnCoordinateX": np.round(picks.x_orig_px, 2),
        "rlnCoordinateY": np.round(picks.y_orig_px, 2),
    })
    if picks.has_scores:
        table["rlnAutopickFigureOfMerit"] = np.round(picks.score, 4)
    starfile.write({"particles": table}, path, overwrite=True)
