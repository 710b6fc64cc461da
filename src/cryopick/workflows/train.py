"""``run_train``: preprocessed micrographs + labelled centres in, a model directory out.

Reads the manifest, the labels and the micrographs, unpacks the config, and leaves the training,
its held-out scoring and the k-fold search to ``cryopick.train``; writes the model, checkpoints
and the tuning table.
"""

import json
import logging
import shutil
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cryopick import __version__
from cryopick.config import Geometry, TrainConfig, TuningConfig, sizes_agree
from cryopick.device import resolve_device
from cryopick.errors import ConfigError, InputError
from cryopick.extract.rescale import to_working_px
from cryopick.io._atomic import atomic_write_text
from cryopick.io.coordinates import coordinate_files, read_picks
from cryopick.io.manifest import PreprocessManifest, read_manifest
from cryopick.io.micrographs import read_micrograph
from cryopick.io.model_files import file_sha256, load_latest_checkpoint, save_checkpoint
from cryopick.io.pretrained import GENERAL_DETECTOR, packaged_model_dir
from cryopick.models import PickerNet
from cryopick.picks import Picks
from cryopick.train.calibration import score_record
from cryopick.train.checkpoint import state_from_bundle, state_to_bundle
from cryopick.train.init import INIT_AUTO, INIT_GENERAL, INIT_NONE, GeneralDetector, start_from_general
from cryopick.train.labels import check_labels, drop_duplicate_labels, split_micrographs, subsample_labels
from cryopick.train.loop import TrainingState
from cryopick.train.picker import FittedPicker, fit_picker
from cryopick.train.sampler import LabelledMicrograph
from cryopick.train.tuning import tune, tuning_csv
from cryopick.workflows.modelio import load_picker, save_picker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSummary:
    """What a training run saved and how it went."""

    model_dir: Path
    best_epoch: int
    best_validation_ap: float | None
    pi: float
    pi_u: float
    n_labeled: int
    train_micrographs: list[str]
    validation_micrographs: list[str]


TUNING_NAME = "tuning"
CHECKPOINT_DIR = "checkpoint"


def _tuning_results(config: TrainConfig, tuning: TuningConfig, micrographs: dict[str, LabelledMicrograph],
                    geometry: Geometry, device: torch.device, output_dir: Path, *, identity: dict[str, Any],
                    resume: bool, quiet: bool, init: PickerNet | None = None) -> dict[str, Any]:
    """Run (or reuse) the cross-validation and write its table.

    Cross-validate (or, resuming, reuse the saved table of the same inputs) and write the
    table as tuning.csv and tuning.json.
    """
    json_path = output_dir / f"{TUNING_NAME}.json"
    if resume and json_path.exists():
        saved = json.loads(json_path.read_text())
        if saved.get("identity") == identity:
            log.info("--resume: reusing the cross-validation table in %s", json_path)
            return dict(saved["tuning"])
    record = tune(config, tuning, micrographs, geometry, device, quiet=quiet, init=init)
    atomic_write_text(output_dir / f"{TUNING_NAME}.csv", tuning_csv(record["rows"], record["chosen"], tuning.k_fold))
    atomic_write_text(json_path, json.dumps({"identity": identity, "tuning": record}, indent=1) + "\n")
    return record


def _resume_state(checkpoint_dir: Path, identity: dict[str, Any], resume: bool) -> TrainingState | None:
    """The newest checkpoint of the same inputs and settings when resuming; otherwise old ones go."""
    if not resume:
        if checkpoint_dir.exists():
            shutil.rmtree(checkpoint_dir)
        return None
    found = load_latest_checkpoint(checkpoint_dir)
    if found is None:
        log.warning("--resume: no checkpoint in %s, starting from the beginning", checkpoint_dir)
        return None
    tensors, checkpoint_record = found
    if checkpoint_record.get("identity") != identity:
        raise ConfigError(f"--resume: the checkpoint in {checkpoint_dir} was made from other inputs or "
                          "settings; rerun without --resume to start afresh")
    return state_from_bundle(tensors, checkpoint_record)


