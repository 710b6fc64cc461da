"""``run_train``: preprocessed micrographs + labelled centres in, a model directory out."""

import copy
import csv
import io
import itertools
import json
import logging
import math
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cryopick import __version__
from cryopick.config import Geometry, TrainConfig, TuningConfig
from cryopick.errors import ConfigError, InputError
from cryopick.evaluate.matching import match_picks
from cryopick.evaluate.metrics import precision_recall
from cryopick.extract.nms import non_maximum_suppression
from cryopick.extract.rescale import to_working_px
from cryopick.extract.scoring import score_micrographs
from cryopick.io._atomic import atomic_write_text
from cryopick.io.coordinates import coordinate_files, read_picks
from cryopick.io.manifest import PreprocessManifest, read_manifest
from cryopick.io.micrographs import read_micrograph
from cryopick.io.model_files import file_sha256, load_latest_checkpoint, save_checkpoint
from cryopick.models import CONTEXT_DIAMETERS, PickerNet, RegionDecoder, build_model, choose_architecture
from cryopick.picks import Picks
from cryopick.pu import class_prior, unlabelled_prior
from cryopick.train.loop import EpochRecord, TrainingState, TrainResult, fit
from cryopick.train.sampler import CropSampler, LabelledMicrograph
from cryopick.workflows.device import resolve_device
from cryopick.workflows.modelio import load_picker, save_picker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSummary:
    model_dir: Path
    best_epoch: int
    best_validation_ap: float | None
    pi: float
    pi_u: float
    n_labeled: int
    train_micrographs: list[str]
    validation_micrographs: list[str]


def check_labels(picks: Picks, manifest: PreprocessManifest, preprocessed_dir: Path) -> None:
    """Every label names a preprocessed micrograph and lies inside it, or the file is refused."""
    source = picks.source or Path("labels")
    for row, name in enumerate(picks.micrograph.tolist()):
        record = manifest.micrographs.get(name)
        if record is None:
            raise InputError(source, f"micrograph {name!r} is not among the {len(manifest.micrographs)} "
                                     f"preprocessed micrographs in {preprocessed_dir}", line=picks.line_of(row))
        rows, cols = record.shape_orig_px
        x, y = float(picks.x_orig_px[row]), float(picks.y_orig_px[row])
        if not (0 <= x <= cols - 1 and 0 <= y <= rows - 1):
            raise InputError(source, f"particle at ({x:g}, {y:g}) lies outside micrograph {name!r} "
                                     f"({cols} x {rows} px)", line=picks.line_of(row))


def drop_duplicate_labels(picks: Picks) -> Picks:
    """The same centre listed twice would count twice as labelled; keep the first."""
    keys = np.rec.fromarrays([picks.micrograph, np.round(picks.x_orig_px, 2), np.round(picks.y_orig_px, 2)])
    _, first = np.unique(keys, return_index=True)
    if len(first) < len(picks):
        log.warning("%s: dropping %d duplicate labels", picks.source, len(picks) - len(first))
        return picks.select(np.sort(first))
    return picks


def subsample_labels(picks: Picks, num_labeled: int | None, seed: int) -> Picks:
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


def held_out_ap(model: PickerNet, images: list[np.ndarray], centres: list[np.ndarray], *,
                radius_px: float, device: torch.device, output_stride: int = 1) -> float:
    """AP of dense picks against the held-out micrographs' labels (in working pixels), scoring
    every ``output_stride``-th pixel as extract does."""
    scores = score_micrographs(model, images, device=device, output_stride=output_stride)
    all_scores, all_matched = [], []
    for score_map, truth in zip(scores, centres, strict=True):
        rows, cols, values = non_maximum_suppression(score_map, radius_px=radius_px / output_stride,
                                                     threshold=-np.inf)
        picked = np.stack([cols, rows], axis=1).astype(np.float64) * output_stride
        all_matched.append(match_picks(picked, truth[:, ::-1], values, radius=radius_px))
        all_scores.append(values)
    n_reference = sum(len(c) for c in centres)
    curve = precision_recall(np.concatenate(all_scores), np.concatenate(all_matched), n_reference=n_reference)
    return curve.average_precision


CHECKPOINT_DIR = "checkpoint"


