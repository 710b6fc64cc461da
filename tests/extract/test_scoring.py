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
