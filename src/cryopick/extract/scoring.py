"""Dense logits over whole micrographs, in bounded memory.

Each micrograph is zero-padded by half a receptive field and cut into tiles of at most
``tile_size_px`` outputs, each carrying its halo; tiles of all micrographs are batched together.
Since every convolution is unpadded, the stitched result equals scoring the whole image at once.
"""

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import torch

from cryopick.models import PickerNet, dense_mode


def _tiles(shape: tuple[int, int], tile_px: int) -> Iterator[tuple[int, int, int, int]]:
    rows, cols = shape
    for top in range(0, rows, tile_px):
        for left in range(0, cols, tile_px):
            yield top, left, min(tile_px, rows - top), min(tile_px, cols - left)


@torch.inference_mode()
def score_micrographs(
    model: PickerNet,
    images: list[npt.NDArray[np.float32]],
    *,
    device: torch.device,
    batch_size: int = 4,
    tile_size_px: int = 1024,
) -> list[npt.NDArray[np.float32]]:
    """Logits (log-likelihood ratios), one (rows, cols) array per image, same shape as it."""
    if not images:
        return []
    half = model.receptive_field_px // 2
    tile_px = min(tile_size_px, max(max(image.shape) for image in images))
    window = tile_px + 2 * half
    model.eval()
    model.to(device)
    scores = [np.empty(image.shape, dtype=np.float32) for image in images]
    jobs = []
    padded = [np.pad(np.asarray(image, dtype=np.float32), half) for image in images]
    for index, image in enumerate(images):
        for top, left, rows, cols in _tiles(image.shape, tile_px):  # type: ignore[arg-type]
            jobs.append((index, top, left, rows, cols))
    with dense_mode(model):
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start: start + batch_size]
            batch = np.zeros((len(chunk), 1, window, window), dtype=np.float32)
            for slot, (index, top, left, rows, cols) in enumerate(chunk):
                batch[slot, 0, : rows + 2 * half, : cols + 2 * half] = \
                    padded[index][top: top + rows + 2 * half, left: left + cols + 2 * half]
            logits = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()
            for slot, (index, top, left, rows, cols) in enumerate(chunk):
                scores[index][top: top + rows, left: left + cols] = logits[slot, 0, :rows, :cols]
    return scores
