"""Per-micrograph results that a rerun can trust, so a killed run resumes exactly.

Per-micrograph results that a rerun can trust: ``<name>.npz`` (arrays, no pickles) and,
written after it, ``<name>.json`` recording what made it: the settings' fingerprint (model
weights hash included), the input's content hash (with its size and mtime, so an unchanged file
is not read again to be hashed) and the result file's own hash. A micrograph counts as done only
when both files exist and agree with the current inputs, so a run killed at any instant resumes
without gaps or duplicates.
"""

import hashlib
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path, atomic_write_text
from cryopick.io.model_files import file_sha256

SIDECAR_FORMAT = "cryopick-result"
#: where a step keeps its per-micrograph results, beside its output
RESULTS_DIR = ".cryopick-results"


def fingerprint(parts: dict[str, Any]) -> str:
    """SHA-256 of a JSON-able description (keys sorted): equal descriptions, equal fingerprints."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _stat(path: Path) -> dict[str, Any]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


class ResultStore:
    """Per-micrograph results in one directory, each trusted only while its inputs are unchanged."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.npz", self.directory / f"{name}.json"

    def is_done(self, name: str, settings: str, input_path: Path, *, outputs: Sequence[Path] = ()) -> bool:
        """``outputs``: files the step wrote besides the result, checked against their recorded hashes."""
        data_path, sidecar_path = self._paths(name)
        try:
            sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
            if not (sidecar.get("format") == SIDECAR_FORMAT and sidecar.get("settings") == settings
                    and sidecar.get("sha256") == file_sha256(data_path)):
                return False
            if sidecar.get("outputs", {}) != {str(p): file_sha256(p) for p in outputs}:
                return False
            recorded = sidecar["input"]
            if {k: recorded.get(k) for k in ("size", "mtime_ns")} == _stat(input_path):
                return True
            return bool(recorded.get("sha256") == file_sha256(input_path))  # touched: same content?
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            return False

    def write(self, name: str, settings: str, input_path: Path, arrays: dict[str, npt.NDArray[Any]], *,
              outputs: Sequence[Path] = ()) -> None:
        """Store one micrograph's arrays, then the record of what made them."""
        data_path, sidecar_path = self._paths(name)
        with atomic_path(data_path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub types allow_pickle among **kwds
        sidecar = {"format": SIDECAR_FORMAT, "micrograph": name, "settings": settings,
                   "input": {"path": str(input_path), **_stat(input_path), "sha256": file_sha256(input_path)},
                   "sha256": file_sha256(data_path), "outputs": {str(p): file_sha256(p) for p in outputs}}
        atomic_write_text(sidecar_path, json.dumps(sidecar) + "\n")

    def read(self, name: str) -> dict[str, npt.NDArray[Any]]:
        """The arrays stored for micrograph ``name``."""
        data_path, _ = self._paths(name)
        try:
            with np.load(data_path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise InputError(data_path, f"unreadable saved result ({exc}); delete it to redo the micrograph") from None
