import numpy as np

from cryopick.particles.boxes import box_corners, cut_boxes, inside, normalize_boxes


def test_boxes_are_the_pixels_around_each_centre() -> None:
    image = np.arange(100 * 120, dtype=np.float32).reshape(100, 120)
    rows, cols = box_corners(np.array([60.0, 3.0]), np.array([50.4, 50.0]), 16)
    keep = inside(image.shape, rows, cols, 16)
    assert keep.tolist() == [True, False]  # the second reaches past the left edge
    boxes = cut_boxes(image, rows[keep], cols[keep], 16)
    np.testing.assert_array_equal(boxes[0], image[42:58, 52:68])


def test_normalised_background_and_inverted_contrast() -> None:
    rng = np.random.default_rng(0)
    boxes = rng.normal(5, 3, (4, 24, 24)).astype(np.float32)
    boxes[:, 10:14, 10:14] -= 20  # dark particle in the centre
    out = normalize_boxes(boxes, background_radius_px=9, invert_contrast=True)
    yy, xx = np.mgrid[:24, :24]
    background = np.hypot(yy - 11.5, xx - 11.5) > 9
    np.testing.assert_allclose(out[:, background].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(out[:, background].std(axis=1), 1, atol=1e-4)
    assert (out[:, 10:14, 10:14].mean(axis=(1, 2)) > 3).all()  # white after inversion
    flat = normalize_boxes(np.ones((1, 8, 8), dtype=np.float32), background_radius_px=2, invert_contrast=False)
    np.testing.assert_array_equal(flat, 0)  # no division by a zero spread
