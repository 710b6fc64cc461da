"""The score record: a dataset sample that repeats a labelled micrograph is not picked twice."""

import numpy as np
import pytest
import torch

import cryopick.train.calibration as calibration
from cryopick.models import build_model
from cryopick.synthetic import make_micrograph
from cryopick.train.sampler import LabelledMicrograph


def _labelled(seed: int) -> LabelledMicrograph:
    mic = make_micrograph((96, 96), n_particles=10, diameter_px=12.0, snr=2.0, n_distractors=0,
                          carbon_edge=False, seed=seed)
    image = ((mic.image - mic.image.mean()) / mic.image.std()).astype(np.float32)
    return LabelledMicrograph(image, mic.centres_px.astype(np.float64))


def test_sample_micrographs_that_are_labelled_ones_reuse_their_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = build_model("conv3", units=4).eval()
    labelled = [_labelled(seed) for seed in range(3)]
    unlabelled = _labelled(7).image
    picked = []
    real_pick = calibration._pick

    def counting_pick(*args, **kwargs):  # type: ignore[no-untyped-def]
        picked.append(1)
        return real_pick(*args, **kwargs)

    monkeypatch.setattr(calibration, "_pick", counting_pick)
    common = dict(expected_particles_per_micrograph=10.0, particle_radius_px=6.0, device=torch.device("cpu"), seed=0)
    shared = calibration.score_record(model, model.state_dict(), labelled, **common,
                                      dataset_sample=[m.image for m in labelled] + [unlabelled])
    assert len(picked) == 3 + 1  # the labelled three once, the unlabelled one
    picked.clear()
    copied = calibration.score_record(model, model.state_dict(), labelled, **common,
                                      dataset_sample=[m.image.copy() for m in labelled] + [unlabelled])
    assert len(picked) == 3 + 4  # copies are picked again
    assert shared is not None
    assert shared == copied
    assert shared["dataset_reference"]["n_micrographs"] == 4
