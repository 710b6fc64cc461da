"""The manifest of a preprocessed directory, so later steps need not ask again.

``preprocess.json``: the geometry and normalisation recorded beside preprocessed micrographs,
so that later steps read the particle size instead of asking for it again.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryopick.config import Geometry
from cryopick.errors import ConfigError, InputError
from cryopick.io._atomic import atomic_write_text
from cryopick.preprocess.normalization import Normalization

MANIFEST_NAME = "preprocess.json"
MANIFEST_FORMAT = "cryopick-preprocess"


@dataclass(frozen=True)
class MicrographRecord:
    """One preprocessed micrograph: its file, its original and both sizes."""

    file: str  # preprocessed MRC, relative to the manifest's directory
    source: str  # the original micrograph, resolved: where later steps read it
    shape_orig_px: tuple[int, int]
    shape_px: tuple[int, int]
    scale: float  # alpha_k of the scaled mixture (1 for affine)
    offset: float = 0.0  # subtracted before scaling (affine normalisation only)
    given_as: str = ""  # the path as the user gave it (RELION's relative name); "" = source


@dataclass(frozen=True)
class PreprocessManifest:
    """What ``preprocess`` wrote: the geometry, the normalisation and each micrograph."""

    geometry: Geometry
    normalization: Normalization
    micrographs: dict[str, MicrographRecord] = field(default_factory=dict)
    version: str = ""

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to preprocess.json."""
        return {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "geometry": self.geometry.to_json(),
            "normalization": self.normalization.to_json(),
            "micrographs": {
                name: {
                    "file": r.file, "source": r.source, "shape_orig_px": list(r.shape_orig_px),
                    "shape_px": list(r.shape_px), "scale": r.scale, "offset": r.offset,
                    "given_as": r.given_as or r.source,
                }
                for name, r in self.micrographs.items()
            },
        }


def write_manifest(directory: str | Path, manifest: PreprocessManifest) -> Path:
    """Write ``directory``'s preprocess.json atomically; returns its path."""
    path = Path(directory) / MANIFEST_NAME
    atomic_write_text(path, json.dumps(manifest.to_json(), indent=2) + "\n")
    return path


def manifest_path(directory: str | Path) -> Path:
    """Where ``directory``'s preprocess.json is."""
    return Path(directory) / MANIFEST_NAME


def read_manifest(directory: str | Path) -> PreprocessManifest:
    """Read and validate ``directory``'s preprocess.json."""
    path = manifest_path(directory)
    if not Path(directory).is_dir():
        raise InputError(directory, "no such directory of preprocessed micrographs")
    if not path.is_file():
        raise InputError(path, "missing: run `cryopick preprocess` on these micrographs first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST_FORMAT:
            raise InputError(path, f"not a cryopick preprocess manifest (format != {MANIFEST_FORMAT!r})")
        geometry = Geometry.from_json(data["geometry"])
        records = {
            str(name): MicrographRecord(
                file=str(r["file"]), source=str(r["source"]),
                shape_orig_px=(int(r["shape_orig_px"][0]), int(r["shape_orig_px"][1])),
                shape_px=(int(r["shape_px"][0]), int(r["shape_px"][1])),
                scale=float(r["scale"]), offset=float(r.get("offset", 0.0)),
                given_as=str(r.get("given_as", r["source"])),
            )
            for name, r in data["micrographs"].items()
        }
        if "normalization" not in data:
            raise InputError(path, "records no normalization: rerun `cryopick preprocess`", field="normalization")
        try:
            normalization = Normalization.from_json(data["normalization"])
        except ValueError as exc:
            raise InputError(path, f"malformed normalization: {exc}", field="normalization") from None
        return PreprocessManifest(geometry, normalization, records, str(data.get("version", "")))
    except InputError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON: {exc}") from None
    except KeyError as exc:
        raise InputError(path, "missing entry", field=str(exc.args[0])) from None
    except (TypeError, ValueError, AttributeError, IndexError, ConfigError) as exc:
        raise InputError(path, f"malformed: {exc}") from None
