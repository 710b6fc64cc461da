import pytest
import torch

from cryopick.models import MODEL_NAMES, build_model, dense_mode


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
    assert build_model("resnet8").receptive_field_px == 67
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg")
