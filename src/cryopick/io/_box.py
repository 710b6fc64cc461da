"""EMAN2 ``.box``: one micrograph per file, each line ``x_corner y_corner width height``, the
corner being the box's lower-left in EMAN2's terms, i.e. centre minus half the box."""

import math
from pathlib import Path

import numpy as np

from cryopick.errors import InputError
from cryopick.picks import Picks


def read_box(path: Path, text: str) -> Picks:
    xs: list[float] = []
    ys: list[float] = []
    lines: list[int] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 4:
            raise InputError(path, f"expected x y width height, found {len(fields)} fields", line=line_number)
        try:
            x, y, width, height = (float(v) for v in fields[:4])
        except ValueError:
            raise InputError(path, f"non-numeric field in {line.strip()!r}", line=line_number) from None
        if not all(math.isfinite(v) for v in (x, y, width, height)) or width <= 0 or height <= 0:
            raise InputError(path, f"invalid box {line.strip()!r}", line=line_number)
        xs.append(x + width / 2)
        ys.append(y + height / 2)
        lines.append(line_number)
    name = path.stem
    return Picks.build([name] * len(xs), xs, ys, source=path, source_line=np.asarray(lines, dtype=np.int64))


def format_box(picks: Picks, *, box_size_orig_px: float) -> str:
    names = set(picks.micrograph.tolist())
    if len(names) > 1:
        raise ValueError("an EMAN2 .box file holds one micrograph; write one file per micrograph")
    size = int(round(box_size_orig_px))
    half = size / 2
    return "".join(
        f"{int(round(x - half))}\t{int(round(y - half))}\t{size}\t{size}\n"
        for x, y in zip(picks.x_orig_px, picks.y_orig_px, strict=True)
    )
