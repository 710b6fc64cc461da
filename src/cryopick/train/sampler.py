"""Balanced minibatches of crops, drawn in bulk.

Every micrograph is zero-padded by half a receptive field and stored in one flat tensor, so a
minibatch is a single gather. The random 90-degree rotation and flip of each crop are folded into
the gather indices (eight precomputed offset grids), so augmentation costs nothing extra.

For a net that first averages k x k blocks (``input_pool`` k, for particles too wide for its
receptive field) each micrograph is stored pooled at each of its k^2 block alignments: a crop
centred on any pixel is then a gather of already-pooled pixels, the same numbers the net's own
pool would give for the full crop, at 1/k^2 of the gather (cutting the full k-times-wider crops
costs more than the step itself).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from cryopick.models import pool_blocks
from cryopick.pixels import disc_offsets


@dataclass(frozen=True)
class LabelledMicrograph:
    """A normalised micrograph with its labelled particle centres, in working pixels."""

    image: npt.NDArray[np.float32]  # (rows, cols), normalised, working pixels
    centres_px: npt.NDArray[np.float64]  # (n, 2) labelled particle centres as (y, x), working px


def _augmented_offsets(crop_px: int) -> torch.Tensor:
    """(8, crop, crop, 2) (dy, dx) grids: the 4 rotations of the crop, each with and without flip."""
    half = crop_px // 2
    dy, dx = np.mgrid[-half: crop_px - half, -half: crop_px - half]
    grids = []
    for flip in (False, True):
        for quarter_turns in range(4):
            gy = np.rot90(dy, quarter_turns)
            gx = np.rot90(dx, quarter_turns)
            if flip:
                gy, gx = gy[:, ::-1], gx[:, ::-1]
            grids.append(np.stack([gy, gx], axis=-1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(grids))).long()


class CropSampler:
    """Minibatches of crops for PU training, a fixed share on labelled positives.

    Draws minibatches of ``crop_px``-wide crops: a fixed share centred on labelled-positive
    pixels (within ``label_radius_px`` of a label), the rest on unlabelled pixels. With
    ``input_pool`` k > 1 the crops are of the micrograph pooled k x k (``models.pool_blocks``):
    ``crop_px`` pooled pixels across, covering ``k * crop_px`` working pixels centred on the pixel
    drawn, as the net's pool would see them.
    """

    def __init__(self, micrographs: list[LabelledMicrograph], *, crop_px: int, label_radius_px: float,
                 seed: int, input_pool: int = 1) -> None:
        if not micrographs:
            raise ValueError("no micrographs to sample from")
        self.crop_px = crop_px
        self.half = crop_px // 2
        self.input_pool = input_pool
        self.rng = np.random.default_rng(seed)
        self.shapes = np.array([m.image.shape for m in micrographs], dtype=np.int64)
        planes = []  # micrograph m, alignment (a, b): plane m * k^2 + a * k + b
        for m in micrographs:
            padded = np.pad(m.image.astype(np.float32), crop_px * input_pool // 2)
            for a in range(input_pool):
                for b in range(input_pool):
                    planes.append(pool_blocks(padded[a:, b:], input_pool))
        plane_shapes = np.array([plane.shape for plane in planes], dtype=np.int64)
        sizes = plane_shapes[:, 0] * plane_shapes[:, 1]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.padded_cols = plane_shapes[:, 1]
        self.flat = torch.from_numpy(np.concatenate([plane.ravel() for plane in planes]))
        # the 8 rotation/flip grids as flat offsets, for each plane width (one or two for micrographs
        # of one size; 8 x crop^2 offsets each): a crop's pixel indices are then one add
        grids = _augmented_offsets(crop_px)
        widths, self.width_of_plane = np.unique(self.padded_cols, return_inverse=True)
        self.flat_grids = torch.from_numpy(widths)[:, None, None, None] * grids[None, ..., 0] + grids[None, ..., 1]
        disc = disc_offsets(label_radius_px)
        positives, masks = [], []
        for index, m in enumerate(micrographs):
            rows, cols = m.image.shape
            mask = np.zeros((rows, cols), dtype=bool)
            if len(m.centres_px):
                centres = np.rint(m.centres_px).astype(np.int64)
                pts = (centres[:, None, :] + disc[None, :, :]).reshape(-1, 2)
                keep = (pts[:, 0] >= 0) & (pts[:, 0] < rows) & (pts[:, 1] >= 0) & (pts[:, 1] < cols)
                mask[pts[keep, 0], pts[keep, 1]] = True
            ys, xs = np.nonzero(mask)
            positives.append(np.stack([np.full(len(ys), index), ys, xs], axis=1))
            masks.append(mask)
        self.positives = np.concatenate(positives).astype(np.int64)
        self.areas = self.shapes[:, 0] * self.shapes[:, 1]
        self.flat_mask = np.concatenate([m.ravel() for m in masks])
        self.mask_offsets = np.concatenate([[0], np.cumsum(self.areas)[:-1]]).astype(np.int64)
        self.total_pixels = int(self.areas.sum())

    @property
    def labelled_positive_pixels(self) -> int:
        """How many pixels count as labelled positives."""
        return len(self.positives)

    def _unlabelled(self, count: int) -> npt.NDArray[np.int64]:
        chosen: list[npt.NDArray[np.int64]] = []
        needed = count
        while needed > 0:
            draw = int(needed * 1.2) + 8
            image = self.rng.choice(len(self.areas), size=draw, p=self.areas / self.total_pixels)
            y = (self.rng.random(draw) * self.shapes[image, 0]).astype(np.int64)
            x = (self.rng.random(draw) * self.shapes[image, 1]).astype(np.int64)
            labelled = self.flat_mask[self.mask_offsets[image] + y * self.shapes[image, 1] + x]
            found = np.stack([image, y, x], axis=1)[~labelled][:needed]
            chosen.append(found)
            needed -= len(found)
        return np.concatenate(chosen)

    def crops(self, centres: npt.NDArray[np.int64], transforms: npt.NDArray[np.int64] | None = None) -> torch.Tensor:
        """(n, 1, crop, crop) crops centred on ``centres`` rows of (image, y, x)."""
        k = self.input_pool
        image = torch.from_numpy(centres[:, 0] * k * k + (centres[:, 1] % k) * k + centres[:, 2] % k)
        y = torch.from_numpy(centres[:, 1] // k + self.half)
        x = torch.from_numpy(centres[:, 2] // k + self.half)
        t = torch.zeros(len(centres), dtype=torch.long) if transforms is None else torch.from_numpy(transforms)
        centre_index = torch.from_numpy(self.offsets)[image] + y * torch.from_numpy(self.padded_cols)[image] + x
        width = torch.from_numpy(self.width_of_plane)[image]
        return self.flat[centre_index[:, None, None] + self.flat_grids[width, t]].unsqueeze(1)

    def minibatch(self, batch_size: int, positive_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(crops (B, 1, crop, crop), labels (B,) bool), randomly rotated and flipped."""
        n_positive = max(1, round(batch_size * positive_fraction)) if len(self.positives) else 0
        pos = self.positives[self.rng.integers(len(self.positives), size=n_positive)] if n_positive else \
            np.zeros((0, 3), dtype=np.int64)
        unl = self._unlabelled(batch_size - n_positive)
        centres = np.concatenate([pos, unl]).astype(np.int64)
        transforms = self.rng.integers(8, size=len(centres))
        labels = torch.zeros(len(centres), dtype=torch.bool)
        labels[:n_positive] = True
        return self.crops(centres, transforms), labels
