"""Every Topaz picking layout, pickled whole as `topaz train` saves it (Topaz's classes faked here,
as Topaz is never installed for the tests), imports and scores as Topaz's own arithmetic does:
the convolution stacks conv31/63/127 with max, average or no pooling, the residual nets with max
pooling and dropout, batch norm or not. Layers that differ from Topaz's are refused by name."""

import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cryopick.config import Geometry
from cryopick.errors import InputError
from cryopick.extract.scoring import score_micrographs
from cryopick.io.topaz_models import read_topaz_model
from cryopick.models.topaz_layout import TopazConv, TopazResidual
from cryopick.workflows.import_model import run_import_model
from cryopick.workflows.modelio import load_picker

GEOMETRY = Geometry(particle_diameter_A=40.0, pixel_size_A=2.0, downsample_factor=1)
KERNELS = {"conv31": [7, 5, 5], "conv63": [7, 5, 5, 5], "conv127": [7, 5, 5, 5, 5]}


@pytest.fixture
def topaz(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Builders of Topaz-like modules under Topaz's module paths (so torch.save pickles them as Topaz's)."""
    paths = ["topaz", "topaz.model", "topaz.model.classifier", "topaz.model.features", "topaz.model.features.basic",
             "topaz.model.features.resnet"]
    modules = {path: types.ModuleType(path) for path in paths}
    for path, module in modules.items():
        monkeypatch.setitem(sys.modules, path, module)

    def define(name: str, module: str, base: type, body: dict) -> type:
        cls = type(name, (base,), {"forward": lambda self, x: self.features(x), **body})
        cls.__module__ = module
        setattr(modules[module], name, cls)
        return cls

    def holder_init(self, layers: list[nn.Module]) -> None:
        nn.Module.__init__(self)
        self.dims = 2
        self.features = nn.Sequential(*layers)

    stack = define("BasicConv", "topaz.model.features.basic", nn.Module, {"__init__": holder_init})
    resnets = {name: define(name, "topaz.model.features.resnet", nn.Module, {"__init__": holder_init})
               for name in ("ResNet8", "ResNet16")}
    resnet = "topaz.model.features.resnet"
    basic = define("BasicConv", resnet, TopazConv, {"forward": TopazConv.forward})

    def resid_init(self, c_in: int, c_hidden: int, c_out: int, *, dilation: int = 1, stride: int = 1,
                   batch_norm: bool = False) -> None:
        TopazResidual.__init__(self, c_in, c_hidden, c_out, dilation=dilation, stride=stride, batch_norm=batch_norm)
        if self.proj is not None:  # Topaz strides its projection (cryopick subsamples before it instead)
            self.proj.stride = (stride, stride)

    def resid_forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act0(self.bn0(self.conv0(x)) if self.bn0 is not None else self.conv0(x))
        y = self.conv1(h)
        edge = self.conv0.dilation[0] + self.conv1.dilation[0]
        x = x[:, :, edge:-edge, edge:-edge]
        step = self.conv1.stride[0]
        y = y + (self.proj(x) if self.proj is not None else x[..., ::step, ::step])
        return self.act1(self.bn1(y) if self.bn1 is not None else y)

    resid = define("ResidA", resnet, TopazResidual, {"__init__": resid_init, "forward": resid_forward})

    def pool_init(self) -> None:
        nn.Module.__init__(self)
        self.pool = nn.MaxPool2d(3, stride=2)

    max_pool = define("MaxPool", resnet, nn.Module, {"__init__": pool_init, "forward": lambda self, x: self.pool(x)})

    def classifier_init(self, features: nn.Module, latent: int) -> None:
        nn.Module.__init__(self)
        self.features = features
        self.dims = 2
        self.classifier = nn.Conv2d(latent, 1, 1)

    linear = define("LinearClassifier", "topaz.model.classifier", nn.Module,
                    {"__init__": classifier_init, "forward": lambda self, x: self.classifier(self.features(x))})

    def conv_stack(name: str, units: int, bn: bool, pooling: str | None, dropout: float = 0.0) -> nn.Module:
        """Topaz's convolution stack as its paper and help describe it (PReLU, pools padded by 1)."""
        layers: list[nn.Module] = []
        c_in, sizes = 1, KERNELS[name]
        for index, kernel in enumerate(sizes):
            c_out = units * 2 ** index
            last = index == len(sizes) - 1
            layers.append(nn.Conv2d(c_in, c_out, kernel, stride=1 if last or pooling else 2, bias=not bn))
            layers += [nn.BatchNorm2d(c_out)] if bn else []
            layers.append(nn.PReLU())
            if not last and pooling:
                layers.append((nn.MaxPool2d if pooling == "max" else nn.AvgPool2d)(3, stride=2, padding=1))
            layers += [nn.Dropout(dropout)] if dropout else []
            c_in = c_out
        return linear(stack(layers), c_in)

    def residual_net(name: str, units: int, bn: bool, pooling: str | None, dropout: float = 0.0) -> nn.Module:
        u0, u1, u2 = units, 2 * units, 4 * units
        s = 1 if pooling else 2
        halve = ([max_pool()] if pooling else []) + ([nn.Dropout(dropout)] if dropout else [])
        if name == "resnet8":
            layers = [basic(1, u0, 7, stride=s, batch_norm=bn), *halve,
                      resid(u0, u0, u0, dilation=2, batch_norm=bn),
                      resid(u0, u0, u1, dilation=2, stride=s, batch_norm=bn),
                      *halve, resid(u1, u1, u1, dilation=2, batch_norm=bn), basic(u1, u2, 5, batch_norm=bn)]
        else:
            layers = [basic(1, u0, 7, batch_norm=bn), resid(u0, u0, u0, stride=s, batch_norm=bn), *halve,
                      *[resid(u0, u0, u0, batch_norm=bn) for _ in range(3)], resid(u0, u0, u1, stride=s, batch_norm=bn),
                      *halve, resid(u1, u1, u1, batch_norm=bn), resid(u1, u1, u1, batch_norm=bn),
                      basic(u1, u2, 5, batch_norm=bn)]
        layers += [nn.Dropout(dropout)] if dropout else []
        return linear(resnets["ResNet8" if name == "resnet8" else "ResNet16"](layers), u2)

    return types.SimpleNamespace(conv_stack=conv_stack, residual_net=residual_net)


