"""Read and write cryoSPARC ``.cs`` particle files, safely.

cryoSPARC ``.cs`` particle files: a NumPy ``.npy`` structured array whose fields are named
``group/field``. Picks live in ``location/*``: the micrograph's path and shape (rows, columns),
and the centre as a fraction of the width (x) and height (y); the score in ``pick_stats/*``.
Read without unpickling (``allow_pickle=False``): a ``.cs`` file never runs code.
"""

import hashlib
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cryopick.errors import InputError
from cryopick.picks import MicrographInfo, Picks

REQUIRED_FIELDS = ("location/micrograph_path", "location/micrograph_shape",
                   "location/center_x_frac", "location/center_y_frac")
SCORE_FIELD = "pick_stats/ncc_score"
#: cryoSPARC prefixes imported and derived micrographs with a numeric uid: ``123456789_mic_001.mrc``
_UID_PREFIX = re.compile(r"^\d{6,}_")


def cs_micrograph_name(path: str) -> str:
    return _UID_PREFIX.sub("", Path(path.strip()).stem)


def _check_npy_size(path: Path) -> None:
    """Refuse a header promising more rows than the file holds before NumPy allocates them."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"NumPy format version {version} is not one cryoSPARC writes")
        promised = handle.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if promised > size:
        raise ValueError(f"truncated: the header promises {promised} bytes, the file holds {size}")


def read_cs(path: Path) -> Picks:
    try:
        _check_npy_size(path)
        table = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises many types on bad bytes
        raise InputError(path, f"not a cryoSPARC .cs (NumPy) file: {exc}".splitlines()[0]) from None
    if not isinstance(table, np.ndarray) or table.dtype.names is None or table.ndim != 1:
        raise InputError(path, "not a cryoSPARC .cs file: expected a table of named fields")
    for name in REQUIRED_FIELDS:
        if name not in table.dtype.names:
            raise InputError(path, "has no pick locations", field=name)
    shapes = _as_float64(table, "location/micrograph_shape").reshape(len(table), -1)
    if shapes.shape[1] != 2:
        raise InputError(path, "expected (rows, columns) per micrograph", field="location/micrograph_shape")
    x_frac = _as_float64(table, "location/center_x_frac")
    y_frac = _as_float64(table, "location/center_y_frac")
    for field, values in (("location/center_x_frac", x_frac), ("location/center_y_frac", y_frac),
                          ("location/micrograph_shape", shapes.ravel())):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InputError(path, f"row {bad[0]}: {values[bad[0]]} is not a number", field=field)
    raw_paths = table["location/micrograph_path"]
    paths = [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in raw_paths.tolist()]
    names = [cs_micrograph_name(p) for p in paths]
    score = None
    if SCORE_FIELD in table.dtype.names:
        score = _as_float64(table, SCORE_FIELD)
    pixel_sizes = (_as_float64(table, "location/micrograph_psize_A")
                   if "location/micrograph_psize_A" in table.dtype.names else np.zeros(len(table)))
    info = {}
    for row, name in enumerate(names):
        if name not in info:
            size = float(pixel_sizes[row]) if np.isfinite(pixel_sizes[row]) else 0.0
            info[name] = MicrographInfo(paths[row], (int(shapes[row, 0]), int(shapes[row, 1])),
                                        size if size > 0 else None)
    return Picks.build(names, x_frac * shapes[:, 1], y_frac * shapes[:, 0], score, source=path, info=info)


def _as_float64(table: np.ndarray, field: str) -> npt.NDArray[np.float64]:
    """A field as float64; a damaged file's values that do not convert become NaN, checked by the caller."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(table[field], dtype=np.float64)


def _uid(text: str) -> int:
    """Stable 64-bit uid: the same pick gets the same uid in every run (reruns compare equal)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def cs_table(picks: Picks) -> np.ndarray:
    """The picks as cryoSPARC's pick fields; every micrograph's shape must be known."""
    paths = []
    shapes = np.zeros((len(picks), 2), dtype=np.uint32)
    pixel_sizes = np.zeros(len(picks), dtype=np.float32)
    for name in picks.micrographs():
        record = picks.info.get(name)
        if record is None or record.shape_orig_px is None:
            raise ValueError(f"micrograph {name!r}: its size is unknown, and a .cs file records it")
    for row, name in enumerate(picks.micrograph.tolist()):
        record = picks.info[name]
        assert record.shape_orig_px is not None  # checked above
        paths.append(record.path)
        shapes[row] = record.shape_orig_px
        pixel_sizes[row] = record.pixel_size_A or 0.0
    width = max([len(p.encode()) for p in paths] + [1])
    dtype = [
        ("uid", "<u8"), ("location/micrograph_uid", "<u8"), ("location/exp_group_id", "<u4"),
        ("location/micrograph_path", f"S{width}"), ("location/micrograph_shape", "<u4", (2,)),
        ("location/micrograph_psize_A", "<f4"), ("location/center_x_frac", "<f4"),
        ("location/center_y_frac", "<f4"), (SCORE_FIELD, "<f4"), ("pick_stats/power", "<f4"),
        ("pick_stats/template_idx", "<u4"), ("pick_stats/angle_rad", "<f4"),
    ]
    table = np.zeros(len(picks), dtype=dtype)
    table["uid"] = [_uid(f"{p}:{x:.3f}:{y:.3f}") for p, x, y in zip(paths, picks.x_orig_px, picks.y_orig_px,
                                                                       strict=True)]
    table["location/micrograph_uid"] = [_uid(p) for p in paths]
    table["location/micrograph_path"] = [p.encode() for p in paths]
    table["location/micrograph_shape"] = shapes
    table["location/micrograph_psize_A"] = pixel_sizes
    table["location/center_x_frac"] = picks.x_orig_px / np.maximum(shapes[:, 1], 1)
    table["location/center_y_frac"] = picks.y_orig_px / np.maximum(shapes[:, 0], 1)
    table[SCORE_FIELD] = np.nan_to_num(picks.score, nan=0.0)
    return table


def write_cs(path: Path, picks: Picks) -> None:
    table = cs_table(picks)
    with path.open("wb") as handle:
        np.save(handle, table, allow_pickle=False)
