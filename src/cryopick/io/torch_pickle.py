"""Read PyTorch ``torch.save`` files (Topaz's ``.sav`` models) without running them.

A pickle can call any function it names, so this reader never uses ``torch.load`` or the
standard unpickler's imports: ``find_class`` hands out only the few tensor-rebuilding functions
(reimplemented here over numpy) and ``collections.OrderedDict``/``set``; classes of Topaz and of
``torch.nn`` become inert records of their pickled state (no import, no call of their code);
every other global is refused. Both layouts are read: the zip archive of torch >= 1.6
(``NAME/data.pkl`` + ``NAME/data/<key>``, stored uncompressed) and the legacy stream (pickled
header, object, storage keys, then each storage's element count and bytes). Sizes are checked
against the file before anything is allocated.
"""

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cryopick.errors import InputError

#: A picking model is a few MB; anything claiming more is refused before reading it.
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
#: Modules whose classes are recorded as inert data: the model's own layers.
_INERT_MODULES = ("topaz.", "torch.nn.modules.")


class InertObject:
    """A pickled object rebuilt as plain data, without importing its class.

    A pickled object of a class that is never imported: its class path, the arguments it was
    made with and its pickled state (for a module, its ``__dict__``: parameters, children, settings).
    """

    class_path = ""

    def __new__(cls, *args: Any) -> "InertObject":
        """Record the constructor arguments instead of running any constructor."""
        obj = object.__new__(cls)
        obj.args = tuple(args)
        obj.state = None
        return obj

    def __init__(self, *args: Any) -> None:
        self.args = tuple(args)

    def __setstate__(self, state: Any) -> None:  # pickle's BUILD
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.class_path}>"


def _inert_class(module: str, name: str) -> type:
    return type(name, (InertObject,), {"class_path": f"{module}.{name}", "__module__": __name__})


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: npt.NDArray[Any] | None = None  # filled in after the object's pickle (legacy layout)


