import math

import numpy as np
import pytest
import torch

from cryopick.config import MAX_INPUT_POOL, MODEL_CHOICES
from cryopick.models import (
    MODEL_NAMES,
    build_model,
    choose_architecture,
    choose_input_pool,
    dense_mode,
    pool_blocks,
)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dense_scores_equal_crop_scores(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, units=8).eval()
    field = model.receptive_field_px
    assert field % 2 == 1
    image = torch.randn(1, 1, 40, 45)
    padded = torch.nn.functional.pad(image, (field // 2,) * 4)
    with torch.no_grad(), dense_mode(model):
        dense = model(padded)
    assert dense.shape == (1, 1, 40, 45)
    points = [(0, 0), (39, 44), (17, 5), (3, 30)]
    crops = torch.stack([padded[0, :, y: y + field, x: x + field] for y, x in points])
    with torch.no_grad():
        per_crop = model(crops).flatten()
    expected = torch.stack([dense[0, 0, y, x] for y, x in points])
    torch.testing.assert_close(per_crop, expected, rtol=1e-4, atol=1e-5)
    assert model(crops).shape == (4, 1, 1, 1)  # training mode is back after the context


def test_receptive_fields_and_registry() -> None:
    assert build_model("conv3").receptive_field_px == 31
    assert build_model("conv6").receptive_field_px == 67
    assert build_model("resnet8").receptive_field_px == 67
    assert ("auto", *MODEL_NAMES) == MODEL_CHOICES  # the CLI's list, kept without importing torch
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg")


def test_auto_architecture_sees_two_particle_diameters() -> None:
    assert choose_architecture(10) == "conv3"  # 31 px >= 2 x 10
    assert choose_architecture(15.5) == "conv3"
    assert choose_architecture(16) == "resnet8"  # conv6 is as wide but less accurate: asked for, not chosen
    assert choose_architecture(27) == "resnet8"
    assert choose_architecture(33.5) == "resnet8"
    assert choose_architecture(60) == "resnet8"  # none is wide enough: the widest


def test_start_at_prior_sets_the_base_rate() -> None:
    torch.manual_seed(0)
    model = build_model("conv6", units=8)
    model.start_at_prior(0.02)
    assert model.classifier.bias.item() == pytest.approx(math.log(0.02 / 0.98))
    with torch.no_grad():
        p = torch.sigmoid(model(torch.randn(64, 1, 67, 67))).mean().item()
    assert 0.005 < p < 0.08  # the untrained net already predicts about the prior


@pytest.mark.parametrize("factor", [2, 3])
def test_an_input_pool_widens_the_field_and_scores_densely_as_on_crops(factor: int) -> None:
    torch.manual_seed(0)
    plain = build_model("resnet8", units=8)
    model = build_model("resnet8", units=8, input_pool=factor).eval()
    assert model.receptive_field_px == factor * plain.receptive_field_px
    assert model.training_crop_px == plain.receptive_field_px
    assert model.state_dict().keys() == plain.state_dict().keys()  # an unpooled model's weights load as they are
    field = model.receptive_field_px
    image = torch.randn(1, 1, 23, 31)
    padded = torch.nn.functional.pad(image, (field // 2,) * 4)
    with torch.no_grad():
        with dense_mode(model, output_stride=2):
            dense = model(padded)
        crops = torch.stack([padded[0, :, y: y + field, x: x + field] for y, x in [(0, 0), (22, 30), (8, 14)]])
        per_crop = model(crops).flatten()
        pooled = model.classifier(model.crop_features(pool_crops(crops, factor))).flatten()
    assert dense.shape == (1, 1, 12, 16)
    torch.testing.assert_close(per_crop, torch.stack([dense[0, 0, 0, 0], dense[0, 0, 11, 15], dense[0, 0, 4, 7]]),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pooled, per_crop, rtol=1e-4, atol=1e-5)


def pool_crops(crops: torch.Tensor, factor: int) -> torch.Tensor:
    """The crops as the sampler hands them over: pooled by ``pool_blocks``."""
    return torch.stack([torch.from_numpy(pool_blocks(crop[0].numpy(), factor))[None] for crop in crops])


def test_input_pool_is_the_smallest_that_spans_two_diameters() -> None:
    assert choose_input_pool(24, 67) == 1
    assert choose_input_pool(33.5, 67) == 1
    assert choose_input_pool(34, 67) == 2
    assert choose_input_pool(114.2, 67) == 4  # the rod set at downsampling 1: 268 px of field
    assert choose_input_pool(1000, 67) == MAX_INPUT_POOL
    assert pool_blocks(np.ones((5, 7), dtype=np.float32), 2).tolist() == [[2.0] * 3] * 2  # block means x k
