"""What a trained model's model.json says about it: what it is, what it was trained on and how.

Provenance in the manner of cryoDRGN's config: the geometry and normalisation later steps need,
the objective and priors, and the run's settings, data split and history.
"""

import sys
from dataclasses import asdict
from typing import Any

from cryopick import __version__
from cryopick.config import Geometry, TrainConfig
from cryopick.preprocess.normalization import Normalization
from cryopick.train.picker import FittedPicker


def model_record(config: TrainConfig, geometry: Geometry, normalization: Normalization, fitted: FittedPicker, *,
                 command: list[str] | None, n_labeled: int, init_model: str | None, train_names: list[str],
                 validation_names: list[str], tuning_record: dict[str, Any] | None) -> dict[str, Any]:
    """model.json's record of a trained picker (the architecture is added where it is saved)."""
    result = fitted.result
    record: dict[str, Any] = {
        "version": __version__,
        "cmd": command if command is not None else sys.argv,
        "geometry": geometry.to_json(),
        "normalization": normalization.to_json(),
        "label_radius_px": config.label_radius_px,
        "objective": {"name": config.objective, "weight": config.resolved_objective_weight,
                      "pi": fitted.pi, "pi_u": fitted.pi_u, "autoencoder_weight": fitted.autoencoder_weight},
        "training": {
            "config": asdict(config),
            "n_labeled": n_labeled,
            "precision": fitted.precision,
            "init_model": init_model,
            "train_micrographs": train_names,
            "validation_micrographs": validation_names,
            "best_epoch": result.best_epoch,
            "best_validation_ap": result.best_validation_ap,
            "stopped_early": result.stopped_early,
            "history": [asdict(h) for h in result.history],
        },
    }
    if tuning_record is not None:
        record["tuning"] = tuning_record
    return record
