"""Micrographs in (MRC, TIFF, 8/16-bit PNG) and out (float32 MRC), behind two functions."""

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import mrcfile
import numpy as np
import numpy.typing as npt
import tifffile
from mrcfile.dtypes import HEADER_DTYPE
from mrcfile.utils import byte_order_from_machine_stamp, data_dtype_from_header, data_shape_from_header
from PIL import Image

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path
from cryopick.picks import MicrographInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

MICROGRAPH_SUFFIXES = (".mrc", ".tif", ".tiff", ".png")


@dataclass(frozen=True)
class Micrograph:
    """A micrograph read from disk, as float32, with the pixel size its file records."""

    name: str  # file stem: the key coordinate files use
    array: npt.NDArray[np.float32]  # (rows, columns)
    pixel_size_A: float | None  # None where the file does not say
    path: Path


def micrograph_name(path: str | Path) -> str:
    """The name that coordinate files use for the micrograph at ``path``."""
    return Path(path).stem


def _check_mrc_sizes(path: Path) -> None:
    """Refuse an MRC header that promises more data than its file holds.

    Refuse a header that promises more bytes than the file holds, before mrcfile allocates
    them (a corrupt extended-header size would otherwise cost gigabytes and seconds).
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(HEADER_DTYPE.itemsize)
    if len(raw) < HEADER_DTYPE.itemsize:
        raise ValueError(f"file of {size} bytes is shorter than an MRC header")
    header = np.frombuffer(raw, dtype=HEADER_DTYPE).view(np.recarray)[0]
    order = byte_order_from_machine_stamp(header.machst)
    header = np.frombuffer(raw, dtype=HEADER_DTYPE.newbyteorder(order)).view(np.recarray)[0]
    extended = int(header.nsymbt)
    try:
        shape = [int(n) for n in data_shape_from_header(header)]
        itemsize = data_dtype_from_header(header).itemsize
    except ValueError as exc:
        raise ValueError(f"bad header: {exc}") from None
    if extended < 0 or min(shape) < 0:
        raise ValueError("bad header: negative size")
    promised = HEADER_DTYPE.itemsize + extended + int(np.prod(shape, dtype=np.int64)) * itemsize
    if promised > size:
        raise ValueError(f"truncated: the header promises {promised} bytes, the file holds {size}")


#: ``warnings.catch_warnings`` swaps the process-wide filter list, so two threads inside it at once
#: (extract loads micrographs on up to 8) restore each other's filters: a silenced warning escapes
#: (an error under ``-W error`` or the test suite's filterwarnings; NumPy 2.5 deprecates setting
#: ``.dtype``, which mrcfile 1.5 does on every header), or stays silenced after. So one thread at a
#: time parses a header with mrcfile; the data are read outside the lock.
_MRCFILE_WARNINGS = threading.Lock()


@contextlib.contextmanager
def _mrcfile_quietly() -> Iterator[None]:
    """Silence mrcfile's warnings (it warns on odd headers; we check what we use), one thread at a time."""
    with _MRCFILE_WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _read_mrc(path: Path) -> tuple[np.ndarray, float | None]:
    _check_mrc_sizes(path)
    with _mrcfile_quietly(), mrcfile.open(path, permissive=False, mode="r", header_only=True) as mrc:
        header = mrc.header.copy()  # in the file's byte order, as mrcfile read it
        size = float(mrc.voxel_size.x)
    # the data block as mrcfile's own reader takes it (its dtype and shape from the header), in
    # parallel with other threads; _check_mrc_sizes has made sure the file holds all of it
    dtype, shape = data_dtype_from_header(header), data_shape_from_header(header)
    count = int(np.prod(shape, dtype=np.int64))
    data = np.fromfile(path, dtype=dtype, count=count, offset=HEADER_DTYPE.itemsize + int(header.nsymbt))
    return data.reshape(shape), (size if np.isfinite(size) and size > 0 else None)


def _read_tiff(path: Path) -> tuple[np.ndarray, float | None]:
    return tifffile.imread(path), None


def _read_png(path: Path) -> tuple[np.ndarray, float | None]:
    with Image.open(path) as image:
        if image.mode not in ("L", "I;16", "I;16B", "I", "F"):
            raise ValueError(f"PNG mode {image.mode} is not a grey-scale 8- or 16-bit image")
        return np.asarray(image), None


_READERS = {".mrc": _read_mrc, ".tif": _read_tiff, ".tiff": _read_tiff, ".png": _read_png}


