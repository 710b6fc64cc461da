"""Read and write EMAN2 coordinates (``.box`` and ``_info.json``).

EMAN2 coordinates. ``.box``: one micrograph per file, each line ``x_corner y_corner width
height``, the corner being the box's lower-left in EMAN2's terms, i.e. centre minus half the box.
``<micrograph>_info.json`` (e2boxer's per-micrograph metadata): ``"boxes": [[x, y, mode, ...]]``
with box *centres*; the file holds other metadata too (CTF, ...), which a write keeps.
"""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from cryopick.errors import InputError
from cryopick.io.formats import INFO_SUFFIX
from cryopick.picks import Picks

#: e2boxer's box mode for hand-picked boxes; it draws and exports every mode alike
BOX_MODE = "manual"


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


def _one_micrograph(picks: Picks, what: str) -> None:
    if len(set(picks.micrograph.tolist())) > 1:
        raise ValueError(f"an EMAN2 {what} file holds one micrograph; write one file per micrograph")


def format_box(picks: Picks, *, box_size_orig_px: float) -> str:
    _one_micrograph(picks, ".box")
    size = int(round(box_size_orig_px))
    half = size / 2
    return "".join(
        f"{int(round(x - half))}\t{int(round(y - half))}\t{size}\t{size}\n"
        for x, y in zip(picks.x_orig_px, picks.y_orig_px, strict=True)
    )


def info_micrograph_name(path: Path) -> str:
    name = path.name
    return name[: -len(INFO_SUFFIX)] if name.endswith(INFO_SUFFIX) else path.stem


def read_info_json(path: Path, text: str) -> Picks:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(document, dict):
        raise InputError(path, "expected a JSON object (EMAN2 micrograph info)")
    boxes = document.get("boxes", [])
    if not isinstance(boxes, list):
        raise InputError(path, "'boxes' is not a list", field="boxes")
    xs, ys, scores = [], [], []
    for index, box in enumerate(boxes):
        if not isinstance(box, list) or len(box) < 2:
            raise InputError(path, f"box {index} is not a list [x, y, mode, ...]", field="boxes")
        try:
            x, y = float(box[0]), float(box[1])
        except (TypeError, ValueError):
            raise InputError(path, f"box {index}: {box[:2]!r} are not numbers", field="boxes") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InputError(path, f"box {index}: {box[:2]!r} are not finite", field="boxes")
        score = box[3] if len(box) > 3 and isinstance(box[3], int | float) else math.nan
        xs.append(x)
        ys.append(y)
        scores.append(float(score))
    name = info_micrograph_name(path)
    return Picks.build([name] * len(xs), xs, ys, scores, source=path)


def format_info_json(picks: Picks, existing: dict[str, Any] | None = None) -> str:
    """The EMAN2 info document for ``picks``, keeping its other metadata.

    The info document with ``boxes`` replaced; ``existing`` keeps EMAN2's other metadata.
    A score, when there is one, rides as a 4th element, which e2boxer ignores.
    """
    _one_micrograph(picks, "_info.json")
    document = dict(existing or {})
    with_score = picks.has_scores
    document["boxes"] = [
        [round(float(x), 2), round(float(y), 2), BOX_MODE] + ([round(float(s), 4)] if with_score else [])
        for x, y, s in zip(picks.x_orig_px, picks.y_orig_px, picks.score, strict=True)
    ]
    return json.dumps(document, indent=1) + "\n"
