"""Choose the expected count and autoencoder weight by k-fold cross-validation.

k-fold cross-validation over the labelled micrographs: the held-out AP of each setting of
the expected count and autoencoder weight, the best one chosen, and the table that shows whether
the labels can tell the settings apart.
"""

import csv
import io
import itertools
import logging
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cryopick.config import Geometry, TrainConfig, TuningConfig
from cryopick.errors import ConfigError
from cryopick.models import PickerNet
from cryopick.train.picker import fit_picker
from cryopick.train.sampler import LabelledMicrograph
from cryopick.train.validation import held_out_ap

log = logging.getLogger(__name__)


def assign_folds(labelled_names: list[str], k_fold: int, seed: int) -> list[list[str]]:
    """Whole micrographs in ``k_fold`` groups of near-equal size, at random but reproducibly."""
    order = np.random.default_rng(seed + 2).permutation(len(labelled_names))
    return [sorted(labelled_names[i] for i in order[fold::k_fold]) for fold in range(k_fold)]



def cross_validate(config: TrainConfig, tuning: TuningConfig, micrographs: dict[str, LabelledMicrograph],
                   geometry: Geometry, device: torch.device, *, quiet: bool,
                   init: PickerNet | None = None) -> list[dict[str, Any]]:
    """Held-out AP of every setting in the grid, fold by fold.

    The folds are ``k_fold`` parts of the labelled micrographs (a fold's labels are the only
    truth it has, so the AP counts unlabelled particles as false picks: fine for ranking
    settings, not an absolute figure).
    """
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
    """The table logged for the user: one line per setting, the chosen one marked."""
    lines = ["particles/mic  autoencoder  held-out AP (mean +- sd over folds)"]
    for row in rows:
        mark = "  <- chosen" if row is chosen else ""
        figure = (f"{row['mean_ap']:.4f} +- {row['sd_ap'] or 0:.4f}" if row["mean_ap"] is not None
                  else f"not trainable: {row['error']}")
        lines.append(f"{row['expected_particles_per_micrograph']:>13g}  {str(row['autoencoder_weight']):>11}  "
                     f"{figure}{mark}")
    return "\n".join(lines)


def tune(config: TrainConfig, tuning: TuningConfig, micrographs: dict[str, LabelledMicrograph],
         geometry: Geometry, device: torch.device, *, quiet: bool, init: PickerNet | None = None) -> dict[str, Any]:
    """Choose the setting with the best mean held-out AP.

    Cross-validate, choose the best mean held-out AP and log the table; the record says
    whether the best setting leads by more than its spread over folds.
    """
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
    return {"k_fold": tuning.k_fold, "rows": rows, "chosen": chosen, "distinguishable": distinguishable}


def with_chosen(config: TrainConfig, record: dict[str, Any]) -> TrainConfig:
    """``config`` with the setting that a :func:`tune` record chose."""
    best = record["chosen"]
    return replace(config, expected_particles_per_micrograph=best["expected_particles_per_micrograph"],
                   autoencoder_weight=best["autoencoder_weight"])


def tuning_csv(rows: list[dict[str, Any]], chosen: dict[str, Any], k_fold: int) -> str:
    """The table as CSV text (tuning.csv), one column per fold."""
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
