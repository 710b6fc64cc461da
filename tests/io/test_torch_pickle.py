"""Topaz/PyTorch .sav files read without running them: both of torch.save's layouts, state dicts and
whole pickled modules (Topaz's classes faked here, as Topaz is never installed for the tests), and
hostile files refused in one line naming the file, with nothing executed."""

import io
import os
import pickle
import struct
import sys
import types
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cryopick.errors import InputError
from cryopick.io.topaz_models import read_topaz_model
from cryopick.io.torch_pickle import InertObject, read_torch_file
from cryopick.models import build_model
from cryopick.models.topaz_layout import TopazConv, TopazResidual

LAYOUTS = {"legacy": False, "zip": True}


def _topaz_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A cryopick topaz-resnet model's weights under Topaz's own names."""
    return {name.replace("encoder.", "features.features.", 1): t for name, t in model.state_dict().items()}


def _save(obj: object, path: Path, layout: str) -> Path:
    with warnings.catch_warnings():  # torch.save looks for the (fake) classes' source code, and warns
        warnings.simplefilter("ignore")
        torch.save(obj, path, _use_new_zipfile_serialization=LAYOUTS[layout])
    return path


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_state_dict_reads_as_the_same_numbers(tmp_path: Path, layout: str) -> None:
    torch.manual_seed(0)
    model = build_model("topaz-resnet8", units=8)
    state = _topaz_state_dict(model)
    state["features.features.0.conv.weight"] = state["features.features.0.conv.weight"].transpose(2, 3)  # a view
    read = read_torch_file(_save(state, tmp_path / "detector.sav", layout))
    assert list(read) == list(state)
    for name, tensor in state.items():
        np.testing.assert_array_equal(read[name], tensor.numpy())


@pytest.fixture
def fake_topaz(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Classes with Topaz's names and module paths, so torch.save pickles modules as `topaz train` does."""
    paths = ["topaz", "topaz.model", "topaz.model.classifier", "topaz.model.features", "topaz.model.features.resnet"]
    modules = {path: types.ModuleType(path) for path in paths}
    for path, module in modules.items():
        monkeypatch.setitem(sys.modules, path, module)

    def define(name: str, module: str, base: type, body: dict) -> type:
        cls = type(name, (base,), dict(body))
        cls.__module__ = module
        setattr(modules[module], name, cls)
        return cls

    resnet = "topaz.model.features.resnet"
    basic = define("BasicConv", resnet, TopazConv, {})
    resid = define("ResidA", resnet, TopazResidual, {})

    def resnet8_init(self, units: int) -> None:
        torch.nn.Module.__init__(self)
        u = [units, 2 * units, 4 * units]
        self.dims = 2
        self.features = torch.nn.Sequential(basic(1, u[0], 7, stride=2), resid(u[0], u[0], u[0], dilation=2),
                                            resid(u[0], u[0], u[1], dilation=2, stride=2),
                                            resid(u[1], u[1], u[1], dilation=2), basic(u[1], u[2], 5))

    resnet8 = define("ResNet8", resnet, torch.nn.Module,
                     {"__init__": resnet8_init, "forward": lambda self, x: self.features(x)})

    def classifier_init(self, features: torch.nn.Module) -> None:
        torch.nn.Module.__init__(self)
        self.features = features
        self.classifier = torch.nn.Conv2d(4 * features.features[0].conv.out_channels, 1, 1)

    linear = define("LinearClassifier", "topaz.model.classifier", torch.nn.Module,
                    {"__init__": classifier_init, "forward": lambda self, x: self.classifier(self.features(x))})
    return types.SimpleNamespace(ResNet8=resnet8, LinearClassifier=linear)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_whole_pickled_topaz_module_imports_without_topaz(tmp_path: Path, fake_topaz, layout: str) -> None:
    torch.manual_seed(1)
    model = fake_topaz.LinearClassifier(fake_topaz.ResNet8(units=8)).eval()
    path = _save(model, tmp_path / "model_epoch3.sav", layout)
    for name in list(sys.modules):  # Topaz is not importable while reading
        if name == "topaz" or name.startswith("topaz."):
            del sys.modules[name]
    read = read_torch_file(path)
    assert isinstance(read, InertObject)
    assert read.class_path == "topaz.model.classifier.LinearClassifier"
    topaz = read_topaz_model(path)
    assert (topaz.architecture, topaz.kind, topaz.options) == ("topaz-resnet8", "whole module",
                                                               {"units": [8, 16, 32], "batch_norm": False})
    ours = build_model(topaz.architecture, **topaz.options).eval()
    ours.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in topaz.tensors.items()}, strict=True)
    crops = torch.randn(2, 1, 80, 80)
    with torch.no_grad():
        np.testing.assert_allclose(ours(crops).numpy(), model(crops).numpy(), rtol=1e-5, atol=1e-5)


