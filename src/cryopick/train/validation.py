"""Score a model on held-out micrographs as extract and evaluate would.

Held-out scoring: a model's picks on labelled micrographs, scored as `extract` and `evaluate`
would score them, to choose the best epoch and to rank settings in cross-validation.
"""

import numpy as np
import torch

from cryopick.evaluate.matching import match_picks
from cryopick.evaluate.metrics import precision_recall
from cryopick.extract.picking import peaks_working_px
from cryopick.extract.scoring import score_micrographs
from cryopick.models import PickerNet


def held_out_ap(model: PickerNet, images: list[np.ndarray], centres: list[np.ndarray], *,
                radius_px: float, device: torch.device, output_stride: int = 1) -> float:
    """Average precision of a model on held-out labelled micrographs.

    AP of dense picks against the held-out micrographs' labels (in working pixels), scoring
    every ``output_stride``-th pixel as extract does.
    """
    scores = score_micrographs(model, images, device=device, output_stride=output_stride)
    all_scores, all_matched = [], []
    for score_map, truth in zip(scores, centres, strict=True):
        picked, values = peaks_working_px(score_map, score_stride_px=output_stride, nms_radius_px=radius_px,
                                          threshold=-np.inf)
        all_matched.append(match_picks(picked, truth[:, ::-1], values, radius=radius_px))
        all_scores.append(values)
    n_reference = sum(len(c) for c in centres)
    curve = precision_recall(np.concatenate(all_scores), np.concatenate(all_matched), n_reference=n_reference)
    return curve.average_precision
