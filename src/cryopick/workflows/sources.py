"""Where the micrographs come from, answered once for every step.

Where the micrographs come from, answered once for every step: a directory written by
`cryopick preprocess` (its manifest lists the working-pixel files, the originals and their
sizes) or raw micrograph files and directories. Also what the programs downstream call each
micrograph (its path as given, its original size) and the geometry a model or manifest records.
"""

from dataclasses import dataclass
from pathlib import Path

from cryopick.config import Geometry
from cryopick.errors import ConfigError, InputError
from cryopick.io.manifest import PreprocessManifest, manifest_path, read_manifest
from cryopick.io.micrographs import find_micrographs, micrograph_name, read_micrograph_info
from cryopick.io.model_files import load_model
from cryopick.picks import MicrographInfo


@dataclass(frozen=True)
class MicrographSource:
    """One micrograph: the file a step reads, and the original it stands for."""

    name: str
    path: Path  # the file to read: the preprocessed MRC (working pixels) or the raw micrograph
    preprocessed: bool
    original: Path  # the original micrograph (the same file as ``path`` when raw)
    info: MicrographInfo | None = None  # known from a manifest; None: in the raw file's header

    @classmethod
    def raw(cls, path: Path) -> "MicrographSource":
        """A raw micrograph file as its own source."""
        return cls(micrograph_name(path), path, False, path)


@dataclass(frozen=True)
class MicrographSources:
    """The micrographs of a run, and the manifest when they are a preprocessed directory."""

    micrographs: list[MicrographSource]
    manifest: PreprocessManifest | None = None
    directory: Path | None = None  # the preprocessed directory

    @property
    def names(self) -> list[str]:
        """The micrographs' names, in order."""
        return [source.name for source in self.micrographs]


def is_preprocessed(inputs: list[Path]) -> bool:
    """One directory holding a preprocess.json."""
    return len(inputs) == 1 and Path(inputs[0]).is_dir() and manifest_path(inputs[0]).is_file()


def find_micrograph_sources(inputs: list[Path]) -> MicrographSources:
    """The micrographs to process, from a preprocessed directory or raw files.

    A preprocessed directory's micrographs (sorted by name), or the raw micrographs in
    ``inputs`` (files as given, directories expanded; see ``find_micrographs``).
    """
    if is_preprocessed(inputs):
        directory = Path(inputs[0])
        manifest = read_manifest(directory)
        pixel_size_A = manifest.geometry.pixel_size_A
        return MicrographSources([
            MicrographSource(name, directory / record.file, True, Path(record.source),
                             MicrographInfo(record.given_as or record.source, record.shape_orig_px, pixel_size_A))
            for name, record in sorted(manifest.micrographs.items())], manifest, directory)
    return MicrographSources([MicrographSource.raw(path) for path in find_micrographs(inputs)])


def micrograph_infos(sources: list[MicrographSource]) -> dict[str, MicrographInfo]:
    """From the manifest (the originals as given to `preprocess`), or from raw micrographs' headers."""
    return {source.name: source.info or read_micrograph_info(source.path) for source in sources}


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