def _read_labels(paths: list[Path], fmt: str | None, manifest: PreprocessManifest,
                 preprocessed_dir: Path) -> tuple[list[Path], Picks]:
    """Every label file, checked against the manifest, as one table without duplicates."""
    label_files = coordinate_files(paths, fmt)
    label_parts = [read_picks(path, fmt) for path in label_files]
    for part in label_parts:
        check_labels(part, {name: r.shape_orig_px for name, r in manifest.micrographs.items()},
                     where=f"preprocessed micrographs in {preprocessed_dir}")
    if not sum(len(part) for part in label_parts):
        raise InputError(label_files[0], "contains no particles" if len(label_files) == 1
                         else f"none of these {len(label_files)} files contains a particle")
    return label_files, drop_duplicate_labels(
        label_parts[0] if len(label_parts) == 1 else Picks.concatenate(label_parts))


def _model_record(config: TrainConfig, manifest: PreprocessManifest, fitted: FittedPicker, *,
                  command: list[str] | None, n_labeled: int, init_model: str | None, train_names: list[str],
                  validation_names: list[str], tuning_record: dict[str, Any] | None) -> dict[str, Any]:
    """model.json: what the model is, what it was trained on and how (cryoDRGN-style provenance)."""
    result = fitted.result
    record: dict[str, Any] = {
        "version": __version__,
        "cmd": command if command is not None else sys.argv,
        "geometry": manifest.geometry.to_json(),
        "normalization": manifest.normalization.to_json(),
        "label_radius_px": config.label_radius_px,
        "objective": {"name": config.objective, "weight": config.resolved_objective_weight,
                      "pi": fitted.pi, "pi_u": fitted.pi_u, "autoencoder_weight": fitted.autoencoder_weight},
        "training": {
            "config": asdict(config),
            "n_labeled": n_labeled,
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


def load_init(init: str | Path | None, geometry: Geometry,
              config: TrainConfig) -> tuple[PickerNet | None, str | None, str | None]:
    """``--init`` read once: the start model (or none), the name to record of it, its weights' hash."""
    if init is None or str(init) == INIT_NONE:
        return None, None, None
    general = str(init) in (INIT_AUTO, INIT_GENERAL)
    model, record, init_geometry = load_picker(packaged_model_dir(GENERAL_DETECTOR) if general else Path(init))
    if general:
        detector = GeneralDetector(architecture=model.name, units=int(model.options["units"]),
                                   particle_diameter_px_range=tuple(record["general"]["particle_diameter_px_range"]))
        if not start_from_general(str(init), detector, particle_diameter_px=2 * geometry.particle_radius_px,
                                  config=config):
            return None, None, None
        log.info("starting from the general detector (--init none: from scratch)")
    elif not sizes_agree(init_geometry.working_pixel_size_A, geometry.working_pixel_size_A):
        log.warning("the --init model works at %.3g A/px, these micrographs at %.3g A/px: its features are "
                    "at another scale (preprocess with a matching --downsample to use them fully)",
                    init_geometry.working_pixel_size_A, geometry.working_pixel_size_A)
    return model, GENERAL_DETECTOR if general else str(init), record.get("weights_sha256")


def run_train(
    config: TrainConfig,
    preprocessed_dir: Path,
    particles_paths: list[Path],
    output_dir: Path,
    *,
    particles_format: str | None = None,
    quiet: bool = False,
    command: list[str] | None = None,
    resume: bool = False,
    tuning: TuningConfig | None = None,
    init_model: str | Path | None = None,
) -> TrainSummary:
    """Train and save a model.

    With ``resume``, continue from the newest checkpoint in
    ``output_dir/checkpoint`` (written after every epoch) if it was made from the same inputs and
    settings; the result is the same as an uninterrupted run. With ``tuning``, first choose the
    expected count and autoencoder weight by k-fold cross-validation over the labelled micrographs.
    With ``init_model`` (a model directory: cryopick's, or one imported from Topaz; ``general``, the
    packaged detector; ``auto``, general where it fits), start from its architecture and weights.
    """
    manifest = read_manifest(preprocessed_dir)
    geometry = manifest.geometry
    init, init_name, init_weights_sha256 = load_init(init_model, geometry, config)
    # recorded as used, so the model and the resume identity say which rate it was
    config = replace(config, learning_rate=config.resolved_learning_rate(from_init=init is not None))
    label_files, all_labels = _read_labels(particles_paths, particles_format, manifest, preprocessed_dir)
    micrograph_names = all_labels.micrographs()
    labels = subsample_labels(all_labels, config.num_labeled, config.seed)
    train_names, validation_names = split_micrographs(micrograph_names, config.validation_fraction, config.seed)
    log.info("%d labelled particles on %d micrographs: %d for training, %d held out",
             len(labels), len(micrograph_names), len(train_names), len(validation_names))

    def load(name: str) -> LabelledMicrograph:
        record = manifest.micrographs[name]
        image = read_micrograph(Path(preprocessed_dir) / record.file).array
        mine = labels.for_micrograph(name)
        centres = np.stack([
            to_working_px(mine.y_orig_px, downsample_factor=geometry.downsample_factor),
            to_working_px(mine.x_orig_px, downsample_factor=geometry.downsample_factor),
        ], axis=1)
        return LabelledMicrograph(image, centres)

    all_loaded = {name: load(name) for name in micrograph_names}
    train_set = [all_loaded[n] for n in train_names]
    validation_set = [all_loaded[n] for n in validation_names]
    if not sum(len(m.centres_px) for m in train_set):
        raise InputError(label_files[0], "after subsampling, no labelled particle lies on a training "
                                         "micrograph: label more, or lower --validation-fraction")
    device = resolve_device(config.device)
    config_record = asdict(config)
    config_record.pop("device")  # resuming on another device is fine
    identity = {"config": config_record, "particles_sha256": [file_sha256(path) for path in label_files],
                "manifest_sha256": file_sha256(Path(preprocessed_dir) / "preprocess.json"),
                "init_weights_sha256": init_weights_sha256}
    tuning_record: dict[str, Any] | None = None
    if tuning is not None:
        identity["tuning"] = asdict(tuning)
        tuning_record = _tuning_results(config, tuning, all_loaded, geometry, device, Path(output_dir),
                                        identity=identity, resume=resume, quiet=quiet, init=init)
        best = tuning_record["chosen"]
        config = replace(config, expected_particles_per_micrograph=best["expected_particles_per_micrograph"],
                         autoencoder_weight=best["autoencoder_weight"])
    checkpoint_dir = Path(output_dir) / CHECKPOINT_DIR
    resume_state = _resume_state(checkpoint_dir, identity, resume)

    def checkpoint(state: TrainingState) -> None:
        tensors, checkpoint_record = state_to_bundle(state, identity)
        save_checkpoint(checkpoint_dir, state.epoch, tensors, checkpoint_record)

    try:
        fitted = fit_picker(config, train_set, validation_set, n_labeled=len(labels), geometry=geometry,
                            device=device, quiet=quiet, resume=resume_state, on_epoch_end=checkpoint, init=init)
    except FloatingPointError as diverged:
        raise ConfigError(f"{diverged}: the learning rate {config.learning_rate:g} is too high for these data; "
                          "lower --learning-rate") from None
    model, result, pi, pi_u = fitted.model, fitted.result, fitted.pi, fitted.pi_u
    if result.history and not np.isfinite(result.history[-1].loss):
        raise ConfigError("training diverged; lower --learning-rate")
    record = _model_record(config, manifest, fitted, command=command, n_labeled=len(labels), init_model=init_name,
                           train_names=train_names, validation_names=validation_names, tuning_record=tuning_record)
    record["score_calibration"] = score_record(
        model, result.best_state, train_set + validation_set, particle_radius_px=geometry.particle_radius_px,
        expected_particles_per_micrograph=config.expected_particles_per_micrograph, device=device, seed=config.seed)
    save_picker(Path(output_dir), model, result.best_state, record)
    log.info("saved the model of epoch %d (held-out AP %s) to %s", result.best_epoch,
             "n/a" if result.best_validation_ap is None else f"{result.best_validation_ap:.4f}", output_dir)
    return TrainSummary(Path(output_dir), result.best_epoch, result.best_validation_ap, pi, pi_u,
                        len(labels), train_names, validation_names)
