import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from cryopick.errors import InputError
from cryopick.io.model_files import load_model, save_model


def test_round_trip(tmp_path: Path) -> None:
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(3, dtype=np.int64)}
    save_model(tmp_path / "m", tensors, {"geometry": {"a": 1}})
    back, config = load_model(tmp_path / "m")
    np.testing.assert_array_equal(back["w"], tensors["w"])
    assert config["geometry"] == {"a": 1}
    assert config["tensors"] == {"w": [2, 3], "n": []}


class _Planted:
    """Unpickling this would create a file: the test checks it never happens."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_a_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    save_model(directory, {"w": np.zeros(2, np.float32)}, {})
    marker = tmp_path / "pwned"
    (directory / "weights.safetensors").write_bytes(pickle.dumps(_Planted(str(marker))))
    with pytest.raises(InputError, match="pickle"):
        load_model(directory)
    assert not marker.exists()
    legacy = tmp_path / "model_epoch10.sav"
    legacy.write_bytes(pickle.dumps(_Planted(str(marker))))
    with pytest.raises(InputError, match="never unpickles"):
        load_model(legacy)
    assert not marker.exists()


def test_json_that_does_not_match_the_tensors(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    save_model(directory, {"w": np.zeros((2, 3), np.float32)}, {})
    config = json.loads((directory / "model.json").read_text())
    config["tensors"]["w"] = [3, 2]
    (directory / "model.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="reshaped"):
        load_model(directory)
    (directory / "model.json").write_text("{not json")
    with pytest.raises(InputError, match=r"model\.json: not valid JSON"):
        load_model(directory)
    (directory / "model.json").unlink()
    with pytest.raises(InputError, match="missing"):
        load_model(directory)
