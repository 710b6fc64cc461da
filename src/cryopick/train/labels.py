"""Choose which labels train, and on which micrographs, reproducibly.

Which labels train, and on which micrographs: duplicates dropped, a subsample drawn, whole
micrographs held out. Pure functions of the label table and a seed, so a rerun draws the same.
"""

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cryopick.errors import InputError
from cryopick.extract.rescale import to_working_px
from cryopick.picks import Picks
from cryopick.train.sampler import LabelledMicrograph

log = logging.getLogger(__name__)


def check_labels(picks: Picks, shapes_orig_px: Mapping[str, tuple[int, int]], *, where: str) -> None:
    """Refuse labels that name no given micrograph or lie outside it.

    Every label names one of the micrographs (``shapes_orig_px``: their (rows, columns)) and
    lies inside it, or the file is refused; ``where`` says what those micrographs are.
    """
    source = picks.source or Path("labels")
    for row, name in enumerate(picks.micrograph.tolist()):
        shape = shapes_orig_px.get(name)
        if shape is None:
            raise InputError(source, f"micrograph {name!r} is not among the {len(shapes_orig_px)} {where}",
                             line=picks.line_of(row))
        rows, cols = shape
        x, y = float(picks.x_orig_px[row]), float(picks.y_orig_px[row])
        if not (0 <= x <= cols - 1 and 0 <= y <= rows - 1):
            raise InputError(source, f"particle at ({x:g}, {y:g}) lies outside micrograph {name!r} "
                                     f"({cols} x {rows} px)", line=picks.line_of(row))


def combine_labels(parts: list[Picks], files: list[Path], shapes_orig_px: Mapping[str, tuple[int, int]], *,
                   where: str) -> Picks:
    """Every label file's picks (``parts``, read from ``files``), checked, as one table without duplicates."""
    for part in parts:
        check_labels(part, shapes_orig_px, where=where)
    if not sum(len(part) for part in parts):
        raise InputError(files[0], "contains no particles" if len(files) == 1
                         else f"none of these {len(files)} files contains a particle")
    return drop_duplicate_labels(parts[0] if len(parts) == 1 else Picks.concatenate(parts))


def drop_duplicate_labels(picks: Picks) -> Picks:
    """The same centre listed twice would count twice as labelled; keep the first."""
    keys = np.rec.fromarrays([picks.micrograph, np.round(picks.x_orig_px, 2), np.round(picks.y_orig_px, 2)])
    _, first = np.unique(keys, return_index=True)
    if len(first) < len(picks):
        log.warning("%s: dropping %d duplicate labels", picks.source, len(picks) - len(first))
        return picks.select(np.sort(first))
    return picks


def subsample_labels(picks: Picks, num_labeled: int | None, seed: int) -> Picks:
    """``num_labeled`` labels drawn at random (seeded), or all of them."""
    if num_labeled is None or num_labeled >= len(picks):
        if num_labeled is not None:
            log.warning("asked for %d labels but the file has %d: using all", num_labeled, len(picks))
        return picks
    chosen = np.sort(np.random.default_rng(seed).choice(len(picks), size=num_labeled, replace=False))
    return picks.select(chosen)


def split_micrographs(names: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Hold out whole micrographs (neighbouring particles are not independent)."""
    if fraction <= 0 or len(names) < 2:
        if fraction > 0:  # asked for, but impossible
            log.warning("only %d labelled micrograph(s): no held-out validation, keeping the last epoch",
                        len(names))
        return list(names), []
    n_validation = min(len(names) - 1, max(1, round(fraction * len(names))))
    order = np.random.default_rng(seed + 1).permutation(len(names))
    validation = sorted(names[i] for i in order[:n_validation])
    train = sorted(names[i] for i in order[n_validation:])
    return train, validation


def labelled_micrograph(image: npt.NDArray[np.float32], labels: Picks, *, downsample_factor: int) -> LabelledMicrograph:
    """A preprocessed micrograph with its labels (in original pixels) brought to its working pixels."""
    centres = np.stack([
        to_working_px(labels.y_orig_px, downsample_factor=downsample_factor),
        to_working_px(labels.x_orig_px, downsample_factor=downsample_factor),
    ], axis=1)
    return LabelledMicrograph(image, centres)


def training_sets(micrographs: dict[str, LabelledMicrograph], train_names: list[str], validation_names: list[str],
                  *, source: Path) -> tuple[list[LabelledMicrograph], list[LabelledMicrograph]]:
    """The training and held-out micrographs; refused (naming ``source``) when none left trains on a label."""
    train_set = [micrographs[n] for n in train_names]
    validation_set = [micrographs[n] for n in validation_names]
    if not sum(len(m.centres_px) for m in train_set):
        raise InputError(source, "after subsampling, no labelled particle lies on a training "
                                 "micrograph: label more, or lower --validation-fraction")
    return train_set, validation_set
