"""Topaz's residual nets rebuilt layer for layer, so imported models score the same.

Topaz's residual nets (ResNet8, ResNet16) layer for layer, so its models can be imported and
give the same scores (see ``io/torch_pickle.py`` and ``workflows/import_model.py``).

Written from the published layout, not Topaz's code: unpadded convolutions with biases and ReLU,
optional batch norm; each residual block is 3x3, ReLU, a dilated (and possibly strided) 3x3, plus
its input cropped by both dilations, subsampled by the stride and projected by a 1x1 convolution
where the width changes; then (batch norm and) ReLU. A strided 1x1 projection equals subsampling
then a 1x1 projection, which is how it is done here, so that dense scoring (strides turned into
dilations by ``PickerNet.set_dense``) needs nothing special.
"""

import torch
from torch import nn


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


def widths(units: int | list[int]) -> tuple[int, int, int]:
    """The three layer widths that Topaz's ``units`` option means."""
    if isinstance(units, int):
        return units, 2 * units, 4 * units
    first, second, third = (int(u) for u in units)
    return first, second, third


def topaz_resnet8_encoder(units: int | list[int] = 32, batch_norm: bool = False) -> tuple[nn.Sequential, int]:
    """Topaz's ResNet8 without pooling (its default): receptive field 71 px."""
    u0, u1, u2 = widths(units)
    encoder = nn.Sequential(
        TopazConv(1, u0, 7, stride=2, batch_norm=batch_norm),
        TopazResidual(u0, u0, u0, dilation=2, batch_norm=batch_norm),
        TopazResidual(u0, u0, u1, dilation=2, stride=2, batch_norm=batch_norm),
        TopazResidual(u1, u1, u1, dilation=2, batch_norm=batch_norm),
        TopazConv(u1, u2, 5, batch_norm=batch_norm),
    )
    return encoder, u2


def topaz_resnet16_encoder(units: int | list[int] = 32, batch_norm: bool = False) -> tuple[nn.Sequential, int]:
    """Topaz's ResNet16 without pooling: receptive field 63 px."""
    u0, u1, u2 = widths(units)
    encoder = nn.Sequential(
        TopazConv(1, u0, 7, batch_norm=batch_norm),
        TopazResidual(u0, u0, u0, stride=2, batch_norm=batch_norm),
        TopazResidual(u0, u0, u0, batch_norm=batch_norm),
        TopazResidual(u0, u0, u0, batch_norm=batch_norm),
        TopazResidual(u0, u0, u0, batch_norm=batch_norm),
        TopazResidual(u0, u0, u1, stride=2, batch_norm=batch_norm),
        TopazResidual(u1, u1, u1, batch_norm=batch_norm),
        TopazResidual(u1, u1, u1, batch_norm=batch_norm),
        TopazConv(u1, u2, 5, batch_norm=batch_norm),
    )
    return encoder, u2
