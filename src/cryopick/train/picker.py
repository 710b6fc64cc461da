"""Train one picker from labelled micrographs in memory.

One picker trained from labelled micrographs in memory: the architecture, the class prior
from the expected count, the autoencoder weight from the label count, then the optimisation loop
(with held-out AP choosing the epoch when micrographs are held out).
"""

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from cryopick.config import Geometry, TrainConfig
from cryopick.device import training_dtype
from cryopick.errors import ConfigError
from cryopick.models import (
    CONTEXT_DIAMETERS,
    PickerNet,
    RegionDecoder,
    build_model,
    choose_architecture,
    choose_input_pool,
    with_input_pool,
)
from cryopick.pu import class_prior, unlabelled_prior
from cryopick.train.loop import TrainingState, TrainResult, fit, private_rng
from cryopick.train.sampler import CropSampler, LabelledMicrograph
from cryopick.train.validation import held_out_ap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FittedPicker:
    """A trained picker with the priors and weights it was trained with."""

    model: PickerNet  # trained in place; ``result.best_state`` is what gets saved
    result: TrainResult
    pi: float
    pi_u: float
    autoencoder_weight: float
    precision: str  # the forward pass's dtype, "float32" or "bfloat16" (``--precision auto`` resolved)


def input_pool_for(config: TrainConfig, *, particle_diameter_px: float, receptive_field_px: int) -> int:
    """``--input-pool`` resolved: as given; else by the particle's size when ``--model`` is auto; else 1.

    An explicit ``--model`` keeps its own receptive field unless ``--input-pool`` says otherwise.
    """
    if config.input_pool is not None:
        return config.input_pool
    if config.model != "auto":
        return 1
    return choose_input_pool(particle_diameter_px, receptive_field_px)


def pooled(model: PickerNet, input_pool: int) -> PickerNet:
    """``model`` behind an input pool of ``input_pool`` (itself at 1), saying so in the log."""
    if input_pool == 1:
        return model
    model = with_input_pool(model, input_pool)
    log.info("the particle is wider than the %s net sees: it pools %d x %d pixels first, seeing %d working px",
             model.name, input_pool, input_pool, model.receptive_field_px)
    return model


