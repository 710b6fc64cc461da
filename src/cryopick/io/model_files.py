"""Model and checkpoint files that load without unpickling.

Tensors + JSON pairs: trained models (``weights.safetensors`` + ``model.json``) and training
checkpoints. Loading never unpickles: these files cannot run code, and a file that is a pickle is
refused before anything reads it. The JSON is written last and records the weights' SHA-256, so a
JSON beside weights it was not written with (an interrupted overwrite) is detected.
"""

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file, save_file

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

WEIGHTS_NAME = "weights.safetensors"
CONFIG_NAME = "model.json"
MODEL_FORMAT = "cryopick-model"
CHECKPOINT_FORMAT = "cryopick-checkpoint"

_PICKLE_OR_ZIP = (b"\x80", b"PK\x03\x04", b"(dp", b"(lp", b"}q", b"cnumpy", b"ccopy_reg")
_CHECKPOINT = re.compile(r"^epoch-(\d{4,})\.json$")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's contents, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(weights_path: Path, json_path: Path, tensors: dict[str, npt.NDArray[Any]],
                record: dict[str, Any], *, fmt: str) -> None:
    """Write tensors and their JSON record, the JSON last and naming the weights' hash."""
    arrays = {name: np.asarray(t, order="C") for name, t in tensors.items()}  # keeps 0-d shapes
    record = dict(record)
    record["format"] = fmt
    record["tensors"] = {name: list(a.shape) for name, a in arrays.items()}
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights_path) as tmp:
        save_file(arrays, str(tmp))
    record["weights_sha256"] = file_sha256(weights_path)
    atomic_write_text(json_path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def load_bundle(weights_path: Path, json_path: Path, *, fmt: str) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Tensors and JSON record of a bundle, refusing pickles and weights the JSON was not written with."""
    for required in (json_path, weights_path):
        if not required.is_file():
            raise InputError(required, "missing: not a complete cryopick model directory")
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(json_path, f"not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != fmt:
        raise InputError(json_path, f"not a {fmt} description (format != {fmt!r})")
    with weights_path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(_PICKLE_OR_ZIP):
        raise InputError(weights_path, "is a pickle or zip archive, not safetensors; refusing to load it")
    expected_hash = record.get("weights_sha256")
    if expected_hash is not None and expected_hash != file_sha256(weights_path):
        raise InputError(weights_path, f"does not match {json_path.name} (SHA-256 differs): incomplete or "
                                       "modified; retrain or restore both files together")
    try:
        tensors = load_file(str(weights_path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise InputError(weights_path, f"not a valid safetensors file: {exc}") from None
    expected = record.get("tensors")
    if not isinstance(expected, dict):
        raise InputError(json_path, "no tensor list", field="tensors")
    found = {name: list(array.shape) for name, array in tensors.items()}
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        changed = sorted(n for n in set(found) & set(expected) if found[n] != expected[n])
        raise InputError(
            weights_path,
            f"tensors do not match {json_path.name} (missing {missing[:3]}, unexpected {extra[:3]}, "
            f"reshaped {changed[:3]})",
        )
    return tensors, record


def save_model(directory: str | Path, tensors: dict[str, npt.NDArray[Any]], config: dict[str, Any]) -> Path:
    """Weights first, the JSON last: a directory without ``model.json`` is incomplete."""
    directory = Path(directory)
    save_bundle(directory / WEIGHTS_NAME, directory / CONFIG_NAME, tensors, config, fmt=MODEL_FORMAT)
    return directory


def model_files(path: str | Path) -> tuple[Path, Path]:
    """Locate a model's JSON and weights, refusing what cannot be loaded safely.

    ``(model.json, weights.safetensors)`` of a model directory, or of its ``model.json`` given
    directly; a pickled model or a missing path is an ``InputError`` saying what to do.
    """
    path = Path(path)
    if path.is_dir():
        return path / CONFIG_NAME, path / WEIGHTS_NAME
    if path.name == CONFIG_NAME:
        return path, path.with_name(WEIGHTS_NAME)
    if path.suffix in (".sav", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"):
        raise InputError(path, "is a pickled (PyTorch/Topaz) model; cryopick loads only its own "
                               "safetensors + model.json directories and never unpickles (a Topaz model: "
                               "`cryopick import-model` reads it without running it)")
    if not path.exists():
        raise InputError(path, "no such model directory")
    raise InputError(path, f"expected a model directory holding {CONFIG_NAME} and {WEIGHTS_NAME}")


def load_model(path: str | Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Return ``(tensors, config)``; anything malformed is an ``InputError`` naming the file."""
    config_path, weights_path = model_files(path)
    return load_bundle(weights_path, config_path, fmt=MODEL_FORMAT)


def save_checkpoint(directory: str | Path, epoch: int, tensors: dict[str, npt.NDArray[Any]],
                    record: dict[str, Any], *, keep: int = 1) -> None:
    """``epoch-NNNN.safetensors`` then ``epoch-NNNN.json`` (the commit); older ones are pruned."""
    directory = Path(directory)
    stem = f"epoch-{epoch:04d}"
    save_bundle(directory / f"{stem}.safetensors", directory / f"{stem}.json", tensors, record, fmt=CHECKPOINT_FORMAT)
    committed = sorted(int(m.group(1)) for p in directory.iterdir() if (m := _CHECKPOINT.match(p.name)))
    for old in committed[:-keep]:
        for suffix in (".json", ".safetensors"):
            (directory / f"epoch-{old:04d}{suffix}").unlink(missing_ok=True)


def load_latest_checkpoint(directory: str | Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]] | None:
    """The newest complete checkpoint, or None; incomplete or corrupt ones are skipped with a warning."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    epochs = sorted((int(m.group(1)) for p in directory.iterdir() if (m := _CHECKPOINT.match(p.name))), reverse=True)
    for epoch in epochs:
        stem = directory / f"epoch-{epoch:04d}"
        try:
            return load_bundle(stem.with_suffix(".safetensors"), stem.with_suffix(".json"), fmt=CHECKPOINT_FORMAT)
        except InputError as exc:
            log.warning("skipping checkpoint: %s", exc)
    return None