def _randomised(model: nn.Module, seed: int) -> nn.Module:
    """Weights and batch-norm statistics away from their defaults, so every one of them matters."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point:
                spread = torch.randn_like(tensor) * 0.5
                tensor.copy_((1 + spread).abs() if name.endswith(("running_var", "bn.weight", "0.weight")) and
                             tensor.ndim == 1 else spread)
    return model.eval()


def _save_and_forget_topaz(model: nn.Module, path: Path, zipped: bool) -> Path:
    with warnings.catch_warnings():  # torch.save looks for the (fake) classes' source code, and warns
        warnings.simplefilter("ignore")
        torch.save(model, path, _use_new_zipfile_serialization=zipped)
    for name in list(sys.modules):  # Topaz is not importable while reading
        if name == "topaz" or name.startswith("topaz."):
            del sys.modules[name]
    return path


def _topaz_width(layers: list[nn.Module]) -> int:
    """The input width giving one output (Topaz's receptive field), worked backwards through the stack."""
    size = 1
    for layer in reversed(layers):
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            kernel = layer.kernel_size[0] if isinstance(layer.kernel_size, tuple) else layer.kernel_size
            stride = layer.stride[0] if isinstance(layer.stride, tuple) else layer.stride
            padding = layer.padding[0] if isinstance(layer.padding, tuple) else layer.padding
            size = (size - 1) * stride + kernel - 2 * padding
    return size


def _topaz_stack_scores(model: nn.Module, image: np.ndarray) -> np.ndarray:
    """A convolution stack scored over a whole image the way Topaz scores it, in plain torch ops.

    Zero padding of half the width; each later layer dilated by the strides before it; a max pool
    keeps its padding of 1 whatever its dilation, an average pool is not dilated at all (its
    stride is just dropped).
    """
    layers = list(model.features.features)
    x = F.pad(torch.from_numpy(image)[None, None], (_topaz_width(layers) // 2,) * 4)
    jump = 1
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.Conv2d):
                x = F.conv2d(x, layer.weight, layer.bias, dilation=jump)
                jump *= layer.stride[0]
            elif isinstance(layer, nn.BatchNorm2d):
                x = F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias, eps=layer.eps)
            elif isinstance(layer, nn.PReLU):
                x = F.prelu(x, layer.weight)
            elif isinstance(layer, nn.MaxPool2d):
                x = F.max_pool2d(x, 3, stride=1, padding=1, dilation=jump)
                jump *= 2
            elif isinstance(layer, nn.AvgPool2d):
                x = F.avg_pool2d(x, 3, stride=1, padding=1)
                jump *= 2
        return F.conv2d(x, model.classifier.weight, model.classifier.bias)[0, 0].numpy()


def _import(tmp_path: Path, model: nn.Module, zipped: bool) -> tuple[torch.nn.Module, Path]:
    path = _save_and_forget_topaz(model, tmp_path / "model_epoch1.sav", zipped)
    run_import_model(path, tmp_path / "imported", geometry=GEOMETRY, command=["test"])
    return load_picker(tmp_path / "imported")[0], path


# each layout in one of torch.save's two file layouts (both are read the same way; see test_torch_pickle.py)
STACKS = [("conv31", False, None, False), ("conv31", True, "max", True), ("conv63", False, "max", False),
          ("conv63", True, "avg", True), ("conv127", False, "avg", False), ("conv127", True, None, True),
          ("conv127", False, "max", True)]


@pytest.mark.parametrize(("name", "bn", "pooling", "zipped"), STACKS)
def test_convolution_stacks_score_as_topaz_does(tmp_path: Path, topaz, name: str, bn: bool, pooling: str | None,
                                                zipped: bool) -> None:
    original = _randomised(topaz.conv_stack(name, 2, bn, pooling), seed=len(name) + bn)
    image = np.random.default_rng(0).standard_normal((37, 45)).astype(np.float32)
    theirs = _topaz_stack_scores(original, image)
    ours_model, path = _import(tmp_path, original, zipped)
    record = read_topaz_model(path)
    assert (record.architecture, record.options.get("pooling"), record.options["batch_norm"]) == \
        (f"topaz-{name}", pooling, bn)
    assert ours_model.receptive_field_px == _topaz_width(list(original.features.features))
    ours = score_micrographs(ours_model, [image], device=torch.device("cpu"), tile_size_px=24)[0]
    # Topaz leaves a max pool's padding at 1 when it dilates it: its map is cryopick's, shifted
    # by 1, 2 + 1, ... pixels and cut short by as much at the far edge; inside, the same numbers
    dilations = [2 ** i for i in range(len(KERNELS[name]) - 1)] if pooling == "max" else []
    shift = sum(d - 1 for d in dilations)
    rows, cols = theirs.shape
    assert (rows, cols) == (37 - 2 * shift, 45 - 2 * shift)
    edge = 2 * max(dilations, default=0)  # where Topaz's -inf padding stands in for real values
    scale = float(np.abs(theirs).max())
    np.testing.assert_allclose(ours[shift + edge: shift + rows - edge, shift + edge: shift + cols - edge],
                               theirs[edge: rows - edge, edge: cols - edge], rtol=1e-4, atol=1e-5 * scale)
    assert np.ptp(theirs) > 0.1  # not a degenerate comparison
    coarse = score_micrographs(ours_model, [image], device=torch.device("cpu"), tile_size_px=24, output_stride=2)[0]
    np.testing.assert_allclose(coarse, ours[::2, ::2], rtol=1e-4, atol=1e-5 * scale)
    crop = torch.from_numpy(np.random.default_rng(1).standard_normal((3, 1, 140, 140)).astype(np.float32))
    with torch.no_grad():  # training's crops: the nominal (strided) network, as Topaz trains it
        np.testing.assert_allclose(ours_model.eval()(crop).numpy(), original(crop).numpy(), rtol=1e-4, atol=1e-5)


RESNETS = [("resnet8", False, "max", 0.0, False), ("resnet16", True, "max", 0.0, True),
           ("resnet8", True, None, 0.3, True), ("resnet16", False, "max", 0.1, False)]


@pytest.mark.parametrize(("name", "bn", "pooling", "dropout", "zipped"), RESNETS)
def test_residual_nets_with_pooling_and_dropout_score_as_topaz_does(tmp_path: Path, topaz, name: str, bn: bool,
                                                                    pooling: str | None, dropout: float,
                                                                    zipped: bool) -> None:
    original = _randomised(topaz.residual_net(name, 2, bn, pooling, dropout), seed=3)
    ours_model, path = _import(tmp_path, original, zipped)
    options = read_topaz_model(path).options
    assert (options.get("pooling"), options.get("dropout", 0.0), options["batch_norm"]) == (pooling, dropout, bn)
    field = ours_model.receptive_field_px
    assert field == {("resnet8", None): 71, ("resnet8", "max"): 77, ("resnet16", "max"): 97}[(name, pooling)]
    image = np.random.default_rng(2).standard_normal((30, 34)).astype(np.float32)
    ours = score_micrographs(ours_model, [image], device=torch.device("cpu"), tile_size_px=24)[0]
    # unpadded layers: Topaz's whole-image score at a pixel is its network on the crop centred there
    padded = np.pad(image, field // 2)
    points = [(0, 0), (29, 33), (11, 20), (4, 31)]
    crops = torch.from_numpy(np.stack([padded[None, y: y + field, x: x + field] for y, x in points]))
    with torch.no_grad():
        per_crop = original(crops).flatten().numpy()
    np.testing.assert_allclose([ours[y, x] for y, x in points], per_crop, rtol=1e-4, atol=1e-5)


def test_layers_that_are_not_topaz_s_are_refused_by_name(tmp_path: Path, topaz) -> None:
    cases = {}
    model = topaz.conv_stack("conv31", 2, False, "max", dropout=0.2)
    cases["dropout.sav"] = (model, r"conv31 with dropout")
    model = topaz.conv_stack("conv63", 2, False, "max")
    model.features.features[5] = nn.MaxPool2d(5, stride=2, padding=2)
    cases["pool.sav"] = (model, r"features\.features\.5\.kernel_size is \(5, 5\) where Topaz's conv63 .*\(3, 3\)")
    model = topaz.conv_stack("conv31", 2, False, None)
    model.features.features[1] = nn.LeakyReLU()
    cases["leaky.sav"] = (model, r"features\.features\.1 is a LeakyReLU where Topaz's conv31 as rebuilt has a PReLU")
    model = topaz.residual_net("resnet8", 2, False, "max")
    model.features.features[3].conv1.dilation = (3, 3)
    cases["dilation.sav"] = (model, r"features\.features\.3\.conv1\.dilation is \(3, 3\)")
    model = topaz.conv_stack("conv31", 2, False, None)
    model.features.features.append(nn.Conv2d(8, 8, 1))
    cases["extra.sav"] = (model, r"no features\.features\.7 \(PReLU\), which Topaz's conv63 as rebuilt has")
    for name, (model, message) in cases.items():
        path = tmp_path / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.save(model, path)
        with pytest.raises(InputError, match=message) as error:
            run_import_model(path, tmp_path / f"out_{name}", geometry=GEOMETRY, command=["test"])
        assert name in str(error.value)
        assert "\n" not in str(error.value)
        assert not (tmp_path / f"out_{name}").exists()
    state = {f"features.features.{k}": v for k, v in topaz.conv_stack("conv31", 2, False, None).features.features
             .state_dict().items()}
    torch.save(state, tmp_path / "stack_state.sav")
    with pytest.raises(InputError, match="its pooling is not recorded in a state dict"):
        read_topaz_model(tmp_path / "stack_state.sav")
