"""Region classifiers trained on crops and scored densely on whole micrographs.

Region classifiers: trained on crops one receptive field wide (one logit per crop, strided
and cheap) and scored densely over whole micrographs by the same weights with every stride
turned into a dilation (the a-trous trick), so each pixel gets its own logit.

All convolutions are unpadded (pools may be padded, as in Topaz's conv31/63/127): a crop exactly
``receptive_field_px`` wide yields a 1x1 output, and a micrograph zero-padded by
``receptive_field_px // 2`` yields one logit per pixel.
"""

import contextlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from cryopick.config import DEFAULT_UNITS, MAX_INPUT_POOL
from cryopick.models.layers import PReLU, centre_crop
from cryopick.models.topaz_layout import (
    TOPAZ_CONV_KERNELS,
    topaz_conv_encoder,
    topaz_resnet8_encoder,
    topaz_resnet16_encoder,
    widths,
)


def _activation(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return PReLU(channels)
    if kind == "leaky":
        return nn.LeakyReLU(0.1)
    return nn.ReLU()


class ConvUnit(nn.Sequential):
    """Unpadded convolution, batch-norm, activation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, dilation: int = 1,
                 activation: str = "prelu") -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
            _activation(activation, c_out),
        )


class ResidualUnit(nn.Module):
    """Two unpadded 3x3 convolutions with a skip connection cropped to match."""

    def __init__(self, c_in: int, c_out: int, *, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.act1 = PReLU(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.project = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()
        self.act2 = PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual sum, the skip path cropped to the convolutions' output."""
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        skip = self.project(centre_crop(x, out.shape[-2], out.shape[-1]))  # a 1x1 projection commutes with the crop
        summed: torch.Tensor = self.act2(out + skip)
        return summed


class InputPool(nn.AvgPool2d):
    """k x k block means times k: the micrograph at k-times coarser pixels for a particle too wide for the net.

    The factor k keeps white noise at the level a Fourier-cropped, renormalised micrograph has (a
    mean of k^2 pixels divides its spread by k), so a net trained at the coarser pixel size (the
    general detector) sees what it was trained on. ``pool_blocks`` is the same in numpy.
    """

    def __init__(self, factor: int) -> None:
        super().__init__(factor, stride=factor)
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled image, scaled by the factor."""
        pooled: torch.Tensor = super().forward(x) * self.factor
        return pooled


def pool_blocks(image: npt.NDArray[np.float32], factor: int) -> npt.NDArray[np.float32]:
    """``InputPool`` in numpy: k x k block means times k, from the top-left corner (a ragged edge dropped)."""
    if factor == 1:
        return np.ascontiguousarray(image, dtype=np.float32)
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    blocks = np.asarray(image[: rows * factor, : cols * factor], dtype=np.float32)
    blocks = blocks.reshape(rows, factor, cols, factor)
    return np.ascontiguousarray(blocks.mean(axis=(1, 3), dtype=np.float32) * np.float32(factor))


#: the name of the encoder's first layer when it pools its input (``with_input_pool``)
INPUT_POOL_LAYER = "pool"


class PickerNet(nn.Module):
    """``encoder`` (features) followed by a linear 1x1 ``classifier`` (the logit)."""

    def __init__(self, encoder: nn.Sequential, feature_channels: int, name: str, options: dict[str, Any]) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = nn.Conv2d(feature_channels, 1, 1)
        self.name = name
        self.options = options
        self.feature_channels = feature_channels
        pool = getattr(encoder, INPUT_POOL_LAYER, None)
        #: k: the encoder starts by pooling k x k blocks (1: it does not)
        self.input_pool = pool.factor if isinstance(pool, InputPool) else 1
        self.receptive_field_px = receptive_field_px(self)
        #: train with channels-last tensors (oneDNN's faster path where it pays; measured per net)
        self.trains_channels_last = False
        # by position, not id(): a deep copy (one per scoring thread) keeps working
        self._nominal = [(_pair(m.stride), _pair(getattr(m, "dilation", 1)), _pair(m.padding))
                         for m in self._spatial_modules()]
        self._dense_subsample = 1  # a last subsampling in dense mode, where strides could not all be kept

    def _spatial_modules(self) -> Iterator[nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d]:
        for module in self.encoder.modules():  # registration order == execution order here
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                yield module

    @property
    def has_padded_layers(self) -> bool:
        """Whether any layer pads its input (its output near an edge then depends on where the edge is)."""
        return any(padding > 0 for _, _, padding in self._nominal)

    def set_dense(self, dense: bool, output_stride: int = 1) -> None:
        """Switch between dense scoring and nominal (training) strides.

        Dense: strides kept only while their product stays within ``output_stride`` (1: every
        pixel), the rest turned into dilations (padding scaled with them), so the output is the
        nominal network's logit at every ``output_stride``-th pixel. Not dense: the nominal
        strides, dilations and paddings.

        An average pool (Topaz's ``--pooling avg`` convolution stacks) is scored as Topaz scores
        it: its stride dropped, undilated, later layers dilated as if it had strided. Its stride
        is never kept, so such a net is scored at every pixel and subsampled at the end.
        """
        jump = real_jump = 1
        for module, (s, d, p) in zip(self._spatial_modules(), self._nominal, strict=True):
            if isinstance(module, nn.AvgPool2d):
                module.stride = 1 if dense else s
                jump *= s
                continue
            if dense:
                new_dilation = d * jump // real_jump
                new_stride = s if real_jump * s <= output_stride else 1
                real_jump *= new_stride
            else:
                new_stride, new_dilation = s, d
            new_padding = p * new_dilation // d
            if isinstance(module, nn.Conv2d):
                module.stride = (new_stride, new_stride)
                module.dilation = (new_dilation, new_dilation)
                module.padding = (new_padding, new_padding)
            else:
                module.stride = new_stride
                module.dilation = new_dilation
                module.padding = new_padding
            jump *= s
        if dense and output_stride % real_jump:
            raise ValueError(f"{self.name} cannot be scored at every {output_stride}th pixel")
        self._dense_subsample = output_stride // real_jump if dense else 1

    def start_at_prior(self, positive_fraction: float) -> None:
        """Start the classifier at the expected share of positives.

        Set the classifier's bias to logit(prior), so the untrained net already predicts the
        expected share of positives: the PU criteria then start balanced, instead of first
        driving every score towards 0 (where GE-binomial used to stall).
        """
        assert self.classifier.bias is not None  # built with a bias
        with torch.no_grad():
            self.classifier.bias.fill_(math.log(positive_fraction / (1 - positive_fraction)))

    @property
    def training_crop_px(self) -> int:
        """The width of a training crop, in the pooled pixels the encoder's layers after its input pool see."""
        return self.receptive_field_px // self.input_pool

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's features, which the autoencoder term decodes."""
        features: torch.Tensor = self.encoder(x)
        return features

    def crop_features(self, crops: torch.Tensor) -> torch.Tensor:
        """The features of training crops, which arrive already pooled (``training_crop_px`` wide)."""
        for name, layer in self.encoder.named_children():
            if name != INPUT_POOL_LAYER:
                crops = layer(crops)
        return crops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 1, rows', cols') for input (batch, 1, rows, cols)."""
        logits: torch.Tensor = self.classifier(self.encoder(x))
        if self._dense_subsample > 1:
            logits = logits[..., :: self._dense_subsample, :: self._dense_subsample]
        return logits


@contextlib.contextmanager
def dense_mode(model: PickerNet, output_stride: int = 1) -> Iterator[PickerNet]:
    """Score with ``model`` densely inside the block, restoring its training strides after."""
    model.set_dense(True, output_stride)
    try:
        yield model
    finally:
        model.set_dense(False)


def _pair(value: Any) -> int:
    """One side of a square layer setting (an int, or a tuple of equal ints)."""
    return int(value[0] if isinstance(value, tuple) else value)


def receptive_field_px(model: nn.Module) -> int:
    """The crop width giving one output: the receptive field of ``model``'s convolutions and pools, less padding."""
    field, jump = 1, 1
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            dilation = _pair(getattr(module, "dilation", 1))
            field += ((_pair(module.kernel_size) - 1) * dilation - 2 * _pair(module.padding)) * jump
            jump *= _pair(module.stride)
    return field


def _conv3(units: int = DEFAULT_UNITS) -> PickerNet:
    """The paper's classifier: 7x7/2, 5x5/2, 5x5 convolutions (32, 64, 128 filters)."""
    encoder = nn.Sequential(
        ConvUnit(1, units, 7, stride=2),
        ConvUnit(units, 2 * units, 5, stride=2),
        ConvUnit(2 * units, 4 * units, 5),
    )
    return PickerNet(encoder, 4 * units, "conv3", {"units": units})


def _conv6(units: int = DEFAULT_UNITS) -> PickerNet:
    """The cheap default: resnet8's receptive field at a quarter of its cost.

    Six small convolutions reaching 67 px (resnet8's field) at a quarter of its training cost:
    a narrow 7x7 first layer (the widest maps are the costly ones on crops), three strides of 2,
    then 3x3 layers at 1/8 resolution. For particles 16-33 working px across.
    """
    first = max(1, units // 2)
    encoder = nn.Sequential(
        ConvUnit(1, first, 7, stride=2),
        ConvUnit(first, 2 * units, 3, stride=2),
        ConvUnit(2 * units, 2 * units, 3, stride=2),
        ConvUnit(2 * units, 2 * units, 3),
        ConvUnit(2 * units, 2 * units, 3),
        ConvUnit(2 * units, 2 * units, 3),
    )
    return PickerNet(encoder, 2 * units, "conv6", {"units": units})


def _resnet8(units: int = DEFAULT_UNITS) -> PickerNet:
    """A small residual net like Topaz's default, striding early to train cheaply.

    Its receptive field is 67 px; striding early makes training on crops cost a few times the
    paper's net, not a hundred.
    """
    encoder = nn.Sequential(
        ConvUnit(1, units, 7, stride=2),
        ResidualUnit(units, units),
        nn.MaxPool2d(3, stride=2),
        ResidualUnit(units, 2 * units),
        ResidualUnit(2 * units, 2 * units, dilation=2),
    )
    model = PickerNet(encoder, 2 * units, "resnet8", {"units": units})
    # 0.45 -> 0.37 s per step of 256 crops on 2 CPU threads (conv3 and conv6 are slower this way)
    model.trains_channels_last = True
    return model


def _topaz_options(units: tuple[int, ...], batch_norm: bool, pooling: str | None, dropout: float) -> dict[str, Any]:
    """A Topaz layout's recorded options (pooling and dropout only where a model has them)."""
    options: dict[str, Any] = {"units": list(units), "batch_norm": batch_norm}
    if pooling is not None:
        options["pooling"] = pooling
    if dropout > 0:
        options["dropout"] = dropout
    return options


def _topaz_resnet8(units: int | list[int] = DEFAULT_UNITS, batch_norm: bool = False, pooling: str | None = None,
                   dropout: float = 0.0) -> PickerNet:
    """Topaz's ResNet8, layer for layer (for its imported models, or to train in its layout)."""
    encoder, channels = topaz_resnet8_encoder(units, batch_norm, pooling, dropout)
    return PickerNet(encoder, channels, "topaz-resnet8", _topaz_options(widths(units), batch_norm, pooling, dropout))


def _topaz_resnet16(units: int | list[int] = DEFAULT_UNITS, batch_norm: bool = False, pooling: str | None = None,
                    dropout: float = 0.0) -> PickerNet:
    """Topaz's ResNet16, layer for layer (its general detectors are resnet16_u32/u64)."""
    encoder, channels = topaz_resnet16_encoder(units, batch_norm, pooling, dropout)
    return PickerNet(encoder, channels, "topaz-resnet16", _topaz_options(widths(units), batch_norm, pooling, dropout))


def _topaz_conv(name: str) -> Callable[..., PickerNet]:
    """The builder of one of Topaz's convolution stacks (PReLU, batch norm optional)."""
    count = len(TOPAZ_CONV_KERNELS[name])

    def build(units: int | list[int] = DEFAULT_UNITS, batch_norm: bool = False, pooling: str | None = None,
              dropout: float = 0.0) -> PickerNet:
        encoder, channels = topaz_conv_encoder(name, units, batch_norm, pooling, dropout)
        return PickerNet(encoder, channels, f"topaz-{name}",
                         _topaz_options(widths(units, count), batch_norm, pooling, dropout))

    build.__doc__ = f"Topaz's {name} convolution stack, layer for layer."
    return build


class RegionDecoder(nn.Module):
    """Decoder back to the crop, for the autoencoder term.

    Transposed convolutions from a region's encoder features (1x1 spatially, as the encoder
    sees a crop one receptive field wide) back to the region, for the autoencoder term.

    The paper's stack (4x4 to 128, 4x4/2 to 64, 4x4/2 to 32, 3x3/2 to 1) reaches 45 px; for wider
    receptive fields more 4x4/2 layers at 32 are inserted until the output covers the crop, which
    is then the output's centre. Only training uses it; it is not saved with the picker.
    """

    def __init__(self, feature_channels: int, crop_px: int) -> None:
        super().__init__()
        self.crop_px = crop_px

        def unit(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c_in, c_out, 4, stride=stride, bias=False), nn.BatchNorm2d(c_out),
                    nn.LeakyReLU(0.2)]

        layers = [*unit(feature_channels, 128, 1), *unit(128, 64, 2), *unit(64, 32, 2)]
        size_px = 22  # after the three units above, from 1x1
        while 2 * (size_px - 1) + 3 < crop_px:
            layers += unit(32, 32, 2)
            size_px = 2 * (size_px - 1) + 4
        layers.append(nn.ConvTranspose2d(32, 1, 3, stride=2))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, 1, crop, crop) reconstructions from (batch, channels, 1, 1) features."""
        return centre_crop(self.layers(features), self.crop_px, self.crop_px)


_REGISTRY: dict[str, Callable[..., PickerNet]] = {
    "conv3": _conv3, "conv6": _conv6, "resnet8": _resnet8, "topaz-resnet8": _topaz_resnet8,
    "topaz-resnet16": _topaz_resnet16, **{f"topaz-{name}": _topaz_conv(name) for name in TOPAZ_CONV_KERNELS},
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)
#: ``--model auto``: the receptive field should see this many particle diameters (the particle
#: and the ring of background around it that tells it from ice, carbon and its neighbours).
CONTEXT_DIAMETERS = 2.0


def architecture_receptive_fields_px() -> dict[str, int]:
    """Each registered architecture's receptive field, smallest first."""
    with torch.random.fork_rng(devices=[]):  # building them must not move the caller's random stream
        fields = {name: factory().receptive_field_px for name, factory in _REGISTRY.items()}
    return dict(sorted(fields.items(), key=lambda item: item[1]))


