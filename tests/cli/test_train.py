"""`cryopick train` options that choose settings: --autoencoder and --k-fold."""

import csv
import json
from pathlib import Path

import pytest

from cryopick.cli.main import main

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