class _Planted:
    def __reduce__(self):  # what a malicious file does: call os.system on load
        return (os.system, ("touch PLANTED",))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path, layout: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _save({"features.features.0.conv.weight": torch.zeros(2), "x": _Planted()}, tmp_path / "evil.sav", layout)
    with pytest.raises(InputError, match=r"evil\.sav.*refused to load (posix|os)\.system"):
        read_topaz_model(path)
    assert not (tmp_path / "PLANTED").exists()


def test_unknown_globals_truncation_huge_claims_and_compressed_members_are_refused(tmp_path: Path) -> None:
    good = _save({"features.features.0.conv.weight": torch.arange(6.0)}, tmp_path / "good.sav", "legacy")
    data = good.read_bytes()
    cases = {
        "global.sav": pickle.dumps(np.float64(1.0), protocol=2),  # numpy's reconstructors are not allowed
        "truncated.sav": data[: len(data) - 5],
        "huge.sav": data[:-(8 + 6 * 4)] + struct.pack("<q", 10**12) + data[-6 * 4:],
        "empty.sav": b"",
        "text.sav": b"not a model\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # a zip bomb's shape
        archive.writestr("m/data.pkl", pickle.dumps({}, protocol=2))
        archive.writestr("m/data/0", b"\0" * 100_000)
    cases["deflated.sav"] = buffer.getvalue()
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError) as error:
            read_topaz_model(tmp_path / name)
        assert name in str(error.value)
        assert "\n" not in str(error.value)


def test_other_models_are_refused_with_the_reason(tmp_path: Path) -> None:
    path = _save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.sav", "zip")
    with pytest.raises(InputError, match="not Topaz's ResNet8"):
        read_topaz_model(path)
    path = _save([torch.zeros(3)], tmp_path / "list.sav", "zip")
    with pytest.raises(InputError, match="holds a list"):
        read_topaz_model(path)


@given(layout=st.sampled_from(list(LAYOUTS)), edits=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)),
                                                            max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 3000)))
def test_mutated_model_files_parse_or_are_refused(tmp_path: Path, parses_or_refuses, layout: str, edits, cut) -> None:
    torch.manual_seed(0)
    state = {"features.features.0.conv.weight": torch.randn(2, 1, 3, 3), "classifier.bias": torch.zeros(1)}
    data = bytearray(_save(state, tmp_path / "valid.sav", layout).read_bytes())
    for position, value in edits:
        data[position % len(data)] = value
    path = tmp_path / "mutated.sav"
    path.write_bytes(bytes(data[:cut] if cut is not None else data))
    parses_or_refuses(read_torch_file, path)


def test_a_member_offset_before_the_file_start_is_refused(tmp_path: Path, parses_or_refuses) -> None:
    """The fuzzer's find: one byte in the central directory made zipfile seek to a negative offset (OSError)."""
    torch.manual_seed(0)
    state = {"features.features.0.conv.weight": torch.randn(2, 1, 3, 3), "classifier.bias": torch.zeros(1)}
    data = bytearray(_save(state, tmp_path / "valid.sav", "zip").read_bytes())
    data[3834 % len(data)] = 1
    path = tmp_path / "mutated.sav"
    path.write_bytes(bytes(data))
    parses_or_refuses(read_torch_file, path)
