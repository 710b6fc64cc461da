"""Models shipped inside the package: model directories like any other, found beside the code."""

from importlib import resources
from pathlib import Path

from cryopick.errors import ConfigError

#: ``train --init general``: one resnet8 trained on the training micrographs of every benchmark set
#: (bench/general_detector.py records how), for particles 15-30 working px across.
GENERAL_DETECTOR = "general"
PACKAGED_MODELS: tuple[str, ...] = (GENERAL_DETECTOR,)


def packaged_model_dir(name: str) -> Path:
    """The directory of a model that ships with cryopick (read-only: never write into it)."""
    if name not in PACKAGED_MODELS:
        raise ConfigError(f"no packaged model {name!r}; choose from {', '.join(PACKAGED_MODELS)}")
    directory = Path(str(resources.files("cryopick") / "pretrained" / name))
    if not (directory / "model.json").is_file():
        raise ConfigError(f"the packaged {name} model is missing from {directory}: reinstall cryopick")
    return directory