def _state_to_bundle(state: TrainingState, identity: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
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


def _state_from_bundle(tensors: dict[str, np.ndarray], record: dict[str, Any]) -> TrainingState:
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


@dataclass(frozen=True)
class FittedPicker:
    model: PickerNet  # trained in place; ``result.best_state`` is what gets saved
    result: TrainResult
    pi: float
    pi_u: float
    autoencoder_weight: float


def fit_picker(config: TrainConfig, train_set: list[LabelledMicrograph], validation_set: list[LabelledMicrograph],
               *, n_labeled: int, geometry: Geometry, device: torch.device, quiet: bool,
               resume: TrainingState | None = None,
               on_epoch_end: Callable[[TrainingState], None] | None = None,
               init: PickerNet | None = None) -> FittedPicker:
    """One model from labelled micrographs in memory: the prior from the expected count, the
    autoencoder weight from the label count, then the optimisation loop. ``init``: start from
    that model's architecture and weights (a copy) instead of from scratch."""
    torch.manual_seed(config.seed)  # the initial weights are part of what a seed fixes
    architecture = config.model
    if init is not None:
        if architecture not in ("auto", init.name):
            raise ConfigError(f"--model {architecture} differs from the --init model's {init.name}: leave "
                              "--model out to train the init model's architecture")
        architecture = init.name
        model = copy.deepcopy(init).train()
        log.info("model: %s, starting from the --init model's weights", architecture)
    else:
        if architecture == "auto":
            architecture = choose_architecture(2 * geometry.particle_radius_px)
            log.info("model: %s (its receptive field spans %g particle diameters of %.1f working px)",
                     architecture, CONTEXT_DIAMETERS, 2 * geometry.particle_radius_px)
        model = build_model(architecture, **config.extra)
    if model.receptive_field_px < CONTEXT_DIAMETERS * 2 * geometry.particle_radius_px:
        log.warning("the %s net sees %d working px, less than %g diameters of the %.1f px particle: it may "
                    "not see enough background around it; downsample more in `cryopick preprocess`",
                    architecture, model.receptive_field_px, CONTEXT_DIAMETERS, 2 * geometry.particle_radius_px)
    sampler = CropSampler(train_set, crop_px=model.receptive_field_px,
                          label_radius_px=config.label_radius_px, seed=config.seed)
    pixels_per_micrograph = sampler.total_pixels / len(train_set)
    pi = class_prior(expected_particles_per_micrograph=config.expected_particles_per_micrograph,
                     label_radius_px=config.label_radius_px, pixels_per_micrograph=pixels_per_micrograph)
    pi_u = unlabelled_prior(pi=pi, labelled_positive_pixels=sampler.labelled_positive_pixels,
                            total_pixels=sampler.total_pixels)
    if init is None:  # a trained model keeps its own bias: it already separates particles from the rest
        model.start_at_prior(pi_u)
    autoencoder_weight = config.resolved_autoencoder_weight(n_labeled)
    decoder = RegionDecoder(model.feature_channels, model.receptive_field_px) if autoencoder_weight > 0 else None
    log.info("class prior pi = %.4g, among unlabelled pi_U = %.4g (objective %s, autoencoder weight %.4g)",
             pi, pi_u, config.objective, autoencoder_weight)
    validate = None
    if validation_set and any(len(m.centres_px) for m in validation_set):
        def validate(net: PickerNet) -> float:
            return held_out_ap(net, [m.image for m in validation_set], [m.centres_px for m in validation_set],
                               radius_px=geometry.particle_radius_px, device=device)
    result = fit(
        model, sampler, objective=config.objective, pi_u=pi_u,
        objective_weight=config.resolved_objective_weight, epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch, batch_size=config.batch_size,
        positive_fraction=config.positive_fraction, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, device=device, seed=config.seed, validate=validate,
        patience_epochs=config.patience_epochs, quiet=quiet, resume=resume, on_epoch_end=on_epoch_end,
        decoder=decoder, autoencoder_weight=autoencoder_weight,
    )
    return FittedPicker(model, result, pi, pi_u, autoencoder_weight)


def assign_folds(labelled_names: list[str], k_fold: int, seed: int) -> list[list[str]]:
    """Whole micrographs in ``k_fold`` groups of near-equal size, at random but reproducibly."""
    order = np.random.default_rng(seed + 2).permutation(len(labelled_names))
    return [sorted(labelled_names[i] for i in order[fold::k_fold]) for fold in range(k_fold)]


TUNING_NAME = "tuning"


def cross_validate(config: TrainConfig, tuning: TuningConfig, micrographs: dict[str, LabelledMicrograph],
                   geometry: Geometry, device: torch.device, *, quiet: bool,
                   init: PickerNet | None = None) -> list[dict[str, Any]]:
    """Held-out AP of every setting in the grid on each of ``k_fold`` folds of the labelled
    micrographs (a fold's labels are the only truth it has, so the AP counts unlabelled particles
    as false picks: fine for ranking settings, not an absolute figure)."""
    labelled = [name for name, m in micrographs.items() if len(m.centres_px)]
    if len(labelled) < tuning.k_fold:
        raise ConfigError(f"--k-fold {tuning.k_fold} needs at least {tuning.k_fold} micrographs with labels; "
                          f"only {len(labelled)} have any")
    folds = assign_folds(labelled, tuning.k_fold, config.seed)
    grid = list(itertools.product(tuning.expected_particles_per_micrograph, tuning.autoencoder_weight))
    progress = tqdm(total=len(grid) * len(folds), desc="k-fold", unit="model", disable=quiet,
                    dynamic_ncols=True, leave=False)
    rows = []
    try:
        for expected, autoencoder in grid:
            setting = replace(config, expected_particles_per_micrograph=expected, autoencoder_weight=autoencoder,
                              validation_fraction=0.0)
            fold_ap: list[float] = []
            error = None
            for held_out in folds:
                train_set = [m for name, m in micrographs.items() if name not in held_out]
                test_set = [micrographs[name] for name in held_out]
                n_labeled = sum(len(m.centres_px) for m in train_set)
                try:
                    fitted = fit_picker(setting, train_set, [], n_labeled=n_labeled, geometry=geometry, init=init,
                                        device=device, quiet=True)
                except ConfigError as refused:  # e.g. this count leaves pi_U <= 0
                    error = str(refused)
                    progress.update(len(folds) - len(fold_ap))
                    break
                fold_ap.append(held_out_ap(fitted.model, [m.image for m in test_set],
                                           [m.centres_px for m in test_set],
                                           radius_px=geometry.particle_radius_px, device=device))
                progress.update(1)
            valid = error is None
            rows.append({
                "expected_particles_per_micrograph": expected, "autoencoder_weight": autoencoder,
                "fold_ap": fold_ap if valid else [],
                "mean_ap": float(np.mean(fold_ap)) if valid else None,
                "sd_ap": float(np.std(fold_ap, ddof=1)) if valid and len(fold_ap) > 1 else None,
                "error": error,
            })
            log.info("k-fold: %g particles per micrograph, autoencoder %s: %s", expected, autoencoder,
                     f"AP {rows[-1]['mean_ap']:.4f} +- {rows[-1]['sd_ap'] or 0:.4f}" if valid else error)
    finally:
        progress.close()
    if all(row["mean_ap"] is None for row in rows):
        raise ConfigError(f"no setting could be trained in cross-validation: {rows[0]['error']}")
    return rows


def format_tuning_table(rows: list[dict[str, Any]], chosen: dict[str, Any]) -> str:
    lines = ["particles/mic  autoencoder  held-out AP (mean +- sd over folds)"]
    for row in rows:
        mark = "  <- chosen" if row is chosen else ""
        figure = (f"{row['mean_ap']:.4f} +- {row['sd_ap'] or 0:.4f}" if row["mean_ap"] is not None
                  else f"not trainable: {row['error']}")
        lines.append(f"{row['expected_particles_per_micrograph']:>13g}  {str(row['autoencoder_weight']):>11}  "
                     f"{figure}{mark}")
    return "\n".join(lines)


def _tuning_results(config: TrainConfig, tuning: TuningConfig, micrographs: dict[str, LabelledMicrograph],
                    geometry: Geometry, device: torch.device, output_dir: Path, *, identity: dict[str, Any],
                    resume: bool, quiet: bool, init: PickerNet | None = None) -> dict[str, Any]:
    """Cross-validate (or, resuming, reuse the saved table of the same inputs), choose the best
    mean held-out AP, log the table and write it as tuning.csv and tuning.json."""
    json_path = output_dir / f"{TUNING_NAME}.json"
    if resume and json_path.exists():
        saved = json.loads(json_path.read_text())
        if saved.get("identity") == identity:
            log.info("--resume: reusing the cross-validation table in %s", json_path)
            return dict(saved["tuning"])
    rows = cross_validate(config, tuning, micrographs, geometry, device, quiet=quiet, init=init)
    chosen = max((row for row in rows if row["mean_ap"] is not None), key=lambda row: row["mean_ap"])
    log.info("%d-fold cross-validation on the labelled micrographs:\n%s", tuning.k_fold,
             format_tuning_table(rows, chosen))
    others = [row["mean_ap"] for row in rows if row["mean_ap"] is not None and row is not chosen]
    distinguishable = not others or chosen["mean_ap"] - max(others) > (chosen["sd_ap"] or 0.0)
    if not distinguishable:
        log.warning("k-fold: the best setting leads the next by %.4f AP, less than its spread over folds "
                    "(%.4f): the labels cannot tell these settings apart; the choice is no better than the "
                    "others (label more micrographs fully, or keep your own estimate)",
                    chosen["mean_ap"] - max(others), chosen["sd_ap"] or 0.0)
    record = {"k_fold": tuning.k_fold, "rows": rows, "chosen": chosen, "distinguishable": distinguishable}
    atomic_write_text(output_dir / f"{TUNING_NAME}.csv", _tuning_csv(rows, chosen, tuning.k_fold))
    atomic_write_text(json_path, json.dumps({"identity": identity, "tuning": record}, indent=1) + "\n")
    return record


def _tuning_csv(rows: list[dict[str, Any]], chosen: dict[str, Any], k_fold: int) -> str:
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["expected_particles_per_micrograph", "autoencoder_weight", "mean_ap", "sd_ap",
                     *(f"fold{i + 1}_ap" for i in range(k_fold)), "chosen"])
    for row in rows:
        folds = [number(ap) for ap in row["fold_ap"]] + [""] * (k_fold - len(row["fold_ap"]))
        writer.writerow([f"{row['expected_particles_per_micrograph']:g}", row["autoencoder_weight"],
                         number(row["mean_ap"]), number(row["sd_ap"]), *folds, "yes" if row is chosen else "no"])
    return text.getvalue()


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
    init_model: Path | None = None,
) -> TrainSummary:
    """Train and save a model. With ``resume``, continue from the newest checkpoint in
    ``output_dir/checkpoint`` (written after every epoch) if it was made from the same inputs and
    settings; the result is the same as an uninterrupted run. With ``tuning``, first choose the
    expected count and autoencoder weight by k-fold cross-validation over the labelled micrographs.
    With ``init_model`` (a model directory: cryopick's, or one imported from Topaz), start from its
    architecture and weights."""
    manifest = read_manifest(preprocessed_dir)
    geometry = manifest.geometry
    init = None
    init_weights_sha256 = None
    if init_model is not None:
        init, init_record, init_geometry = load_picker(init_model)
        init_weights_sha256 = init_record.get("weights_sha256")
        if not math.isclose(init_geometry.working_pixel_size_A, geometry.working_pixel_size_A, rel_tol=0.01):
            log.warning("the --init model works at %.3g A/px, these micrographs at %.3g A/px: its features are "
                        "at another scale (preprocess with a matching --downsample to use them fully)",
                        init_geometry.working_pixel_size_A, geometry.working_pixel_size_A)
    label_files = coordinate_files(particles_paths, particles_format)
    label_parts = [read_picks(path, particles_format) for path in label_files]
    for part in label_parts:
        check_labels(part, manifest, preprocessed_dir)
    if not sum(len(part) for part in label_parts):
        raise InputError(label_files[0], "contains no particles" if len(label_files) == 1
                         else f"none of these {len(label_files)} files contains a particle")
    all_labels = drop_duplicate_labels(
        label_parts[0] if len(label_parts) == 1 else Picks.concatenate(label_parts))
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
    resume_state = None
    if resume:
        found = load_latest_checkpoint(checkpoint_dir)
        if found is None:
            log.warning("--resume: no checkpoint in %s, starting from the beginning", checkpoint_dir)
        else:
            tensors, checkpoint_record = found
            if checkpoint_record.get("identity") != identity:
                raise ConfigError(f"--resume: the checkpoint in {checkpoint_dir} was made from other inputs or "
                                  "settings; rerun without --resume to start afresh")
            resume_state = _state_from_bundle(tensors, checkpoint_record)
    elif checkpoint_dir.exists():
        shutil.rmtree(checkpoint_dir)

    def checkpoint(state: TrainingState) -> None:
        tensors, checkpoint_record = _state_to_bundle(state, identity)
        save_checkpoint(checkpoint_dir, state.epoch, tensors, checkpoint_record)

    try:
        fitted = fit_picker(config, train_set, validation_set, n_labeled=len(labels), geometry=geometry,
                            device=device, quiet=quiet, resume=resume_state, on_epoch_end=checkpoint, init=init)
    except FloatingPointError as diverged:
        raise ConfigError(f"{diverged}: the learning rate {config.learning_rate:g} is too high for these data; "
                          "lower --learning-rate (the default is 1e-3)") from None
    model, result, pi, pi_u = fitted.model, fitted.result, fitted.pi, fitted.pi_u
    if result.history and not np.isfinite(result.history[-1].loss):
        raise ConfigError("training diverged; lower --learning-rate")
    record: dict[str, Any] = {
        "version": __version__,
        "cmd": command if command is not None else sys.argv,
        "geometry": geometry.to_json(),
        "normalization": manifest.normalization,
        "label_radius_px": config.label_radius_px,
        "objective": {"name": config.objective, "weight": config.resolved_objective_weight,
                      "pi": pi, "pi_u": pi_u, "autoencoder_weight": fitted.autoencoder_weight},
        "training": {
            "config": asdict(config),
            "n_labeled": len(labels),
            "init_model": None if init_model is None else str(init_model),
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
    save_picker(Path(output_dir), model, result.best_state, record)
    log.info("saved the model of epoch %d (held-out AP %s) to %s", result.best_epoch,
             "n/a" if result.best_validation_ap is None else f"{result.best_validation_ap:.4f}", output_dir)
    return TrainSummary(Path(output_dir), result.best_epoch, result.best_validation_ap, pi, pi_u,
                        len(labels), train_names, validation_names)