@dataclass
class _Tensor:
    """A tensor view of a storage, resolved to numpy once the storage's bytes are known."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    resolved: npt.NDArray[Any] | None = field(default=None, repr=False)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *_: Any) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    shape = tuple(int(s) for s in size)
    strides = tuple(int(s) for s in stride)
    offset = int(storage_offset)
    if len(shape) != len(strides) or any(s < 0 for s in shape) or any(s < 0 for s in strides) or offset < 0:
        raise pickle.UnpicklingError(f"a tensor of impossible shape {shape} / stride {strides}")
    if all(shape):
        last = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= storage.numel:
            raise pickle.UnpicklingError(f"a tensor reaching past its storage ({last} >= {storage.numel} elements)")
    return _Tensor(storage, offset, shape, strides)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BufferedIOBase | io.BytesIO, storages: dict[str, _Storage]) -> None:
        super().__init__(stream)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module.startswith(_INERT_MODULES) and name.isidentifier():
            return _inert_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only tensors and Topaz/torch.nn layers)")

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module":
            # the legacy layout names a module's class this way (with its source text, unused)
            if isinstance(pid[1], type) and issubclass(pid[1], InertObject):
                return pid[1]
            raise pickle.UnpicklingError(f"unexpected module class {str(pid[1])[:60]}")
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {str(pid)[:60]}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"malformed storage record {str(pid)[:80]}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def _resolve(value: Any) -> Any:
    """Tensors to numpy arrays, recursively through the containers and inert objects."""
    if isinstance(value, _Tensor):
        if value.resolved is None:
            storage = value.storage
            if storage.data is None:
                raise pickle.UnpicklingError("a storage with no data")
            itemsize = storage.data.itemsize
            value.resolved = np.array(np.lib.stride_tricks.as_strided(
                storage.data[value.offset:], shape=value.size, strides=tuple(s * itemsize for s in value.stride),
                writeable=False))
        return value.resolved
    if isinstance(value, dict):
        resolved = type(value)() if isinstance(value, collections.OrderedDict) else {}
        for key, item in value.items():
            resolved[key] = _resolve(item)
        return resolved
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v) for v in value)
    if isinstance(value, InertObject):
        value.args = tuple(_resolve(a) for a in value.args)
        value.state = _resolve(value.state)
    return value


def _from_zip(path: Path, archive: zipfile.ZipFile) -> Any:
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise InputError(path, f"a zip archive of {len(members)} members is not a model")
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED or member.file_size > MAX_FILE_BYTES or member.flag_bits & 0x61:
            raise InputError(path, f"{member.filename}: compressed, encrypted or oversized member; not a PyTorch "
                                   "save file")
    pickles = [m.filename for m in members if m.filename.endswith("/data.pkl") and m.filename.count("/") == 1]
    if len(pickles) != 1:
        raise InputError(path, "a zip archive without one NAME/data.pkl: not a PyTorch save file")
    root = pickles[0][: -len("data.pkl")]
    storages: dict[str, _Storage] = {}
    obj = _SafeUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
    names = set(archive.namelist())
    for key, storage in storages.items():
        member_name = f"{root}data/{key}"
        if member_name not in names:
            raise InputError(path, f"storage {key} is missing from the archive")
        expected = storage.numel * storage.dtype.itemsize
        if archive.getinfo(member_name).file_size < expected:
            raise InputError(path, f"storage {key} holds fewer bytes than its {storage.numel} elements")
        storage.data = np.frombuffer(archive.read(member_name)[:expected], dtype=storage.dtype.newbyteorder("<"))
    return obj


def _from_legacy(path: Path, stream: io.BufferedIOBase, size: int) -> Any:
    storages: dict[str, _Storage] = {}
    header = _SafeUnpickler(stream, storages)
    if header.load() != _LEGACY_MAGIC or header.load() != _LEGACY_PROTOCOL:
        raise InputError(path, "not a PyTorch save file (no magic number)")
    info = header.load()
    if not isinstance(info, dict) or not info.get("little_endian", True):
        raise InputError(path, "a big-endian PyTorch save file is not supported")
    obj = _SafeUnpickler(stream, storages).load()
    keys = _SafeUnpickler(stream, storages).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise InputError(path, "storage list does not match the tensors")
    for key in map(str, keys):
        storage = storages[key]
        count_bytes = stream.read(8)
        if len(count_bytes) != 8:
            raise InputError(path, f"truncated before storage {key}")
        count = int.from_bytes(count_bytes, "little", signed=True)
        nbytes = count * storage.dtype.itemsize
        if count != storage.numel or nbytes > size - stream.tell():
            raise InputError(path, f"storage {key} claims {count} elements; truncated or corrupt")
        storage.data = np.frombuffer(stream.read(nbytes), dtype=storage.dtype.newbyteorder("<"))
    return obj


def read_torch_file(path: str | Path) -> Any:
    """Load a PyTorch pickle without executing any of its code.

    The object saved in ``path``: tensors as numpy arrays, nn.Module objects as ``InertObject``.
    Anything else, or a malformed file, is an ``InputError`` naming the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise InputError(path, f"{size} bytes is far larger than a picking model; refusing to read it")
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
            handle.seek(0)
            if head == b"PK\x03\x04":
                try:
                    with zipfile.ZipFile(handle) as archive:
                        return _resolve(_from_zip(path, archive))
                except (NotImplementedError, RuntimeError) as exc:  # zipfile's words for features it lacks
                    raise InputError(path, f"cannot read as a PyTorch save file: {exc}") from None
            if head[:1] != b"\x80":
                raise InputError(path, "not a PyTorch save file (neither a zip archive nor a pickle)")
            return _resolve(_from_legacy(path, handle, size))
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, MemoryError, RecursionError) as exc:
        raise InputError(path, f"cannot read as a PyTorch save file: {exc}") from None
    except OSError as exc:  # also a zip member whose header offset points before the file's start
        raise InputError(path, f"cannot read as a PyTorch save file: {exc.strerror or exc}") from None