def fit_picker(config: TrainConfig, train_set: list[LabelledMicrograph], validation_set: list[LabelledMicrograph],
               *, n_labeled: int, geometry: Geometry, device: torch.device, quiet: bool,
               resume: TrainingState | None = None,
               on_epoch_end: Callable[[TrainingState], None] | None = None,
               init: PickerNet | None = None) -> FittedPicker:
    """Fit a picker to labelled micrographs, optionally starting from another model's weights.

    One model from labelled micrographs in memory: the prior from the expected count, the
    autoencoder weight from the label count, then the optimisation loop. ``init``: start from
    that model's architecture and weights (a copy) instead of from scratch.
    """
    config = replace(config, objective=config.resolved_objective(n_labeled))  # k-fold runs arrive unresolved
    with private_rng(device):
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
            model = pooled(model, input_pool_for(config, particle_diameter_px=2 * geometry.particle_radius_px,
                                                 receptive_field_px=model.receptive_field_px))
        if model.receptive_field_px < CONTEXT_DIAMETERS * 2 * geometry.particle_radius_px:
            log.warning("the %s net sees %d working px, less than %g diameters of the %.1f px particle: it may "
                        "not see enough background around it; downsample more in `cryopick preprocess`",
                        architecture, model.receptive_field_px, CONTEXT_DIAMETERS, 2 * geometry.particle_radius_px)
        sampler = CropSampler(train_set, crop_px=model.training_crop_px, input_pool=model.input_pool,
                              label_radius_px=config.label_radius_px, seed=config.seed)
        pixels_per_micrograph = sampler.total_pixels / len(train_set)
        pi = class_prior(expected_particles_per_micrograph=config.expected_particles_per_micrograph,
                         label_radius_px=config.label_radius_px, pixels_per_micrograph=pixels_per_micrograph)
        pi_u = unlabelled_prior(pi=pi, labelled_positive_pixels=sampler.labelled_positive_pixels,
                                total_pixels=sampler.total_pixels)
        if init is None:  # a trained model keeps its own bias: it already separates particles from the rest
            model.start_at_prior(pi_u)
        autoencoder_weight = config.resolved_autoencoder_weight(n_labeled)
        decoder = RegionDecoder(model.feature_channels, model.training_crop_px) if autoencoder_weight > 0 else None
        compute_dtype = training_dtype(config.precision, device)
        precision = str(compute_dtype).removeprefix("torch.")
        log.info("class prior pi = %.4g, among unlabelled pi_U = %.4g (objective %s, autoencoder weight %.4g, "
                 "%s arithmetic)", pi, pi_u, config.objective, autoencoder_weight, precision)
        learning_rate = config.resolved_learning_rate(from_init=init is not None, n_labeled=n_labeled)
        start_pull = config.resolved_start_pull(from_init=init is not None, n_labeled=n_labeled)
        if config.start_pull not in ("auto", 0) and init is None:
            log.warning("--start-pull %g has no start to pull towards (training from scratch): ignored",
                        config.start_pull)
        if start_pull:
            log.info("every weight is pulled back towards the start (--start-pull %g)", start_pull)
        if learning_rate * start_pull >= 1:
            raise ConfigError(f"--start-pull {start_pull:g} x learning rate {learning_rate:g} must be below 1: "
                              "lower --start-pull")
        keep_batchnorm = config.keeps_batchnorm_statistics(from_init=init is not None)
        if config.batchnorm_statistics == "keep" and init is None:
            log.warning("--batchnorm-statistics keep has no start's statistics to keep (training from scratch): "
                        "ignored")
        if keep_batchnorm:
            log.info("BatchNorm normalises with the start's statistics (--batchnorm-statistics)")
        validate = None
        if validation_set and any(len(m.centres_px) for m in validation_set):
            def validate(net: PickerNet) -> float:
                return held_out_ap(net, [m.image for m in validation_set], [m.centres_px for m in validation_set],
                                   radius_px=geometry.particle_radius_px, device=device)
        result = fit(
            model, sampler, objective=config.objective, pi_u=pi_u,
            objective_weight=config.resolved_objective_weight, epochs=config.epochs,
            steps_per_epoch=config.steps_per_epoch, batch_size=config.batch_size,
            positive_fraction=config.positive_fraction,
            learning_rate=learning_rate,
            weight_decay=config.weight_decay, device=device, seed=config.seed, validate=validate,
            patience_epochs=config.patience_epochs, quiet=quiet, resume=resume, on_epoch_end=on_epoch_end,
            decoder=decoder, autoencoder_weight=autoencoder_weight, compute_dtype=compute_dtype,
            start_pull=start_pull, keep_batchnorm_statistics=keep_batchnorm,
        )
        return FittedPicker(model, result, pi, pi_u, autoencoder_weight, precision)


def fit_kept_picker(config: TrainConfig, train_set: list[LabelledMicrograph],
                    validation_set: list[LabelledMicrograph], *, n_labeled: int, geometry: Geometry,
                    device: torch.device, quiet: bool, resume: TrainingState | None = None,
                    on_epoch_end: Callable[[TrainingState], None] | None = None,
                    init: PickerNet | None = None) -> FittedPicker:
    """:func:`fit_picker` for the model a run keeps: a diverged fit is refused, advising a lower learning rate."""
    try:
        fitted = fit_picker(config, train_set, validation_set, n_labeled=n_labeled, geometry=geometry,
                            device=device, quiet=quiet, resume=resume, on_epoch_end=on_epoch_end, init=init)
    except FloatingPointError as diverged:
        raise ConfigError(f"{diverged}: the learning rate {config.learning_rate:g} is too high for these data; "
                          "lower --learning-rate") from None
    history = fitted.result.history
    if history and not np.isfinite(history[-1].loss):
        raise ConfigError("training diverged; lower --learning-rate")
    return fitted