#: What ``--model auto`` chooses among, cheapest first. conv6 sees as far as resnet8 at a third of
#: its training time but scored 0.04 AP below it on a small low-SNR particle (bench/ablation.py),
#: so it is there to ask for, not a default.
AUTO_ARCHITECTURES: tuple[str, ...] = ("conv3", "resnet8")


def choose_input_pool(particle_diameter_px: float, receptive_field_px: int) -> int:
    """The smallest k (at most ``MAX_INPUT_POOL``) at which a net seeing ``k * receptive_field_px`` spans the context.

    The receptive field should span ``CONTEXT_DIAMETERS`` particle diameters; a particle too wide
    for the widest net is seen at k-times coarser pixels instead (its pixels pooled k x k inside
    the net), at the same training cost, rather than only in part.
    """
    for factor in range(1, MAX_INPUT_POOL + 1):
        if factor * receptive_field_px >= CONTEXT_DIAMETERS * particle_diameter_px:
            return factor
    return MAX_INPUT_POOL


def choose_architecture(particle_diameter_px: float) -> str:
    """The cheapest architecture wide enough for the particle size.

    The cheapest of ``AUTO_ARCHITECTURES`` whose receptive field spans ``CONTEXT_DIAMETERS``
    particle diameters (working pixels); the widest one if none does.
    """
    fields = {name: field for name, field in architecture_receptive_fields_px().items()
              if name in AUTO_ARCHITECTURES}
    for name, field_px in fields.items():
        if field_px >= CONTEXT_DIAMETERS * particle_diameter_px:
            return name
    return list(fields)[-1]


