"""`cryopick train` options that choose settings: --autoencoder, --k-fold and --init."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cryopick.cli.main import main
from cryopick.config import LEARNING_RATE_FROM_SCRATCH, init_learning_rate
from cryopick.io.model_files import load_model
from cryopick.io.pretrained import packaged_model_dir

TINY = ["--epochs", "1", "--steps-per-epoch", "8", "--batch-size", "32", "--units", "8", "-q"]


@pytest.fixture
def preprocessed(synthetic_dataset) -> Path:
    data = synthetic_dataset(n_micrographs=4, n_test=0, size_px=128, particles=10)
    assert main(["preprocess", str(data / "micrographs"), "--particle-diameter-A", "40", "-o", str(data / "work"),
                 "-q"]) == 0
    return data


def _train(data: Path, output: Path, *extra: str) -> int:
    return main(["train", "--micrographs", str(data / "work"), "--particles", str(data / "train.txt"),
                 "-o", str(output), *TINY, *extra])


def test_autoencoder_auto_is_ten_over_the_label_count(preprocessed: Path, tmp_path: Path) -> None:
    assert _train(preprocessed, tmp_path / "model", "-n", "12", "--num-labeled", "20", "--autoencoder", "auto") == 0
    record = json.loads((tmp_path / "model" / "model.json").read_text())
    assert record["objective"]["autoencoder_weight"] == pytest.approx(10 / 20)
    # --objective auto, resolved from the 20 labels and recorded as trained
    assert record["objective"]["name"] == record["training"]["config"]["objective"] == "ge-kl"
    assert record["objective"]["weight"] == 10.0
    assert not any(name.startswith("decoder") for name in record.get("tensors", {}))  # only the picker is kept


def test_k_fold_reports_the_table_and_trains_with_the_best_setting(
        preprocessed: Path, tmp_path: Path) -> None:
    assert _train(preprocessed, tmp_path / "model", "-n", "12", "--autoencoder", "0", "auto", "--k-fold", "2") == 0
    with (tmp_path / "model" / "tuning.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["expected_particles_per_micrograph"], r["autoencoder_weight"]) for r in rows] == [
        ("6", "0.0"), ("6", "auto"), ("12", "0.0"), ("12", "auto"), ("24", "0.0"), ("24", "auto")]
    # 6 per micrograph is fewer than the 10 labelled on each: pi_U <= 0, reported and never chosen
    assert all(r["mean_ap"] == "" for r in rows[:2])
    for row in rows[2:]:  # every other cell trained on each fold, the mean is theirs
        folds = [float(row["fold1_ap"]), float(row["fold2_ap"])]
        assert float(row["mean_ap"]) == pytest.approx(sum(folds) / 2, abs=1e-5)
    best = max(rows[2:], key=lambda r: float(r["mean_ap"]))
    assert [r["chosen"] for r in rows].count("yes") == 1
    assert best["chosen"] == "yes"
    record = json.loads((tmp_path / "model" / "model.json").read_text())
    chosen = record["tuning"]["chosen"]
    assert chosen["expected_particles_per_micrograph"] == float(best["expected_particles_per_micrograph"])
    assert record["training"]["config"]["expected_particles_per_micrograph"] == \
        chosen["expected_particles_per_micrograph"]
    assert "pi_U" in record["tuning"]["rows"][0]["error"]
    runner_up = sorted(float(r["mean_ap"]) for r in rows[2:])[-2]
    assert record["tuning"]["distinguishable"] == \
        (float(best["mean_ap"]) - runner_up > float(best["sd_ap"]))
    run_log = (tmp_path / "model" / "run.log").read_text()  # the table is logged (stderr without -q)
    assert "2-fold cross-validation" in run_log
    assert "<- chosen" in run_log


@pytest.mark.parametrize(("extra", "message"), [
    (["-n", "10", "20"], "need --k-fold"),
    (["-n", "10", "--autoencoder", "0", "1"], "need --k-fold"),
    (["-n", "10", "--k-fold", "9"], "needs at least 9 micrographs with labels"),
    (["-n", "10", "--k-fold", "1"], "--k-fold must be >= 2"),
    (["-n", "10", "--autoencoder", "-1"], "must be auto or a number >= 0"),
])
def test_tuning_options_are_checked(preprocessed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    extra: list[str], message: str) -> None:
    capsys.readouterr()
    try:
        code = _train(preprocessed, tmp_path / "model", *extra)
    except SystemExit as refused:  # argparse refuses a bad value itself
        code = int(refused.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "model" / "model.json").exists()


def _first_layer(model_dir: Path) -> np.ndarray:
    tensors, _ = load_model(model_dir)
    return tensors["encoder.0.0.weight"]


def test_init_auto_starts_from_the_general_detector_for_particles_its_size(
        preprocessed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = ["-n", "12", "--epochs", "1", "--steps-per-epoch", "4", "--batch-size", "32"]  # --units left alone
    general = _first_layer(packaged_model_dir("general"))
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles",
                 str(preprocessed / "train.txt"), "-o", str(tmp_path / "auto"), *short]) == 0
    assert "starting from the general detector" in capsys.readouterr().err  # 20 px particles: inside its 15-30 px
    record = json.loads((tmp_path / "auto" / "model.json").read_text())
    assert record["training"]["init_model"] == "general"
    assert record["architecture"]["name"] == "resnet8"
    # a smaller step from a start, smaller still with few labels
    assert record["training"]["config"]["learning_rate"] == init_learning_rate(record["training"]["n_labeled"])
    assert record["training"]["config"]["learning_rate"] < LEARNING_RATE_FROM_SCRATCH
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles", str(preprocessed / "train.txt"),
                 "-o", str(tmp_path / "none"), "--init", "none", "--model", "resnet8", *short, "-q"]) == 0
    scratch = json.loads((tmp_path / "none" / "model.json").read_text())["training"]
    assert scratch["init_model"] is None
    assert scratch["config"]["learning_rate"] == LEARNING_RATE_FROM_SCRATCH
    # four small steps move the general detector's weights a little; a fresh start is elsewhere entirely
    moved_from_general = np.abs(_first_layer(tmp_path / "auto") - general).max()
    assert moved_from_general < 0.5 * np.abs(_first_layer(tmp_path / "none") - general).max()


@pytest.mark.parametrize(("extra", "reason"), [
    (["--units", "8"], "training from scratch (the general detector is a resnet8 of 32 units)"),
    (["--model", "conv3"], "training from scratch (the general detector is a resnet8 of 32 units)"),
])
def test_init_auto_trains_from_scratch_when_asked_for_another_net(
        preprocessed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], reason: str) -> None:
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles",
                 str(preprocessed / "train.txt"), "-o", str(tmp_path / "model"), "-n", "12", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "16", *extra]) == 0
    assert reason in capsys.readouterr().err
    assert json.loads((tmp_path / "model" / "model.json").read_text())["training"]["init_model"] is None


def test_a_pull_or_kept_statistics_without_a_start_are_ignored_with_a_warning(
        preprocessed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles",
                 str(preprocessed / "train.txt"), "-o", str(tmp_path / "model"), "-n", "12", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "16", "--init", "none", "--model", "conv3",
                 "--start-pull", "30", "--batchnorm-statistics", "keep"]) == 0
    err = capsys.readouterr().err
    assert "--start-pull 30 has no start to pull towards" in err
    assert "--batchnorm-statistics keep has no start's statistics to keep" in err


def test_init_follows_the_particle_size(preprocessed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Downsampled by 4 the 20 px particle is 5 px across: auto trains from scratch, general warns."""
    assert main(["preprocess", str(preprocessed / "micrographs"), "--particle-diameter-A", "40", "--downsample", "4",
                 "-o", str(tmp_path / "small"), "-q"]) == 0
    arguments = ["train", "--micrographs", str(tmp_path / "small"), "--particles", str(preprocessed / "train.txt"),
                 "-n", "12", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16"]
    assert main([*arguments, "-o", str(tmp_path / "auto")]) == 0
    assert "5.0 working px across, outside the 15-30 px the general detector was trained at: training " \
           "from scratch" in capsys.readouterr().err
    assert main([*arguments, "--init", "general", "-o", str(tmp_path / "general")]) == 0
    assert "preprocess with a --downsample that brings it inside" in capsys.readouterr().err
    assert json.loads((tmp_path / "general" / "model.json").read_text())["training"]["init_model"] == "general"


def test_a_wide_particle_is_seen_through_an_input_pool(synthetic_dataset, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Said to be 160 A (80 working px), the particle needs 160 px of field: resnet8 pools 3 x 3 (201 px).

    Pooled, it is 26.7 px across, inside the general detector's 15-30: auto starts from it. The
    saved model scores with its pool, and an explicit --model or --input-pool is obeyed.
    """
    data = synthetic_dataset(n_micrographs=3, n_test=1, size_px=128, particles=6)
    assert main(["preprocess", str(data / "micrographs"), "--particle-diameter-A", "160", "--downsample", "1",
                 "-o", str(data / "work"), "-q"]) == 0
    arguments = ["train", "--micrographs", str(data / "work"), "--particles", str(data / "train.txt"), "-n", "12",
                 "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16"]
    assert main([*arguments, "-o", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert "pools 3 x 3 pixels first, seeing 201 working px" in err
    assert "starting from the general detector" in err
    record = json.loads((tmp_path / "auto" / "model.json").read_text())
    assert record["architecture"]["options"] == {"units": 32, "input_pool": 3}
    assert record["architecture"]["receptive_field_px"] == 201
    assert record["training"]["init_model"] == "general"
    assert main(["extract", "--model", str(tmp_path / "auto"), "--micrographs", str(data / "work"),
                 "-o", str(tmp_path / "picks.star"), "-q"]) == 0
    assert (tmp_path / "picks.star").stat().st_size > 0
    assert main([*arguments, "--model", "resnet8", "-q", "-o", str(tmp_path / "asked")]) == 0
    assert "input_pool" not in json.loads((tmp_path / "asked" / "model.json").read_text())["architecture"]["options"]
    assert main([*arguments, "--input-pool", "2", "--init", "none", "--units", "8", "-q",
                 "-o", str(tmp_path / "two")]) == 0
    assert json.loads((tmp_path / "two" / "model.json").read_text())["architecture"]["options"]["input_pool"] == 2
