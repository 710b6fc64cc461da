"""The optimisation loop: Adam on balanced minibatches, model selection by held-out AP."""

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cryopick.models import PickerNet, RegionDecoder
from cryopick.pu import OBJECTIVE_FUNCTIONS
from cryopick.train.sampler import CropSampler

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """One epoch's loss, held-out AP and duration."""

    epoch: int
    loss: float
    validation_ap: float | None
    seconds: float


@dataclass
class TrainingState:
    """Everything needed to continue training exactly where it stopped, after ``epoch``."""

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    best_state: dict[str, torch.Tensor]
    best_validation_ap: float | None
    best_epoch: int
    epochs_without_gain: int
    history: list[EpochRecord]
    sampler_rng: Mapping[str, Any]  # numpy's bit generator state
    torch_rng: torch.Tensor
    decoder: dict[str, torch.Tensor] | None = None


@dataclass
class TrainResult:
    """The best epoch's weights, with the history that chose it."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_validation_ap: float | None
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False


@contextlib.contextmanager
def private_rng(device: torch.device) -> Iterator[None]:
    """Seed training privately, leaving the caller's PyTorch random state untouched.

    Seeding inside this block leaves the caller's global PyTorch random state as it was (the
    CPU's, and the CUDA device's trained on): training seeds its own, a notebook keeps its own.
    """
    device = torch.device(device)
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


#: With no progress bar (quiet, or stderr not a terminal), a log line this often within an epoch.
PROGRESS_LINE_S = 30.0


def fit(
    model: PickerNet,
    sampler: CropSampler,
    *,
    objective: str,
    pi_u: float,
    objective_weight: float,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    positive_fraction: float,
    learning_rate: float,
    weight_decay: float,
    device: torch.device,
    seed: int,
    validate: Callable[[PickerNet], float] | None = None,
    patience_epochs: int | None = None,
    quiet: bool = False,
    resume: TrainingState | None = None,
    on_epoch_end: Callable[[TrainingState], None] | None = None,
    decoder: RegionDecoder | None = None,
    autoencoder_weight: float = 0.0,
    compute_dtype: torch.dtype = torch.float32,
    start_pull: float = 0.0,
    keep_batchnorm_statistics: bool = False,
) -> TrainResult:
    """Train ``model`` in place; return the state with the best held-out AP (or the last).

    With a ``decoder`` and ``autoencoder_weight`` > 0, each step also adds ``autoencoder_weight``
    times the squared error of reconstructing each crop of the minibatch from the encoder's
    features (summed over the crop's pixels, averaged over crops, the scale the paper's 10/N
    assumes): the autoencoder term, which shapes the features with the unlabelled data too.

    ``on_epoch_end`` receives the full state after each epoch (to checkpoint it); passing such a
    state back as ``resume`` continues exactly as if training had never stopped.

    ``compute_dtype`` other than float32: the forward pass runs under autocast in that dtype
    (weights, optimiser and loss stay float32).

    ``start_pull`` > 0: after each step every weight of ``model`` moves back towards its value at
    the start of training by ``learning_rate * start_pull`` of the way (weight decay towards the
    start, decoupled from Adam's scaling, as L2-SP is to L2), so a trained start is refined, not
    overwritten, by a few labels: a weight whose Adam steps are ~learning_rate settles within
    ~1 / start_pull of where it began.

    ``keep_batchnorm_statistics``: the model's BatchNorm layers normalise with their running
    statistics while training, and keep them (their scale and shift still train), as when scoring.
    """
    if (sampler.crop_px, sampler.input_pool) != (model.training_crop_px, model.input_pool):
        raise ValueError(f"the sampler cuts {sampler.crop_px} px crops pooled {sampler.input_pool}x, the "
                         f"{model.name} net wants {model.training_crop_px} px pooled {model.input_pool}x")
    with private_rng(device):
        torch.manual_seed(seed)
        loss_function = OBJECTIVE_FUNCTIONS[objective]
        model.to(device)
        parameters = list(model.parameters())
        use_decoder = decoder is not None and autoencoder_weight > 0
        if use_decoder:
            assert decoder is not None
            decoder.to(device)
            parameters += list(decoder.parameters())
        optimizer = torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)
        pull_share = learning_rate * start_pull
        if not 0 <= pull_share < 1:
            raise ValueError(f"start_pull {start_pull} with learning rate {learning_rate}: "
                             "their product must be in [0, 1)")
        start_weights = [p.detach().clone() for p in model.parameters()] if pull_share > 0 else []
        history: list[EpochRecord] = []
        best_state = copy.deepcopy(model.state_dict())
        best_ap: float | None = None
        best_epoch = 0
        epochs_without_gain = 0
        first_epoch = 1
        if resume is not None:
            model.load_state_dict(resume.model)
            if use_decoder and resume.decoder is not None:
                assert decoder is not None
                decoder.load_state_dict(resume.decoder)
            optimizer.load_state_dict(resume.optimizer)
            best_state = copy.deepcopy(resume.best_state)
            best_ap, best_epoch = resume.best_validation_ap, resume.best_epoch
            epochs_without_gain = resume.epochs_without_gain
            history = list(resume.history)
            sampler.rng.bit_generator.state = resume.sampler_rng
            torch.set_rng_state(resume.torch_rng)
            first_epoch = resume.epoch + 1
            log.info("resuming after epoch %d of %d", resume.epoch, epochs)
        progress = tqdm(total=epochs * steps_per_epoch, initial=(first_epoch - 1) * steps_per_epoch, desc="train",
                        unit="step", disable=quiet, dynamic_ncols=True, leave=False)
        stopped_early = bool(resume is not None and patience_epochs is not None
                             and epochs_without_gain >= patience_epochs)
        try:
            for epoch in range(first_epoch, epochs + 1):
                if stopped_early:
                    break
                started = last_line = time.perf_counter()
                model.train()
                if keep_batchnorm_statistics:
                    for module in model.modules():
                        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                            module.eval()
                memory_format = torch.channels_last if model.trains_channels_last else torch.contiguous_format
                model.to(memory_format=memory_format)  # type: ignore[call-overload]  # again each epoch: held-out scoring resets it
                if use_decoder:
                    assert decoder is not None
                    decoder.train()
                losses = torch.zeros(steps_per_epoch)
                for step in range(steps_per_epoch):
                    crops, labels = sampler.minibatch(batch_size, positive_fraction)
                    crops = crops.to(device, non_blocking=True, memory_format=memory_format)
                    labels = labels.to(device, non_blocking=True)
                    with torch.autocast(device.type, dtype=compute_dtype, enabled=compute_dtype != torch.float32):
                        features = model.crop_features(crops)
                        logits = model.classifier(features).reshape(-1)
                        reconstruction = decoder(features) if use_decoder and decoder is not None else None
                    loss = loss_function(logits.float(), labels, pi_u=pi_u, weight=objective_weight)
                    if reconstruction is not None:
                        squared_error = (reconstruction.float() - crops) ** 2
                        loss = loss + autoencoder_weight * squared_error.flatten(1).sum(1).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    if start_weights:
                        with torch.no_grad():
                            for weight, start_weight in zip(model.parameters(), start_weights, strict=True):
                                weight.lerp_(start_weight, pull_share)
                    losses[step] = loss.detach().cpu()
                    progress.update(1)
                    if progress.disable and time.perf_counter() - last_line >= PROGRESS_LINE_S:
                        last_line = time.perf_counter()
                        done = step + 1
                        log.info("epoch %d: step %d of %d (%.2f s/step)", epoch, done, steps_per_epoch,
                                 (last_line - started) / done)
                mean_loss = float(losses.mean())
                if not np.isfinite(mean_loss):
                    raise FloatingPointError(f"training diverged at epoch {epoch} (loss {mean_loss})")
                validation_ap = None
                if validate is not None:
                    model.eval()
                    validation_ap = float(validate(model))
                record = EpochRecord(epoch, mean_loss, validation_ap, time.perf_counter() - started)
                history.append(record)
                progress.set_postfix(loss=f"{mean_loss:.4f}",
                                     ap="-" if validation_ap is None else f"{validation_ap:.3f}")
                log.info("epoch %d: loss %.4f, held-out AP %s (%.1f s)", epoch, mean_loss,
                         "n/a" if validation_ap is None else f"{validation_ap:.4f}", record.seconds)
                if validation_ap is None or best_ap is None or validation_ap > best_ap:
                    best_ap, best_epoch = validation_ap, epoch
                    best_state = copy.deepcopy(model.state_dict())
                    epochs_without_gain = 0
                else:
                    epochs_without_gain += 1
                if on_epoch_end is not None:
                    on_epoch_end(TrainingState(
                        epoch, copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()),
                        best_state, best_ap, best_epoch, epochs_without_gain, list(history),
                        copy.deepcopy(sampler.rng.bit_generator.state), torch.get_rng_state(),
                        copy.deepcopy(decoder.state_dict()) if use_decoder and decoder is not None else None,
                    ))
                if patience_epochs is not None and epochs_without_gain >= patience_epochs:
                    log.info("no held-out gain for %d epochs: stopping early", epochs_without_gain)
                    stopped_early = True
                    break
        finally:
            progress.close()
            model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # torch's stubs omit Module.to's memory_format
        return TrainResult(best_state, best_epoch, best_ap, history, stopped_early)