def build_model(name: str, input_pool: int = 1, **options: Any) -> PickerNet:
    """Build a registered architecture by name (no ``eval``, no import by string), pooling its input if asked."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}") from None
    if isinstance(input_pool, bool) or not isinstance(input_pool, int):
        raise ValueError(f"input_pool must be a whole number, got {input_pool!r}")
    return with_input_pool(factory(**options), input_pool)


def with_input_pool(model: PickerNet, factor: int) -> PickerNet:
    """``model`` behind an ``InputPool`` of ``factor`` (its receptive field ``factor`` times wider).

    Shares ``model``'s layers, whose names (and so the state dict's keys) do not change: a model
    trained without the pool, the general detector, loads into the pooled one as it is.
    """
    if factor == 1:
        return model
    if not 1 <= factor <= MAX_INPUT_POOL or model.input_pool != 1:
        raise ValueError(f"cannot pool the input of {model.name} (input pool {model.input_pool}) by {factor}")
    encoder = nn.Sequential(OrderedDict([(INPUT_POOL_LAYER, InputPool(factor)), *model.encoder.named_children()]))
    pooled = PickerNet(encoder, model.feature_channels, model.name, {**model.options, "input_pool": factor})
    pooled.classifier = model.classifier
    pooled.trains_channels_last = model.trains_channels_last
    return pooled
