"""What a trained picker's scores mean: the record that lets ``extract`` estimate precision.

Under PU learning's assumption that the labelled particles are a random sample of all particles
("selected completely at random"), the share of picks that are labelled, as a function of the
score, is the labelled share of particles times the chance that a pick is a particle. Training
picks the labelled micrographs once as ``extract`` would (same stride, suppression radius and
score floor), fits that (``cryopick.evaluate.estimate``) and records it in model.json; ``extract``
uses it to estimate precision, recall and F1 at every threshold of any picks the model makes.
It also picks a sample of the dataset's micrographs (labelled or not), so that ``extract`` can
tell whether the micrographs it picks are denser or sparser than the typical one ``-n`` describes.
"""

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from cryopick.config import ExtractConfig, default_of
from cryopick.evaluate.estimate import GRID_STEP, RECORD_VERSION, fit_slope, reference_histogram, slope_replicates
from cryopick.evaluate.matching import match_picks
from cryopick.extract.picking import peaks_working_px
from cryopick.extract.scoring import score_micrographs
from cryopick.models import PickerNet
from cryopick.train.sampler import LabelledMicrograph

log = logging.getLogger(__name__)

#: Micrographs of the dataset picked for its typical density: the mean count over 40 has a
#: relative error of about 5% where counts vary by a third between micrographs.
DATASET_SAMPLE_MICROGRAPHS = 40


@dataclass(frozen=True)
class LabelledPicks:
    """Every pick on labelled micrographs: its score, whether it matched a label, its micrograph."""

    scores: npt.NDArray[np.float64]
    labelled: npt.NDArray[np.bool_]
    micrograph: npt.NDArray[np.int64]
    n_labels: int


def _pick(model: PickerNet, image: npt.NDArray[np.float32], *, nms_radius_px: float, score_stride_px: int,
          score_floor: float, device: torch.device) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One micrograph picked as ``extract`` picks it: (centres as (x, y) in working px, scores)."""
    score_map = score_micrographs(model, [image], device=device, output_stride=score_stride_px)[0]
    return peaks_working_px(score_map, score_stride_px=score_stride_px, nms_radius_px=nms_radius_px,
                            threshold=score_floor)


def pick_labelled(model: PickerNet, micrographs: list[LabelledMicrograph], *, nms_radius_px: float,
                  match_radius_px: float, score_stride_px: int, score_floor: float,
                  device: torch.device) -> LabelledPicks:
    """Pick labelled micrographs as ``extract`` does and mark the picks that match a label.

    Each labelled centre (working px) is matched one-to-one to a pick within ``match_radius_px``
    as ``evaluate`` matches. One micrograph at a time, so memory stays that of extraction.
    """
    scores, flags, groups = [], [], []
    for index, micrograph in enumerate(micrographs):
        picked_xy, values = _pick(model, micrograph.image, nms_radius_px=nms_radius_px,
                                  score_stride_px=score_stride_px, score_floor=score_floor, device=device)
        scores.append(values)
        flags.append(match_picks(picked_xy, micrograph.centres_px[:, ::-1], values, radius=match_radius_px))
        groups.append(np.full(len(values), index, dtype=np.int64))
    return LabelledPicks(np.concatenate(scores), np.concatenate(flags), np.concatenate(groups),
                         sum(len(m.centres_px) for m in micrographs))


def dataset_sample_names(names: Iterable[str], *, seed: int) -> list[str]:
    """Up to ``DATASET_SAMPLE_MICROGRAPHS`` of the dataset's micrographs, the same ones for the same seed."""
    ordered = sorted(names)
    if len(ordered) <= DATASET_SAMPLE_MICROGRAPHS:
        return ordered
    chosen = np.random.default_rng(seed).choice(len(ordered), DATASET_SAMPLE_MICROGRAPHS, replace=False)
    return [ordered[i] for i in sorted(chosen)]


def score_record(model: PickerNet, state: dict[str, torch.Tensor], micrographs: list[LabelledMicrograph], *,
                 expected_particles_per_micrograph: float, particle_radius_px: float, device: torch.device,
                 seed: int, dataset_sample: Iterable[npt.NDArray[np.float32]] = ()) -> dict[str, Any] | None:
    """model.json's ``score_calibration``: how a pick's score maps to the chance it is a particle.

    ``state``: the weights being saved (the model may have trained past them). The labelled
    micrographs are picked with extract's defaults (stride, floor, NMS radius = particle radius)
    and matched as evaluate matches (within the particle radius). The slope is fitted on their
    picks, with bootstrap replicates over micrographs for the band. ``dataset_sample``: normalised
    micrographs of the dataset (loaded one at a time), picked the same way for the typical density;
    one that is a labelled micrograph's own image array reuses that micrograph's picks.
    None when no label is picked.
    """
    nms_radius_px = match_radius_px = particle_radius_px
    score_stride_px = ExtractConfig().resolved_score_stride_px(model.input_pool)
    score_floor = float(default_of(ExtractConfig, "threshold"))
    saved = copy.deepcopy(model).to(device)
    saved.load_state_dict(state)
    saved.eval()
    labelled = [m for m in micrographs if len(m.centres_px)]
    found = pick_labelled(saved, labelled, nms_radius_px=nms_radius_px, match_radius_px=match_radius_px,
                          score_stride_px=score_stride_px, score_floor=score_floor, device=device)
    if not found.labelled.any():
        log.warning("no labelled particle is picked at score >= %g: no score calibration recorded", score_floor)
        return None
    expected = expected_particles_per_micrograph * len(labelled)
    share = min(found.n_labels / expected, 0.999)
    slope, intercept = fit_slope(found.scores, found.labelled, labelled_share=share)
    # a sample micrograph that is a labelled one (the same array) was just picked: not again
    picked_scores = {id(m.image): found.scores[found.micrograph == index] for index, m in enumerate(labelled)}
    sample_scores = [picked_scores[id(image)] if id(image) in picked_scores else
                     _pick(saved, image, nms_radius_px=nms_radius_px, score_stride_px=score_stride_px,
                           score_floor=score_floor, device=device)[1] for image in dataset_sample]
    reference: dict[str, Any] | None = None
    if sample_scores:
        score_low, counts = reference_histogram(sample_scores)
        reference = {"score_low": round(score_low, 4), "bin_width": GRID_STEP, "n_micrographs": len(sample_scores),
                     "picks_per_micrograph": [round(float(c), 4) for c in counts]}
    return {
        "version": RECORD_VERSION,
        "method": "P(labelled | score s) = labelled_share * sigmoid(slope * s + intercept), fitted on the picks "
                  "of the labelled micrographs; extract re-levels the intercept to the expected count",
        "slope": slope,
        "intercept": intercept,
        "slope_replicates": [round(x, 5) for x in slope_replicates(
            found.scores, found.labelled, found.micrograph, labelled_share=share, seed=seed)],
        "labelled_share": share,
        "expected_particles_per_micrograph": expected_particles_per_micrograph,
        "n_labels": found.n_labels,
        "n_labels_picked": int(found.labelled.sum()),
        "n_micrographs": len(labelled),
        "n_picks": len(found.scores),
        "score_floor": score_floor,
        "score_stride_px": score_stride_px,
        "nms_radius_px": nms_radius_px,
        "match_radius_px": match_radius_px,
        "dataset_reference": reference,
    }
