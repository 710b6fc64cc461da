"""Convert a training state to and from the halves of an epoch checkpoint.

A :class:`TrainingState` as flat arrays plus a JSON-able record, and back: the two halves
of an epoch checkpoint, so that ``io`` stores it without knowing what training keeps.
"""

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cryopick.config import TrainConfig, TuningConfig
from cryopick.errors import ConfigError
from cryopick.train.loop import EpochRecord, TrainingState

log = logging.getLogger(__name__)


def run_identity(config: TrainConfig, *, particles_sha256: list[str], manifest_sha256: str,
                 init_weights_sha256: str | None, tuning: TuningConfig | None) -> dict[str, Any]:
    """What a run was made from: a checkpoint or tuning table is reused only by a run of the same.

    The inputs' hashes and every setting but the device (resuming on another device is fine).
    """
    config_record = asdict(config)
    config_record.pop("device")
    identity: dict[str, Any] = {"config": config_record, "particles_sha256": particles_sha256,
                                "manifest_sha256": manifest_sha256, "init_weights_sha256": init_weights_sha256}
    if tuning is not None:
        identity["tuning"] = asdict(tuning)
    return identity


def resume_from(found: tuple[dict[str, np.ndarray], dict[str, Any]] | None, identity: dict[str, Any], *,
                checkpoint_dir: Path) -> TrainingState | None:
    """The state to resume: the newest checkpoint ``found``, refused unless made by a run of ``identity``."""
    if found is None:
        log.warning("--resume: no checkpoint in %s, starting from the beginning", checkpoint_dir)
        return None
    tensors, checkpoint_record = found
    if checkpoint_record.get("identity") != identity:
        raise ConfigError(f"--resume: the checkpoint in {checkpoint_dir} was made from other inputs or "
                          "settings; rerun without --resume to start afresh")
    return state_from_bundle(tensors, checkpoint_record)


def state_to_bundle(state: TrainingState, identity: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a training state into tensors and a JSON-able record.

    Tensors and record of ``state``; ``identity`` (inputs and settings) is kept to refuse a
    resume from other inputs.
    """
    tensors: dict[str, np.ndarray] = {"torch_rng": state.torch_rng.numpy()}
    tensors.update({f"model.{k}": v.detach().cpu().numpy() for k, v in state.model.items()})
    tensors.update({f"best.{k}": v.detach().cpu().numpy() for k, v in state.best_state.items()})
    if state.decoder is not None:
        tensors.update({f"decoder.{k}": v.detach().cpu().numpy() for k, v in state.decoder.items()})
    for index, slots in state.optimizer["state"].items():
        for key, value in slots.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().numpy()
    record = {
        "identity": identity, "epoch": state.epoch, "best_validation_ap": state.best_validation_ap,
        "best_epoch": state.best_epoch, "epochs_without_gain": state.epochs_without_gain,
        "history": [asdict(h) for h in state.history], "sampler_rng": state.sampler_rng,
        "optimizer_param_groups": state.optimizer["param_groups"],
    }
    return tensors, record


def state_from_bundle(tensors: dict[str, np.ndarray], record: dict[str, Any]) -> TrainingState:
    """The inverse of :func:`state_to_bundle`."""
    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith(prefix)}

    optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in part("optimizer.").items():
        index, slot = key.split(".", 1)
        optimizer_state.setdefault(int(index), {})[slot] = value
    return TrainingState(
        epoch=int(record["epoch"]), model=part("model."),
        optimizer={"state": optimizer_state, "param_groups": record["optimizer_param_groups"]},
        best_state=part("best."), best_validation_ap=record["best_validation_ap"],
        best_epoch=int(record["best_epoch"]), epochs_without_gain=int(record["epochs_without_gain"]),
        history=[EpochRecord(**h) for h in record["history"]], sampler_rng=record["sampler_rng"],
        torch_rng=torch.from_numpy(tensors["torch_rng"].copy()),
        decoder=part("decoder.") or None,
    )