def _named_failures(path: Path, reader: Callable[[Path], T], what: str) -> T:
    """Run a reader; an unknown suffix and every failure become an ``InputError`` naming the file."""
    if path.suffix.lower() not in _READERS:
        raise InputError(path, f"unknown micrograph format; use one of {', '.join(MICROGRAPH_SUFFIXES)}")
    try:
        return reader(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except Exception as exc:  # noqa: BLE001 - every reader failure is bad input, named
        raise InputError(path, f"cannot read {what}: {exc}") from None


def read_micrograph(path: str | Path) -> Micrograph:
    """Read one 2-D micrograph as float32; any failure is an ``InputError`` naming the file."""
    path = Path(path)
    data, pixel_size_A = _named_failures(path, _READERS.get(path.suffix.lower(), _read_mrc), "micrograph")
    data = np.squeeze(data)
    if data.ndim != 2:
        raise InputError(path, f"expected a single 2-D image, found shape {tuple(data.shape)}")
    if data.dtype.kind not in "uif":
        raise InputError(path, f"pixel type {data.dtype} is not numeric")
    if min(data.shape) < 8:
        raise InputError(path, f"image of shape {tuple(data.shape)} is too small to pick from")
    array = np.ascontiguousarray(data, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(path, f"{bad} pixels are NaN or infinite")
    return Micrograph(micrograph_name(path), array, pixel_size_A, path)


def _header_shape(path: Path) -> tuple[tuple[int, ...], float | None]:
    suffix = path.suffix.lower()
    if suffix == ".mrc":
        _check_mrc_sizes(path)
        with _mrcfile_quietly(), mrcfile.open(path, header_only=True, permissive=False) as mrc:
            header = mrc.header
            size = float(mrc.voxel_size.x)
            shape = (int(header.nz), int(header.ny), int(header.nx))
            return shape, size if np.isfinite(size) and size > 0 else None
    if suffix in (".tif", ".tiff"):
        with tifffile.TiffFile(path) as tiff:
            return tuple(int(n) for n in tiff.series[0].shape), None
    with Image.open(path) as image:
        return (image.height, image.width), None


def read_micrograph_info(path: str | Path) -> MicrographInfo:
    """A micrograph's path, size and pixel size from its header alone (no pixel data read)."""
    path = Path(path)
    shape, pixel_size_A = _named_failures(path, _header_shape, "micrograph header")
    shape = tuple(n for n in shape if n != 1) or shape
    if len(shape) != 2:
        raise InputError(path, f"expected a single 2-D image, found shape {shape}")
    return MicrographInfo(str(path), (int(shape[0]), int(shape[1])), pixel_size_A)


def micrograph_files(directory: Path) -> list[Path]:
    """The micrographs in a directory, sorted: files with a micrograph suffix, hidden names left out."""
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix.lower() in MICROGRAPH_SUFFIXES and not p.name.startswith("."))


def stable_micrographs(directory: Path, last_seen: dict[Path, tuple[int, int]]) -> list[Path]:
    """Micrographs in ``directory`` that have finished being written.

    Micrographs in ``directory`` whose size and modification time did not change since the
    previous call (recorded in ``last_seen``): a file still being written is left for later.
    """
    ready = []
    for path in micrograph_files(directory):
        status = path.stat()
        key = (status.st_size, status.st_mtime_ns)
        if last_seen.get(path) == key and status.st_size > 0:
            ready.append(path)
        last_seen[path] = key
    return ready


def find_micrographs(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories into a sorted list of micrograph files with unique stems."""
    found: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            in_dir = micrograph_files(item)
            if not in_dir:
                raise InputError(item, f"directory holds no micrographs ({', '.join(MICROGRAPH_SUFFIXES)})")
            found.extend(in_dir)
        elif item.is_file():
            found.append(item)
        else:
            raise InputError(item, "no such file or directory")
    if not found:
        raise InputError(Path("."), "no micrographs given")
    by_name: dict[str, Path] = {}
    for path in found:
        name = micrograph_name(path)
        if name in by_name and by_name[name] != path:
            raise InputError(path, f"has the same name as {by_name[name]}; micrograph names must be unique")
        by_name[name] = path
    return list(by_name.values())


def write_mrc(path: str | Path, array: npt.NDArray[np.float32], *, pixel_size_A: float) -> None:
    """Write a float32 MRC atomically, with the pixel size in the header."""
    with atomic_path(path) as tmp, mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(array, dtype=np.float32))
        mrc.voxel_size = pixel_size_A
