"""One source for each default and each list of choices: the command line takes them from the
config dataclasses and the registries, so the CLI and the Python API cannot disagree."""

import dataclasses
import subprocess
import sys

import pytest

from cryopick.cli.main import build_parser
from cryopick.config import (
    MATCHINGS,
    MODEL_CHOICES,
    NORMALIZATIONS,
    OBJECTIVES,
    SCORE_STRIDES_PX,
    EvaluateConfig,
    ExtractConfig,
    ParticlesConfig,
    PreprocessConfig,
    ReportConfig,
    SimulateConfig,
    TrainConfig,
)
from cryopick.io.formats import FORMATS

# minimal argv per command, and the config whose defaults it must show: {option dest: config field}
CASES = {
    "train": (["--micrographs", "w", "--particles", "p", "-o", "m", "-n", "5"], TrainConfig, {
        "model": "model", "objective": "objective", "objective_weight": "objective_weight",
        "label_radius_px": "label_radius_px", "num_labeled": "num_labeled",
        "validation_fraction": "validation_fraction", "epochs": "epochs", "steps_per_epoch": "steps_per_epoch",
        "batch_size": "batch_size", "positive_fraction": "positive_fraction", "learning_rate": "learning_rate",
        "weight_decay": "weight_decay", "patience": "patience_epochs", "seed": "seed", "device": "device"}),
    "extract": (["--model", "m", "--micrographs", "w", "-o", "p.star"], ExtractConfig, {
        "threshold": "threshold", "nms_radius_px": "nms_radius_px", "batch_size": "batch_size",
        "tile_size_px": "tile_size_px", "device": "device", "score_stride_px": "score_stride_px",
        "pixel_size_A": "pixel_size_A", "box_size_orig_px": "box_size_orig_px"}),
    "preprocess": (["raw", "--particle-diameter-A", "100", "-o", "w"], PreprocessConfig, {
        "pixel_size_A": "pixel_size_A", "downsample": "downsample_factor", "normalize": "normalization",
        "seed": "seed"}),
    "evaluate": (["--picks", "p", "--reference", "r", "--match-radius-orig-px", "3"], EvaluateConfig, {
        "matching": "matching"}),
    "particles": (["--picks", "p", "--micrographs", "m", "-o", "o"], ParticlesConfig, {
        "background_radius_orig_px": "background_radius_orig_px", "invert_contrast": "invert_contrast",
        "pixel_size_A": "pixel_size_A", "voltage_kV": "voltage_kV",
        "spherical_aberration_mm": "spherical_aberration_mm", "amplitude_contrast": "amplitude_contrast"}),
    "report": (["--picks", "p", "--micrographs", "m", "-o", "r.html"], ReportConfig, {
        "threshold": "threshold", "max_micrographs": "max_micrographs", "thumbnail_px": "thumbnail_px"}),
    "simulate": (["-o", "d"], SimulateConfig, {
        "num_micrographs": "num_micrographs", "size_px": "size_px", "pixel_size_A": "pixel_size_A",
        "particle_diameter_A": "particle_diameter_A", "particles_per_micrograph": "particles_per_micrograph",
        "snr": "snr", "test_fraction": "test_fraction", "seed": "seed"}),
}


def _default(config: type, name: str) -> object:
    field = {f.name: f for f in dataclasses.fields(config)}[name]
    assert field.default is not dataclasses.MISSING, f"{config.__name__}.{name} has no default"
    return field.default


@pytest.mark.parametrize("command", sorted(CASES))
def test_cli_defaults_are_the_configs(command: str) -> None:
    argv, config, options = CASES[command]
    args = build_parser().parse_args([command, *argv])
    for dest, name in options.items():
        assert getattr(args, dest) == _default(config, name), f"{command} --{dest} differs from {config.__name__}"


def test_cli_choices_come_from_the_registries() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")

    def choices(command: str, dest: str) -> tuple:
        action = next(a for a in subparsers.choices[command]._actions if a.dest == dest)  # type: ignore[union-attr]
        return tuple(action.choices)

    assert choices("train", "model") == MODEL_CHOICES
    assert choices("train", "objective") == ("auto", *OBJECTIVES)
    assert choices("preprocess", "normalize") == NORMALIZATIONS
    assert choices("evaluate", "matching") == MATCHINGS
    assert choices("extract", "score_stride_px") == SCORE_STRIDES_PX
    for command, dest in [("extract", "format"), ("convert", "format"), ("train", "particles_format"),
                          ("evaluate", "picks_format"), ("report", "picks_format")]:
        assert choices(command, dest) == FORMATS


def test_objectives_are_the_registered_ones() -> None:
    from cryopick.pu import OBJECTIVE_FUNCTIONS

    assert tuple(OBJECTIVE_FUNCTIONS) == OBJECTIVES


def test_help_loads_no_torch() -> None:
    code = ("import sys\nfrom cryopick.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "for command in ('train', 'extract', 'convert'):\n    try:\n        main([command, '--help'])\n"
            "    except SystemExit:\n        pass\nassert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_simulate_refuses_a_micrograph_too_small_in_one_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryopick.cli.main import main

    assert main(["simulate", "-o", str(tmp_path / "sim"), "--size-px", "63", "-q"]) == 2
    assert "--size-px 63 is too small; use >= 64" in capsys.readouterr().err
    assert not (tmp_path / "sim").exists()
