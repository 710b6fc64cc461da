import numpy as np
import torch

from cryopick.extract.scoring import score_micrographs
from cryopick.models import build_model


def test_tiles_stitch_to_the_whole_image_score() -> None:
    torch.manual_seed(0)
    model = build_model("conv3", units=4).eval()
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((70, 90)).astype(np.float32), rng.standard_normal((33, 50)).astype(np.float32)]
    whole = score_micrographs(model, images, device=torch.device("cpu"), tile_size_px=4096, batch_size=1)
    tiled = score_micrographs(model, images, device=torch.device("cpu"), tile_size_px=16, batch_size=5)
    for a, b, image in zip(whole, tiled, images, strict=True):
        assert a.shape == image.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_a_strided_score_is_the_dense_score_at_every_kth_pixel() -> None:
    rng = np.random.default_rng(3)
    images = [rng.standard_normal((83, 70)).astype(np.float32), rng.standard_normal((64, 97)).astype(np.float32)]
    for name in ("conv3", "conv6", "resnet8", "topaz-resnet8", "topaz-resnet16"):
        torch.manual_seed(0)
        model = build_model(name, units=8).eval()
        dense = score_micrographs(model, images, device=torch.device("cpu"), batch_size=2)
        for stride in (2, 4):
            strided = score_micrographs(model, images, device=torch.device("cpu"), batch_size=2, tile_size_px=30,
                                        output_stride=stride)
            for full, coarse in zip(dense, strided, strict=True):
                assert coarse.shape == full[::stride, ::stride].shape
                np.testing.assert_allclose(coarse, full[::stride, ::stride], rtol=1e-4, atol=1e-4)


def test_scoring_leaves_the_callers_model_as_it_was() -> None:
    model = build_model("resnet8", units=8).train()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    strides = [(m.stride, m.dilation) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    score_micrographs(model, [np.zeros((80, 90), np.float32)], device=torch.device("cpu"), output_stride=2)
    assert model.training
    assert all(p.is_contiguous() for p in model.parameters())
    assert strides == [(m.stride, m.dilation) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(torch.equal(t, before[name]) for name, t in model.state_dict().items())  # BN statistics too
