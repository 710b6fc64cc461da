"""Read and write Topaz-style delimited coordinate tables.

Delimited coordinate tables: Topaz's tab-separated ``image_name x_coord y_coord [score]``
and the same columns as CSV. The header names the columns; their order is free.
"""

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cryopick.errors import InputError
from cryopick.picks import Picks

if TYPE_CHECKING:
    import _csv

NAME_COLUMNS = ("image_name", "micrograph")
X_COLUMNS = ("x_coord", "x")
Y_COLUMNS = ("y_coord", "y")
SCORE_COLUMNS = ("score",)


def _column(header: list[str], names: tuple[str, ...], path: Path, *, required: bool) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    if required:
        raise InputError(path, f"header has no column {names[0]!r} (found {', '.join(header)})", line=1)
    return None


def read_table(path: Path, text: str, *, delimiter: str) -> Picks:
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _parse_rows(path, rows)
    except csv.Error as exc:
        raise InputError(path, f"malformed table: {exc}", line=rows.line_num) from None


def _parse_rows(path: Path, rows: "_csv.Reader") -> Picks:
    header = next(rows, None)
    if header is None:
        raise InputError(path, "file is empty: expected a header line image_name, x_coord, y_coord")
    i_name = _column(header, NAME_COLUMNS, path, required=True)
    i_x = _column(header, X_COLUMNS, path, required=True)
    i_y = _column(header, Y_COLUMNS, path, required=True)
    i_score = _column(header, SCORE_COLUMNS, path, required=False)
    assert i_name is not None
    assert i_x is not None
    assert i_y is not None
    names: list[str] = []
    xs: list[float] = []
    ys: list[float] = []
    scores: list[float] = []
    lines: list[int] = []
    for row in rows:
        line = rows.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(path, f"expected {len(header)} fields, found {len(row)}", line=line)
        values = []
        for column, index in (("x_coord", i_x), ("y_coord", i_y), ("score", i_score)):
            if index is None:
                values.append(math.nan)
                continue
            try:
                value = float(row[index])
            except ValueError:
                raise InputError(path, f"{row[index]!r} is not a number", line=line, field=column) from None
            if not math.isfinite(value) and column != "score":
                raise InputError(path, f"{row[index]!r} is not a finite number", line=line, field=column)
            values.append(value)
        name = row[i_name].strip()
        if not name:
            raise InputError(path, "empty micrograph name", line=line, field=header[i_name])
        names.append(name)
        xs.append(values[0])
        ys.append(values[1])
        scores.append(values[2])
        lines.append(line)
    return Picks.build(names, xs, ys, scores, source=path, source_line=np.asarray(lines, dtype=np.int64))


def format_table(picks: Picks, *, delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    with_score = picks.has_scores
    writer.writerow(["image_name", "x_coord", "y_coord"] + (["score"] if with_score else []))
    for i in range(len(picks)):
        row = [str(picks.micrograph[i]), f"{picks.x_orig_px[i]:.2f}", f"{picks.y_orig_px[i]:.2f}"]
        if with_score:
            row.append(f"{picks.score[i]:.4f}")
        writer.writerow(row)
    return out.getvalue()
