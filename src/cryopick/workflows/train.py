"""``run_train``: preprocessed micrographs + labelled centres in, a model directory out.

Reads the manifest, the labels and the micrographs, unpacks the config, and leaves the training,
its held-out scoring and the k-fold search to ``cryopick.train``; writes the model, checkpoints
and the tuning table.
"""

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryopick.config import Geometry, TrainConfig, TuningConfig
from cryopick.device import resolve_device, retain_freed_memory
from cryopick.io.coordinates import coordinate_files, read_picks
from cryopick.io.manifest import manifest_path, read_manifest
from cryopick.io.micrographs import read_micrograph
from cryopick.io.model_files import file_sha256, load_latest_checkpoint, save_checkpoint
from cryopick.io.pretrained import GENERAL_DETECTOR, packaged_model_dir
from cryopick.io.training_files import CHECKPOINT_DIR, saved_tuning, write_tuning
from cryopick.models import PickerNet
from cryopick.train.calibration import dataset_sample_names, score_record
from cryopick.train.checkpoint import resume_from, run_identity, state_to_bundle
from cryopick.train.init import INIT_NONE, names_general, starts_from
from cryopick.train.labels import (
    combine_labels,
    labelled_micrograph,
    split_micrographs,
    subsample_labels,
    training_sets,
)
from cryopick.train.loop import TrainingState
from cryopick.train.picker import fit_kept_picker, input_pool_for, pooled
from cryopick.train.record import model_record
from cryopick.train.sampler import LabelledMicrograph
from cryopick.train.tuning import tune, tuning_csv, with_chosen
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


def load_init(init: str | Path | None, geometry: Geometry,
              config: TrainConfig) -> tuple[PickerNet | None, str | None, str | None]:
    """``--init`` read once: the start model (or none), the name to record of it, its weights' hash."""
    if init is None or str(init) == INIT_NONE:
        return None, None, None
    general = names_general(str(init))
    model, record, init_geometry = load_picker(packaged_model_dir(GENERAL_DETECTOR) if general else Path(init))
    input_pool = 1
    if model.input_pool == 1 and (general or config.input_pool is not None):
        # the general detector behind a pool sees a wide particle at the scale it was trained at
        input_pool = input_pool_for(config, particle_diameter_px=2 * geometry.particle_radius_px,
                                    receptive_field_px=model.receptive_field_px)
    if not starts_from(str(init), model, record, init_geometry, geometry=geometry, config=config,
                       input_pool=input_pool):
        return None, None, None
    return pooled(model, input_pool), GENERAL_DETECTOR if general else str(init), record.get("weights_sha256")


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
    label_files = coordinate_files(particles_paths, particles_format)
    all_labels = combine_labels([read_picks(path, particles_format) for path in label_files], label_files,
                                {name: r.shape_orig_px for name, r in manifest.micrographs.items()},
                                where=f"preprocessed micrographs in {preprocessed_dir}")
    micrograph_names = all_labels.micrographs()
    labels = subsample_labels(all_labels, config.num_labeled, config.seed)
    # recorded as used, so the model and the resume identity say which rate and objective it was
    config = replace(config, objective=config.resolved_objective(len(labels)),
                     learning_rate=config.resolved_learning_rate(from_init=init is not None, n_labeled=len(labels)))
    if init is not None:  # from scratch they stay as given: fit_picker warns that a given pull or `keep` is ignored
        config = replace(config, start_pull=config.resolved_start_pull(from_init=True, n_labeled=len(labels)),
                         batchnorm_statistics="keep" if config.keeps_batchnorm_statistics(from_init=True) else "update")
    train_names, validation_names = split_micrographs(micrograph_names, config.validation_fraction, config.seed)
    log.info("%d labelled particles on %d micrographs: %d for training, %d held out",
             len(labels), len(micrograph_names), len(train_names), len(validation_names))

    def load(name: str) -> LabelledMicrograph:
        image = read_micrograph(Path(preprocessed_dir) / manifest.micrographs[name].file).array
        return labelled_micrograph(image, labels.for_micrograph(name), downsample_factor=geometry.downsample_factor)

    all_loaded = {name: load(name) for name in micrograph_names}
    train_set, validation_set = training_sets(all_loaded, train_names, validation_names, source=label_files[0])
    device = resolve_device(config.device)
    if device.type == "cpu":
        retain_freed_memory()
    identity = run_identity(config, particles_sha256=[file_sha256(path) for path in label_files],
                            manifest_sha256=file_sha256(manifest_path(preprocessed_dir)),
                            init_weights_sha256=init_weights_sha256, tuning=tuning)
    tuning_record: dict[str, Any] | None = None
    if tuning is not None:  # cross-validate, or reuse the table of the same inputs and settings
        tuning_record = saved_tuning(Path(output_dir), identity) if resume else None
        if tuning_record is None:
            tuning_record = tune(config, tuning, all_loaded, geometry, device, quiet=quiet, init=init)
            write_tuning(Path(output_dir), identity, tuning_record,
                         tuning_csv(tuning_record["rows"], tuning_record["chosen"], tuning.k_fold))
        config = with_chosen(config, tuning_record)
    checkpoint_dir = Path(output_dir) / CHECKPOINT_DIR
    if not resume and checkpoint_dir.exists():  # old checkpoints go unless resuming from them
        shutil.rmtree(checkpoint_dir)
    resume_state = resume_from(load_latest_checkpoint(checkpoint_dir), identity,
                               checkpoint_dir=checkpoint_dir) if resume else None

    def checkpoint(state: TrainingState) -> None:
        tensors, checkpoint_record = state_to_bundle(state, identity)
        save_checkpoint(checkpoint_dir, state.epoch, tensors, checkpoint_record)

    fitted = fit_kept_picker(config, train_set, validation_set, n_labeled=len(labels), geometry=geometry,
                             device=device, quiet=quiet, resume=resume_state, on_epoch_end=checkpoint, init=init)
    result = fitted.result
    record = model_record(config, geometry, manifest.normalization, fitted, command=command, n_labeled=len(labels),
                          init_model=init_name, train_names=train_names, validation_names=validation_names,
                          tuning_record=tuning_record)
    dataset_sample = (all_loaded[name].image if name in all_loaded else load(name).image  # loaded: picked once
                      for name in dataset_sample_names(manifest.micrographs, seed=config.seed))
    record["score_calibration"] = score_record(
        fitted.model, result.best_state, train_set + validation_set, particle_radius_px=geometry.particle_radius_px,
        expected_particles_per_micrograph=config.expected_particles_per_micrograph, device=device, seed=config.seed,
        dataset_sample=dataset_sample)
    save_picker(Path(output_dir), fitted.model, result.best_state, record)
    log.info("saved the model of epoch %d (held-out AP %s) to %s", result.best_epoch,
             "n/a" if result.best_validation_ap is None else f"{result.best_validation_ap:.4f}", output_dir)
    return TrainSummary(Path(output_dir), result.best_epoch, result.best_validation_ap, fitted.pi, fitted.pi_u,
                        len(labels), train_names, validation_names)
