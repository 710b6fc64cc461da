"""What the programs downstream call each micrograph: its path as given and its original size."""

from pathlib import Path

from cryopick.config import Geometry
from cryopick.errors import ConfigError, InputError
from cryopick.io.manifest import manifest_path, read_manifest
from cryopick.io.micrographs import find_micrographs, read_micrograph_info
from cryopick.io.model_files import load_model
from cryopick.picks import MicrographInfo


def is_preprocessed(inputs: list[Path]) -> bool:
    return len(inputs) == 1 and inputs[0].is_dir() and manifest_path(inputs[0]).is_file()


def micrograph_infos(inputs: list[Path]) -> dict[str, MicrographInfo]:
    """From a preprocessed directory's manifest (the originals as given to `preprocess`), or from
    raw micrographs' headers."""
    if is_preprocessed(inputs):
        manifest = read_manifest(inputs[0])
        size = manifest.geometry.pixel_size_A
        return {name: MicrographInfo(record.given_as or record.source, record.shape_orig_px, size)
                for name, record in manifest.micrographs.items()}
    return {path.stem: read_micrograph_info(path) for path in find_micrographs(inputs)}


def recorded_geometry(*, model_dir: Path | None = None, preprocessed_dir: Path | None = None) -> Geometry:
    """The particle size as `train` (model.json) or `preprocess` (preprocess.json) recorded it."""
    if model_dir is not None:
        _, record = load_model(model_dir)
        try:
            return Geometry.from_json(record["geometry"])
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise InputError(model_dir, f"model.json has no usable geometry: {exc}") from None
    if preprocessed_dir is None:
        raise ValueError("recorded_geometry needs a model or a preprocessed directory")
    if not manifest_path(preprocessed_dir).is_file():
        raise InputError(preprocessed_dir, "is not a directory written by `cryopick preprocess` (no preprocess.json)")
    return read_manifest(preprocessed_dir).geometry
