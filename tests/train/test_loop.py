"""The optimisation loop learns: every objective picks held-out synthetic micrographs, and the
autoencoder term reconstructs regions it has not seen."""

import copy
import logging

import numpy as np
import pytest
import torch

from cryopick.config import OBJECTIVES, Geometry, TrainConfig
from cryopick.errors import ConfigError
from cryopick.models import RegionDecoder, build_model
from cryopick.synthetic import make_micrograph
from cryopick.train.loop import fit
from cryopick.train.picker import fit_picker
from cryopick.train.sampler import CropSampler, LabelledMicrograph
from cryopick.train.validation import held_out_ap

DIAMETER_PX = 16.0


def _micrographs(seeds: range, *, snr: float = 1.0, labelled_share: float = 1.0) -> list[LabelledMicrograph]:
    out = []
    for seed in seeds:
        mic = make_micrograph((128, 128), n_particles=14, diameter_px=DIAMETER_PX, snr=snr, n_distractors=2,
                              carbon_edge=False, seed=seed)
        image = ((mic.image - mic.image.mean()) / mic.image.std()).astype(np.float32)
        keep = max(1, round(labelled_share * len(mic.centres_px)))
        out.append(LabelledMicrograph(image, mic.centres_px[:keep].astype(np.float64)))
    return out


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_learns_to_pick_held_out_micrographs(objective: str) -> None:
    train = _micrographs(range(10, 14), labelled_share=0.5)  # half the particles unlabelled
    test = _micrographs(range(20, 22))
    config = TrainConfig(expected_particles_per_micrograph=14, model="conv3", objective=objective, epochs=3,
                         steps_per_epoch=40, batch_size=64, learning_rate=2e-3, patience_epochs=None,
                         extra={"units": 8}, device="cpu")
    geometry = Geometry(particle_diameter_A=2 * DIAMETER_PX, pixel_size_A=2.0, downsample_factor=1)
    fitted = fit_picker(config, train, [], n_labeled=sum(len(m.centres_px) for m in train), geometry=geometry,
                        device=torch.device("cpu"), quiet=True)
    ap = held_out_ap(fitted.model, [m.image for m in test], [m.centres_px for m in test],
                     radius_px=geometry.particle_radius_px, device=torch.device("cpu"))
    assert ap > 0.7, f"{objective}: held-out AP {ap:.3f}"
    strided = held_out_ap(fitted.model, [m.image for m in test], [m.centres_px for m in test],
                          radius_px=geometry.particle_radius_px, device=torch.device("cpu"), output_stride=2)
    assert strided == pytest.approx(ap, abs=0.05)  # as extract scores by default: every 2nd pixel


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_both_precisions_learn_to_pick_and_train_in_their_dtype(precision: str) -> None:
    """--precision reaches the forward pass (the convolutions run in its dtype), and each learns."""
    train = _micrographs(range(10, 14), labelled_share=0.5)
    test = _micrographs(range(20, 22))
    config = TrainConfig(expected_particles_per_micrograph=14, model="conv3", objective="ge-binomial", epochs=3,
                         steps_per_epoch=40, batch_size=64, learning_rate=2e-3, patience_epochs=None,
                         extra={"units": 8}, device="cpu", precision=precision, autoencoder_weight=0.5)
    geometry = Geometry(particle_diameter_A=2 * DIAMETER_PX, pixel_size_A=2.0, downsample_factor=1)
    seen: set[torch.dtype] = set()

    def record_dtype(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        if module.training:
            seen.add(output.dtype)

    original_build = build_model

    def build_and_watch(name: str, **options: object) -> torch.nn.Module:
        model = original_build(name, **options)
        model.encoder[0][0].register_forward_hook(record_dtype)
        return model

    import cryopick.train.picker as picker

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(picker, "build_model", build_and_watch)
        fitted = fit_picker(config, train, [], n_labeled=sum(len(m.centres_px) for m in train), geometry=geometry,
                            device=torch.device("cpu"), quiet=True)
    assert fitted.precision == precision
    assert seen == {getattr(torch, precision)}
    assert all(p.dtype == torch.float32 for p in fitted.model.parameters())
    ap = held_out_ap(fitted.model, [m.image for m in test], [m.centres_px for m in test],
                     radius_px=geometry.particle_radius_px, device=torch.device("cpu"))
    assert ap > 0.7, f"{precision}: held-out AP {ap:.3f}"


def test_autoencoder_term_reconstructs_unseen_regions() -> None:
    torch.manual_seed(0)
    model = build_model("conv3", units=8)
    decoder = RegionDecoder(model.feature_channels, model.receptive_field_px)
    sampler = CropSampler(_micrographs(range(30, 33)), crop_px=model.receptive_field_px, label_radius_px=3, seed=0)
    unseen = CropSampler(_micrographs(range(40, 41)), crop_px=model.receptive_field_px, label_radius_px=3, seed=1)
    crops, _ = unseen.minibatch(256, 0.25)

    def reconstruction_error() -> float:
        model.eval()
        decoder.eval()
        with torch.no_grad():
            return float(torch.mean((decoder(model.features(crops)) - crops) ** 2) / torch.var(crops))

    before = reconstruction_error()
    fit(model, sampler, objective="ge-binomial", pi_u=0.02, objective_weight=1.0, epochs=2, steps_per_epoch=60,
        batch_size=64, positive_fraction=0.25, learning_rate=2e-3, weight_decay=0.0, device=torch.device("cpu"),
        seed=0, quiet=True, decoder=decoder, autoencoder_weight=1.0)
    after = reconstruction_error()
    assert before > 0.9  # an untrained decoder explains nothing
    assert after < 0.75, f"relative reconstruction error {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("model_name", ["conv3", "conv6", "resnet8", "topaz-resnet8", "topaz-resnet16"])
def test_decoder_returns_the_region(model_name: str) -> None:
    model = build_model(model_name, units=8)
    decoder = RegionDecoder(model.feature_channels, model.receptive_field_px)
    crops = torch.randn(3, 1, model.receptive_field_px, model.receptive_field_px)
    assert decoder(model.features(crops)).shape == crops.shape


def test_channels_last_training_matches_contiguous_training() -> None:
    """resnet8 trains in channels-last for speed: the same gradients as the default layout, and the
    model that fit() hands back is in the default layout (as saving and scoring expect)."""
    torch.manual_seed(0)
    reference = build_model("resnet8", units=8)
    crops = torch.randn(32, 1, reference.receptive_field_px, reference.receptive_field_px)
    gradients = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        model = copy.deepcopy(reference).to(memory_format=memory_format)
        (model(crops.to(memory_format=memory_format)) ** 2).mean().backward()
        gradients.append({name: p.grad for name, p in model.named_parameters()})
    for name, gradient in gradients[0].items():
        assert torch.allclose(gradient, gradients[1][name], rtol=1e-4, atol=1e-4 * float(gradient.abs().max())), name

    model = build_model("resnet8", units=8)
    assert model.trains_channels_last
    sampler = CropSampler(_micrographs(range(30, 31)), crop_px=model.receptive_field_px, label_radius_px=3, seed=0)
    fit(model, sampler, objective="ge-binomial", pi_u=0.02, objective_weight=1.0, epochs=2, steps_per_epoch=2,
        batch_size=16, positive_fraction=0.25, learning_rate=1e-3, weight_decay=0.0, device=torch.device("cpu"),
        seed=0, quiet=True, validate=lambda m: 0.5)
    assert all(p.is_contiguous() for p in model.parameters())


def test_without_a_progress_bar_the_log_shows_steps(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Piped output (no bar) still shows that training advances within an epoch."""
    import cryopick.train.loop as loop

    monkeypatch.setattr(loop, "PROGRESS_LINE_S", 0.0)
    monkeypatch.setattr(logging.getLogger("cryopick"), "propagate", True)  # the CLI's tests turn it off
    model = build_model("conv3", units=8)
    sampler = CropSampler(_micrographs(range(30, 31)), crop_px=model.receptive_field_px, label_radius_px=3, seed=0)
    with caplog.at_level("INFO", logger="cryopick"):
        fit(model, sampler, objective="ge-binomial", pi_u=0.02, objective_weight=1.0, epochs=1, steps_per_epoch=3,
            batch_size=16, positive_fraction=0.25, learning_rate=1e-3, weight_decay=0.0,
            device=torch.device("cpu"), seed=0, quiet=True)
    assert [m for m in caplog.messages if "step" in m][-1].startswith("epoch 1: step 3 of 3")


def test_training_leaves_the_callers_random_state_alone() -> None:
    """Training seeds its own generator: a notebook's global PyTorch random state is as it was."""
    train = _micrographs(range(10, 12), labelled_share=0.5)
    config = TrainConfig(expected_particles_per_micrograph=14, model="conv3", epochs=1, steps_per_epoch=2,
                         batch_size=32, patience_epochs=None, extra={"units": 4}, device="cpu", seed=3)
    geometry = Geometry(particle_diameter_A=2 * DIAMETER_PX, pixel_size_A=2.0, downsample_factor=1)
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    first = fit_picker(config, train, [], n_labeled=10, geometry=geometry, device=torch.device("cpu"), quiet=True)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(99)  # another caller state: the same seed still gives the same model
    second = fit_picker(config, train, [], n_labeled=10, geometry=geometry, device=torch.device("cpu"), quiet=True)
    for name, tensor in first.result.best_state.items():
        assert torch.equal(tensor, second.result.best_state[name]), name


def test_start_pull_bounds_each_weights_drift_from_its_start() -> None:
    """The pull is Adam's step followed by a move of lr x pull of the way back to the start, so a
    weight's drift from the start stays below ~1/pull however long it trains."""
    sampler_args = dict(crop_px=31, label_radius_px=3, seed=0)
    common = dict(objective="ge-kl", pi_u=0.05, objective_weight=10.0, epochs=1, steps_per_epoch=60,
                  batch_size=32, positive_fraction=1 / 8, learning_rate=1e-2, weight_decay=0.0,
                  device=torch.device("cpu"), seed=0, quiet=True)
    micrographs = _micrographs(range(10, 12))
    torch.manual_seed(0)
    start = build_model("conv3", units=8)
    drifts = {}
    for pull in (0.0, 10.0):
        model = copy.deepcopy(start)
        fit(model, CropSampler(micrographs, **sampler_args), start_pull=pull, **common)
        drifts[pull] = max(float((w - w0).detach().abs().max()) for w, w0 in zip(model.parameters(), start.parameters(),
                                                                        strict=True))
    # unpulled, Adam's ~lr-sized steps add up to three times 1/pull = 0.1 in 60 steps; pulled, a weight
    # settles where its step and the pull balance, near 1/pull (Adam's steps run a little above lr)
    assert drifts[0.0] > 0.25
    assert drifts[10.0] < 0.15
    with pytest.raises(ValueError, match="start_pull"):
        fit(copy.deepcopy(start), CropSampler(micrographs, **sampler_args), start_pull=100.0, **common)


def test_a_start_pull_that_would_overshoot_is_a_config_error_naming_the_option() -> None:
    micrographs = _micrographs(range(10, 12))
    torch.manual_seed(0)
    start = build_model("conv3", units=8)
    config = TrainConfig(expected_particles_per_micrograph=40, epochs=1, steps_per_epoch=2, batch_size=32,
                         learning_rate=1e-2, start_pull=100.0, device="cpu")
    geometry = Geometry(particle_diameter_A=2 * DIAMETER_PX, pixel_size_A=2.0, downsample_factor=1)
    with pytest.raises(ConfigError, match="--start-pull"):
        fit_picker(config, micrographs, [], n_labeled=28, geometry=geometry, device=torch.device("cpu"),
                   quiet=True, init=start)


def _batchnorm_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()
            if name.endswith(("running_mean", "running_var"))}


def test_a_trained_start_keeps_its_batchnorm_statistics_and_a_fresh_net_updates_them() -> None:
    """From --init, BatchNorm normalises with the start's statistics while its scale and shift train
    (auto); a fresh net, or `update`, re-estimates them from the minibatches."""
    micrographs = _micrographs(range(10, 12))
    geometry = Geometry(particle_diameter_A=2 * DIAMETER_PX, pixel_size_A=2.0, downsample_factor=1)
    torch.manual_seed(0)
    start = build_model("resnet8", units=8)
    assert _batchnorm_state(start)
    common = dict(expected_particles_per_micrograph=40, model="resnet8", epochs=1, steps_per_epoch=3, batch_size=32,
                  device="cpu", extra={"units": 8})
    by_choice = {}
    for choice in ("auto", "update"):
        fitted = fit_picker(TrainConfig(batchnorm_statistics=choice, **common), micrographs, [], n_labeled=28,
                            geometry=geometry, device=torch.device("cpu"), quiet=True, init=start)
        by_choice[choice] = fitted.model
    kept, updated = _batchnorm_state(by_choice["auto"]), _batchnorm_state(by_choice["update"])
    for name, tensor in _batchnorm_state(start).items():
        assert torch.equal(kept[name], tensor), name
        assert not torch.equal(updated[name], tensor), name
    scale_moved = [not torch.equal(a, b) for (name, a), b in zip(by_choice["auto"].state_dict().items(),
                                                                  start.state_dict().values(), strict=True)
                   if name.endswith("bn1.weight")]
    assert scale_moved
    assert all(scale_moved)
    fresh = fit_picker(TrainConfig(**common), micrographs, [], n_labeled=28, geometry=geometry,
                       device=torch.device("cpu"), quiet=True)
    assert all(float(tensor.abs().max()) > 0 for name, tensor in _batchnorm_state(fresh.model).items()
               if name.endswith("running_mean"))  # from zero: updated
    with pytest.raises(ConfigError, match="batchnorm_statistics"):
        TrainConfig(batchnorm_statistics="freeze", **common)
