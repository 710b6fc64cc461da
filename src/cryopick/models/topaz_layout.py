"""Topaz's picking nets rebuilt layer for layer, so imported models score the same.

Topaz's picking nets (ResNet8, ResNet16, and the plain convolution stacks conv31/63/127), layer
for layer, so its models can be imported and give the same scores (see ``io/topaz_models.py``
and ``workflows/import_model.py``). Parameter names follow Topaz's, index for index.

Written from the published layouts, not Topaz's code. Residual nets: unpadded convolutions with
biases and ReLU, optional batch norm; each residual block is 3x3, ReLU, a dilated (and possibly
strided) 3x3, plus its input cropped by both dilations, subsampled by the stride and projected
by a 1x1 convolution where the width changes; then (batch norm and) ReLU. A strided 1x1
projection equals subsampling then a 1x1 projection, which is how it is done here, so that dense
scoring (strides turned into dilations by ``PickerNet.set_dense``) needs nothing special. With
pooling, the two strides become unpadded 3x3/2 max pools. Convolution stacks: a 7x7 then 5x5
convolutions, each followed by (batch norm and) a single-parameter PReLU; all but the last halve
the resolution, by their stride or, with pooling, by a 3x3/2 max or average pool padded by 1.
Dropout, where a model has it, sits where Topaz puts it (it does nothing when scoring).
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cryopick.models.layers import PReLU

#: Kernel sizes of Topaz's convolution stacks (their names are their receptive fields).
TOPAZ_CONV_KERNELS: dict[str, tuple[int, ...]] = {"conv31": (7, 5, 5), "conv63": (7, 5, 5, 5),
                                                   "conv127": (7, 5, 5, 5, 5)}
POOLINGS = ("max", "avg")


class TopazConv(nn.Module):
    """Convolution, optional batch norm, ReLU (parameter names as Topaz's: ``conv``, ``bn``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else None
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolution, optional batch norm, then activation, as Topaz orders them."""
        y = self.conv(x)
        if self.bn is not None:
            y = self.bn(y)
        out: torch.Tensor = self.act(y)
        return out


class TopazResidual(nn.Module):
    """Topaz's residual block (parameter names ``conv0``, ``bn0``, ``conv1``, ``bn1``, ``proj``)."""

    def __init__(self, c_in: int, c_hidden: int, c_out: int, *, dilation: int = 1, stride: int = 1,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(c_in, c_hidden, 3, bias=not batch_norm)
        self.bn0 = nn.BatchNorm2d(c_hidden) if batch_norm else None
        self.act0 = nn.ReLU()
        self.conv1 = nn.Conv2d(c_hidden, c_out, 3, dilation=dilation, stride=stride, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(c_out) if batch_norm else None
        self.act1 = nn.ReLU()
        self.proj = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Topaz's residual block, the skip path cropped to the convolutions' output."""
        h = self.conv0(x)
        if self.bn0 is not None:
            h = self.bn0(h)
        y = self.conv1(self.act0(h))
        edge = self.conv0.dilation[0] + self.conv1.dilation[0]  # what the two convolutions trim per side
        skip = x[..., edge: x.shape[-2] - edge, edge: x.shape[-1] - edge]
        step = self.conv1.stride[0]
        if step > 1:
            skip = skip[..., ::step, ::step]
        if self.proj is not None:
            skip = self.proj(skip)
        y = y + skip
        if self.bn1 is not None:
            y = self.bn1(y)
        out: torch.Tensor = self.act1(y)
        return out


class PaddedMaxPool(nn.MaxPool2d):
    """A max pool whose padding (-inf) may exceed half its kernel, as a dilated pool's must.

    A max pool padded with -inf by any amount: dense scoring dilates a padded pool and scales
    its padding with the dilation, which ``nn.MaxPool2d`` refuses beyond half the kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad with -inf, then pool unpadded."""
        padding = self.padding if isinstance(self.padding, int) else self.padding[0]
        if padding:
            x = F.pad(x, (padding,) * 4, value=float("-inf"))
        out: torch.Tensor = F.max_pool2d(x, self.kernel_size, self.stride, 0, self.dilation, self.ceil_mode)
        return out


def widths(units: int | Sequence[int], count: int = 3) -> tuple[int, ...]:
    """The ``count`` layer widths that Topaz's ``units`` option means (doubling, its default scaling)."""
    if isinstance(units, int):
        return tuple(units * 2 ** i for i in range(count))
    if len(units) != count:
        raise ValueError(f"{count} widths are needed, got {list(units)}")
    return tuple(int(u) for u in units)


def _check(pooling: str | None, dropout: float) -> None:
    if pooling is not None and pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; Topaz's are {', '.join(POOLINGS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def _after_halving(pooling: str | None, dropout: float) -> list[nn.Module]:
    """What follows each of a residual net's two halvings: its max pool, its dropout."""
    layers: list[nn.Module] = [nn.MaxPool2d(3, stride=2)] if pooling is not None else []
    return layers + ([nn.Dropout(dropout)] if dropout > 0 else [])


def topaz_resnet8_encoder(units: int | Sequence[int] = 32, batch_norm: bool = False, pooling: str | None = None,
                          dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    """Topaz's ResNet8: receptive field 71 px without pooling, 77 px with."""
    _check(pooling, dropout)
    if pooling == "avg":
        raise ValueError("Topaz's residual nets pool by max only")
    u0, u1, u2 = widths(units)
    stride = 1 if pooling else 2
    layers: list[nn.Module] = [TopazConv(1, u0, 7, stride=stride, batch_norm=batch_norm),
                               *_after_halving(pooling, dropout),
                               TopazResidual(u0, u0, u0, dilation=2, batch_norm=batch_norm),
                               TopazResidual(u0, u0, u1, dilation=2, stride=stride, batch_norm=batch_norm),
                               *_after_halving(pooling, dropout),
                               TopazResidual(u1, u1, u1, dilation=2, batch_norm=batch_norm),
                               TopazConv(u1, u2, 5, batch_norm=batch_norm)]
    layers += [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(*layers), u2


def topaz_resnet16_encoder(units: int | Sequence[int] = 32, batch_norm: bool = False, pooling: str | None = None,
                           dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    """Topaz's ResNet16: receptive field 91 px without pooling (its general detectors' layout), 97 px with."""
    _check(pooling, dropout)
    if pooling == "avg":
        raise ValueError("Topaz's residual nets pool by max only")
    u0, u1, u2 = widths(units)
    stride = 1 if pooling else 2

    def resid(c_in: int, c_out: int, step: int = 1) -> TopazResidual:
        return TopazResidual(c_in, c_in, c_out, stride=step, batch_norm=batch_norm)

    layers: list[nn.Module] = [TopazConv(1, u0, 7, batch_norm=batch_norm), resid(u0, u0, stride),
                               *_after_halving(pooling, dropout),
                               resid(u0, u0), resid(u0, u0), resid(u0, u0), resid(u0, u1, stride),
                               *_after_halving(pooling, dropout),
                               resid(u1, u1), resid(u1, u1), TopazConv(u1, u2, 5, batch_norm=batch_norm)]
    layers += [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(*layers), u2


def topaz_conv_encoder(name: str, units: int | Sequence[int] = 32, batch_norm: bool = False,
                       pooling: str | None = None, dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    """One of Topaz's convolution stacks (conv31, conv63, conv127), one flat sequence as Topaz's.

    Each convolution is followed by batch norm (if any), a PReLU with one parameter, then (all but
    the last) the pool if any, then dropout if any; without pooling all but the last convolution
    stride by 2. The pools are padded by 1 (max pools with -inf, average pools with zeros counted).
    """
    _check(pooling, dropout)
    kernels = TOPAZ_CONV_KERNELS[name]
    sizes = widths(units, len(kernels))
    layers: list[nn.Module] = []
    c_in = 1
    for index, (kernel, c_out) in enumerate(zip(kernels, sizes, strict=True)):
        last = index == len(kernels) - 1
        stride = 1 if last or pooling else 2
        layers.append(nn.Conv2d(c_in, c_out, kernel, stride=stride, bias=not batch_norm))
        layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
        layers.append(PReLU())
        if not last and pooling == "max":
            layers.append(PaddedMaxPool(3, stride=2, padding=1))
        elif not last and pooling == "avg":
            layers.append(nn.AvgPool2d(3, stride=2, padding=1))
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        c_in = c_out
    return nn.Sequential(*layers), c_in
