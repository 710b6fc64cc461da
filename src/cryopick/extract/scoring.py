"""Dense logits over whole micrographs, in bounded memory.

Each micrograph is zero-padded by half a receptive field and cut into tiles of at most
``tile_size_px`` outputs, each carrying its halo; tiles of all micrographs are batched together.
Since every convolution is unpadded, the stitched result equals scoring the whole image at once.
A net with padded layers (the pools of Topaz's conv31/63/127) sees its padding at the edges of
whatever it is given, so each of its tiles also carries a margin of image beyond its halo (none
where the tile meets the padded image's edge, exactly as when the whole image is scored) and is
scored alone, at its own size: the stitched result is again the whole image's score.
With ``output_stride`` k > 1 only every k-th pixel (in both directions) is scored: the same
logits as at k = 1 at those pixels, for about 1/k^2 of the arithmetic.
"""

import copy
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import torch

from cryopick.models import PickerNet, dense_mode


def _tiles(shape: tuple[int, int], tile_rows: int, tile_cols: int) -> Iterator[tuple[int, int, int, int]]:
    rows, cols = shape
    for top in range(0, rows, tile_rows):
        for left in range(0, cols, tile_cols):
            yield top, left, min(tile_rows, rows - top), min(tile_cols, cols - left)


def score_micrographs(
    model: PickerNet,
    images: list[npt.NDArray[np.float32]],
    *,
    device: torch.device,
    batch_size: int = 1,
    tile_size_px: int = 1024,
    output_stride: int = 1,
) -> list[npt.NDArray[np.float32]]:
    """Score whole images densely with a picker.

    Logits (log-likelihood ratios), one array per image: element (i, j) is pixel
    (i * output_stride, j * output_stride); at stride 1 the image's own shape.
    """
    if not images:
        return []
    k = output_stride
    half = model.receptive_field_px // 2

    def whole(n: int) -> int:  # a tile boundary must fall on the output grid
        return -(-n // k) * k

    tile_rows = whole(min(tile_size_px, max(image.shape[0] for image in images)))
    tile_cols = whole(min(tile_size_px, max(image.shape[1] for image in images)))
    # a private copy (a few milliseconds): the caller's model keeps its device, layout, strides and
    # mode. Channels-last lets oneDNN/cuDNN run the dilated convolutions near matmul speed (~1.5x on CPU)
    model = copy.deepcopy(model).eval().to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    scores = [np.empty((-(-image.shape[0] // k), -(-image.shape[1] // k)), dtype=np.float32) for image in images]
    jobs = []
    padded = [np.pad(np.asarray(image, dtype=np.float32), half) for image in images]
    for index, image in enumerate(images):
        for top, left, rows, cols in _tiles(image.shape, tile_rows, tile_cols):
            jobs.append((index, top, left, rows, cols))
    margin = whole(half) if model.has_padded_layers else 0  # image beyond the halo, to keep padding out

    def window(index: int, top: int, left: int, rows: int, cols: int) -> tuple[int, int, int, int]:
        """The rows and columns of the padded image that a tile is scored from."""
        height, width = padded[index].shape
        return (top - min(top, margin), min(height, top + rows + 2 * half + margin),
                left - min(left, margin), min(width, left + cols + 2 * half + margin))

    step = batch_size if margin == 0 else 1
    with dense_mode(model, k), torch.inference_mode():
        for start in range(0, len(jobs), step):
            chunk = jobs[start: start + step]
            windows = [window(*job) for job in chunk]
            shape = (tile_rows + 2 * half, tile_cols + 2 * half) if margin == 0 else \
                (windows[0][1] - windows[0][0], windows[0][3] - windows[0][2])
            batch = np.zeros((len(chunk), 1, *shape), dtype=np.float32)
            for slot, ((index, *_), (r0, r1, c0, c1)) in enumerate(zip(chunk, windows, strict=True)):
                batch[slot, 0, : r1 - r0, : c1 - c0] = padded[index][r0:r1, c0:c1]
            tiles = torch.from_numpy(batch).to(device, memory_format=torch.channels_last)
            logits = model(tiles).float().cpu().numpy()
            for slot, ((index, top, left, rows, cols), (r0, _, c0, _)) in enumerate(zip(chunk, windows, strict=True)):
                out_rows, out_cols = -(-rows // k), -(-cols // k)
                skip_rows, skip_cols = (top - r0) // k, (left - c0) // k
                scores[index][top // k: top // k + out_rows, left // k: left // k + out_cols] = \
                    logits[slot, 0, skip_rows: skip_rows + out_rows, skip_cols: skip_cols + out_cols]
    return scores
