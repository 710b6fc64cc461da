"""Trained models as ``weights.safetensors`` + ``model.json``. Loading never unpickles: a model
file cannot run code, and a file that is a pickle is refused before anything reads it."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file, save_file

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_path, atomic_write_text

WEIGHTS_NAME = "weights.safetensors"
CONFIG_NAME = "model.json"
MODEL_FORMAT = "cryopick-model"

_PICKLE_OR_ZIP = (b"\x80", b"PK\x03\x04", b"(dp", b"(lp", b"}q", b"cnumpy", b"ccopy_reg")


def save_model(directory: str | Path, tensors: dict[str, npt.NDArray[Any]], config: dict[str, Any]) -> Path:
    """Write weights first, the JSON last: a directory without ``model.json`` is incomplete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(t, order="C") for name, t in tensors.items()}  # keeps 0-d shapes
    record = dict(config)
    record["format"] = MODEL_FORMAT
    record["tensors"] = {name: list(a.shape) for name, a in arrays.items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(arrays, str(tmp))
    atomic_write_text(directory / CONFIG_NAME, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return directory


def _model_paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / CONFIG_NAME, path / WEIGHTS_NAME
    if path.name == CONFIG_NAME:
        return path, path.with_name(WEIGHTS_NAME)
    if path.suffix in (".sav", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"):
        raise InputError(path, "is a pickled (PyTorch/Topaz) model; cryopick loads only its own "
                               "safetensors + model.json directories and never unpickles")
    raise InputError(path, f"expected a model directory holding {CONFIG_NAME} and {WEIGHTS_NAME}")


def load_model(path: str | Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Return ``(tensors, config)``; anything malformed is an ``InputError`` naming the file."""
    config_path, weights_path = _model_paths(Path(path))
    for required in (config_path, weights_path):
        if not required.is_file():
            raise InputError(required, "missing: not a complete cryopick model directory")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(config_path, f"not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise InputError(config_path, f"not a cryopick model description (format != {MODEL_FORMAT!r})")
    with weights_path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(_PICKLE_OR_ZIP):
        raise InputError(weights_path, "is a pickle or zip archive, not safetensors; refusing to load it")
    try:
        tensors = load_file(str(weights_path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise InputError(weights_path, f"not a valid safetensors file: {exc}") from None
    expected = config.get("tensors")
    if not isinstance(expected, dict):
        raise InputError(config_path, "no tensor list", field="tensors")
    found = {name: list(array.shape) for name, array in tensors.items()}
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        changed = sorted(n for n in set(found) & set(expected) if found[n] != expected[n])
        raise InputError(
            weights_path,
            f"tensors do not match {config_path.name} (missing {missing[:3]}, unexpected {extra[:3]}, "
            f"reshaped {changed[:3]})",
        )
    return tensors, config
