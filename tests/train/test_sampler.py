import numpy as np
import torch

from cryopick.models import pool_blocks
from cryopick.train.sampler import CropSampler, LabelledMicrograph


def _sampler(rng: np.random.Generator, crop_px: int = 9) -> CropSampler:
    images = [rng.standard_normal((30, 40)).astype(np.float32), rng.standard_normal((25, 25)).astype(np.float32)]
    centres = [np.array([[10.0, 12.0], [0.0, 39.0]]), np.zeros((0, 2))]
    return CropSampler([LabelledMicrograph(i, c) for i, c in zip(images, centres, strict=True)],
                       crop_px=crop_px, label_radius_px=2, seed=0)


def test_positives_are_the_discs_around_labels_clipped_to_the_image(rng: np.random.Generator) -> None:
    sampler = _sampler(rng)
    assert sampler.labelled_positive_pixels == 13 + 6  # full disc, and the corner disc's inside part
    assert sampler.total_pixels == 30 * 40 + 25 * 25
    d2 = (sampler.positives[:, 1] - 10) ** 2 + (sampler.positives[:, 2] - 12) ** 2
    corner = (sampler.positives[:, 1] - 0) ** 2 + (sampler.positives[:, 2] - 39) ** 2
    assert np.all((d2 <= 4) | (corner <= 4))
    assert np.all(sampler.positives[:, 0] == 0)


def test_minibatch_is_balanced_and_unlabelled_avoid_positives(rng: np.random.Generator) -> None:
    sampler = _sampler(rng)
    crops, labels = sampler.minibatch(64, 0.25)
    assert crops.shape == (64, 1, 9, 9)
    assert int(labels.sum()) == 16
    centres = sampler._unlabelled(500)
    flat = sampler.mask_offsets[centres[:, 0]] + centres[:, 1] * sampler.shapes[centres[:, 0], 1] + centres[:, 2]
    assert not sampler.flat_mask[flat].any()


def test_crops_are_the_image_around_the_centre_and_augmentations_are_its_symmetries(rng: np.random.Generator) -> None:
    sampler = _sampler(rng, crop_px=5)
    image = np.pad(np.asarray(sampler.flat[: (30 + 4) * (40 + 4)]).reshape(34, 44), 0)
    centre = np.array([[0, 10, 12]])
    plain = sampler.crops(centre)[0, 0].numpy()
    np.testing.assert_array_equal(plain, image[10: 15, 12: 17])  # padded by 2
    views = {tuple(sampler.crops(centre, np.array([t]))[0, 0].numpy().ravel()) for t in range(8)}
    expected = set()
    for flip in (False, True):
        for k in range(4):
            view = np.rot90(plain, k)
            expected.add(tuple((view[:, ::-1] if flip else view).ravel()))
    assert views == expected
    assert torch.equal(sampler.crops(np.array([[1, 0, 0]]))[0, 0, :2, :], torch.zeros(2, 5))  # zero padding


def test_pooled_crops_are_the_full_crops_pooled(rng: np.random.Generator) -> None:
    """A net pooling 3 x 3 first: the sampler's crops are its full 21 px crops, pooled (any alignment)."""
    image = rng.standard_normal((40, 50)).astype(np.float32)
    sampler = CropSampler([LabelledMicrograph(image, np.array([[20.0, 20.0]]))], crop_px=7, input_pool=3,
                          label_radius_px=2, seed=0)
    padded = np.pad(image, 21 // 2)
    for y, x in [(0, 0), (39, 49), (20, 21), (13, 2), (5, 44)]:
        crop = sampler.crops(np.array([[0, y, x]]))[0, 0].numpy()
        np.testing.assert_allclose(crop, pool_blocks(padded[y: y + 21, x: x + 21], 3), rtol=1e-6)
    crops, labels = sampler.minibatch(16, 0.25)
    assert crops.shape == (16, 1, 7, 7)
    assert int(labels.sum()) == 4


def test_micrographs_of_several_sizes_give_their_own_crops_in_all_eight_views(rng: np.random.Generator) -> None:
    """Planes of several widths (three sizes; alignments of a pool): each crop is its own micrograph's."""
    images = [rng.standard_normal(shape).astype(np.float32) for shape in ((30, 40), (30, 40), (32, 45))]
    labelled = [LabelledMicrograph(i, np.array([[10.0, 12.0]])) for i in images]
    for input_pool in (1, 2):
        sampler = CropSampler(labelled, crop_px=7, input_pool=input_pool, label_radius_px=2, seed=0)
        assert len(np.unique(sampler.padded_cols)) >= 2  # planes of several widths
        full = 7 * input_pool
        for index, image in enumerate(images):
            padded = np.pad(image, full // 2)
            for _ in range(10):
                y, x = rng.integers(image.shape[0]), rng.integers(image.shape[1])
                plain = sampler.crops(np.array([[index, y, x]]))[0, 0].numpy()
                np.testing.assert_allclose(plain, pool_blocks(padded[y: y + full, x: x + full], input_pool), rtol=1e-6)
                views = {tuple(sampler.crops(np.array([[index, y, x]]), np.array([t]))[0, 0].numpy().ravel())
                         for t in range(8)}
                assert views == {tuple((np.rot90(plain, k)[:, ::-1] if flip else np.rot90(plain, k)).ravel())
                                 for flip in (False, True) for k in range(4)}
