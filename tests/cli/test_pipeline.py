"""The whole pipeline through the CLI, in-process, on generated micrographs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import starfile

from cryopick.cli.main import main
from cryopick.io.coordinates import read_picks
from cryopick.io.micrographs import write_mrc
from cryopick.synthetic import make_micrograph

TRAIN = ["--epochs", "3", "--steps-per-epoch", "60", "--batch-size", "128", "--units", "16", "-q"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    rows = {"train": ["image_name\tx_coord\ty_coord"], "test": ["image_name\tx_coord\ty_coord"]}
    for index in range(6):
        mic = make_micrograph((256, 256), n_particles=25, diameter_px=20, snr=0.3, n_distractors=3, seed=10 + index)
        name = f"mic{index:02d}"
        write_mrc(root / "raw" / f"{name}.mrc", mic.image, pixel_size_A=2.0)
        split = "test" if index >= 4 else "train"
        rows[split] += [f"{name}\t{x:.2f}\t{y:.2f}" for y, x in mic.centres_px]
    for split, lines in rows.items():
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    assert main(["preprocess", str(root / "raw"), "--particle-diameter-A", "40", "-o", str(root / "work"), "-q"]) == 0
    assert main(["train", "--micrographs", str(root / "work"), "--particles", str(root / "train.txt"),
                 "-n", "25", "--num-labeled", "60", "-o", str(root / "model"), *TRAIN]) == 0
    return root


@pytest.mark.slow
def test_preprocess_records_geometry(pipeline: Path) -> None:
    manifest = json.loads((pipeline / "work" / "preprocess.json").read_text())
    assert manifest["geometry"] == {"particle_diameter_A": 40.0, "pixel_size_A": 2.0, "downsample_factor": 1}
    assert manifest["normalization"]["method"] == "gmm"
    assert sorted(manifest["micrographs"]) == [f"mic{i:02d}" for i in range(6)]


@pytest.mark.slow
def test_trained_model_picks_held_out_micrographs(pipeline: Path) -> None:
    model = json.loads((pipeline / "model" / "model.json").read_text())
    assert model["architecture"]["name"] == "resnet8"  # --model auto: a 20 px particle needs 40 px of context
    assert model["objective"]["name"] == "ge-kl"  # --objective auto with 60 labels (ge-binomial from 100)
    assert model["training"]["n_labeled"] == 60
    assert model["geometry"]["downsample_factor"] == 1
    assert main(["extract", "--model", str(pipeline / "model"), "--micrographs", str(pipeline / "work"),
                 "-o", str(pipeline / "picks.star"), "-q"]) == 0
    assert main(["evaluate", "--picks", str(pipeline / "picks.star"), "--reference", str(pipeline / "test.txt"),
                 "--model", str(pipeline / "model"), "-o", str(pipeline / "eval"), "-q"]) == 0
    metrics = json.loads((pipeline / "eval" / "metrics.json").read_text())
    assert metrics["n_reference"] == 50
    assert metrics["average_precision"] > 0.8, metrics["average_precision"]
    assert (pipeline / "eval" / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"
    table = starfile.read(pipeline / "picks.star")
    # each micrograph named by its path as given to `preprocess`, which RELION resolves
    assert set(table["rlnMicrographName"]) == {str(pipeline / "raw" / f"mic{i:02d}.mrc") for i in range(6)}


@pytest.mark.slow
def test_extract_from_raw_micrographs_matches_preprocessed(pipeline: Path) -> None:
    out = pipeline / "per_mic"
    assert main(["extract", "--model", str(pipeline / "model"), "--micrographs", str(pipeline / "raw"),
                 "-o", str(out), "--per-micrograph", "--format", "box", "--box-size-orig-px", "48", "-t", "0",
                 "-q"]) == 0
    assert sorted(p.name for p in out.glob("*.box")) == [f"mic{i:02d}.box" for i in range(6)]
    assert all(line.split()[2:4] == ["48", "48"] for line in (out / "mic04.box").read_text().splitlines())
    assert (out / "run.log").is_file()
    assert main(["extract", "--model", str(pipeline / "model"), "--micrographs", str(pipeline / "work"),
                 "-o", str(pipeline / "pre.csv"), "-t", "0", "-q"]) == 0
    raw = read_picks(out / "mic04.box")
    pre = read_picks(pipeline / "pre.csv").for_micrograph("mic04")
    # raw input is normalised with a freshly fitted scale: the strong picks agree
    assert abs(len(raw) - len(pre)) <= 0.1 * len(pre) + 2
    distance = np.hypot(raw.x_orig_px[:, None] - pre.x_orig_px[None], raw.y_orig_px[:, None] - pre.y_orig_px[None])
    assert np.mean(distance.min(axis=1) <= 2) > 0.9


@pytest.mark.slow
def test_extract_to_text_loads_no_pandas_nor_scipy_fitting(pipeline: Path) -> None:
    # each is a quarter to a third of a second of every extract's start, and text picks need none
    code = ("import sys\nfrom cryopick.cli.main import main\n"
            f"assert main(['extract', '--model', {str(pipeline / 'model')!r}, '--micrographs', "
            f"{str(pipeline / 'work')!r}, '-o', {str(pipeline / 'lean.txt')!r}, '-q']) == 0\n"
            "loaded = [m for m in ('pandas', 'starfile', 'scipy.ndimage', 'scipy.optimize') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert len(read_picks(pipeline / "lean.txt")) > 0


@pytest.mark.slow
def test_extract_refuses_a_preprocessed_set_of_another_geometry(
    pipeline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = pipeline / "work_other"
    assert main(["preprocess", str(pipeline / "raw"), "--particle-diameter-A", "40", "--downsample", "2",
                 "-o", str(other), "-q"]) == 0
    capsys.readouterr()
    assert main(["extract", "--model", str(pipeline / "model"), "--micrographs", str(other),
                 "-o", str(pipeline / "never.star"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "preprocess.json" in err
    assert "model.json" in err
    assert len(err.splitlines()) == 1
    assert not (pipeline / "never.star").exists()


@pytest.mark.slow
def test_precision_is_estimated_without_a_reference(pipeline: Path, tmp_path: Path) -> None:
    calibration = json.loads((pipeline / "model" / "model.json").read_text())["score_calibration"]
    assert calibration["slope"] > 0
    assert calibration["n_labels"] == 60
    assert calibration["expected_particles_per_micrograph"] == 25
    assert calibration["dataset_reference"]["n_micrographs"] == 6  # all the preprocessed micrographs
    picks = tmp_path / "picks.star"
    model = ["--model", str(pipeline / "model")]
    assert main(["extract", *model, "--micrographs", str(pipeline / "work"), "-o", str(picks), "-q"]) == 0
    saved = json.loads((tmp_path / "picks.star.estimate.json").read_text())
    assert saved["n_micrographs"] == 6
    # the same micrographs as the dataset's sample: as dense as -n says
    assert saved["density_ratio"] == pytest.approx(1.0, abs=0.02)
    assert saved["expected_particles"] == pytest.approx(150 * saved["density_ratio"], abs=0.01)
    # --auto here and on extract keep the same picks; their estimated precision is near the true one
    assert main(["threshold", "--picks", str(picks), "-o", str(tmp_path / "auto.star"), "--auto", "-q"]) == 0
    assert main(["extract", *model, "--micrographs", str(pipeline / "work"), "-o", str(tmp_path / "auto2.star"),
                 "--auto", "-q"]) == 0
    kept = read_picks(tmp_path / "auto.star")
    assert len(kept) == len(read_picks(tmp_path / "auto2.star"))
    assert json.loads((tmp_path / "auto2.star.estimate.json").read_text())["chosen_threshold"] == pytest.approx(
        saved["best_f1"]["threshold"])
    truth = tmp_path / "truth.txt"
    truth.write_text((pipeline / "train.txt").read_text() + "".join(
        (pipeline / "test.txt").read_text().splitlines(keepends=True)[1:]))
    assert main(["evaluate", "--picks", str(tmp_path / "auto.star"), "--reference", str(truth), *model,
                 "-o", str(tmp_path / "eval"), "-q"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    true_precision = metrics["n_matched"] / metrics["n_picks"]
    assert abs(saved["best_f1"]["precision"] - true_precision) < 0.1, (saved["best_f1"], true_precision)
    # the report draws the estimate, with the true curve when a reference is given
    assert main(["report", "--picks", str(picks), "--micrographs", str(pipeline / "work"), "--reference", str(truth),
                 "-o", str(tmp_path / "report.html"), "--max-micrographs", "1", "-q"]) == 0
    assert "estimated without a reference" in (tmp_path / "report.html").read_text()
    # per micrograph: estimate.json in the directory, never read back as EMAN2 coordinates
    info = tmp_path / "info"
    assert main(["extract", *model, "--micrographs", str(pipeline / "work"), "-o", str(info), "--per-micrograph",
                 "--format", "eman2", "-q"]) == 0
    assert (info / "estimate.json").is_file()
    assert main(["threshold", "--picks", str(info), "-o", str(tmp_path / "auto3.star"), "--auto", "-q"]) == 0
    assert len(read_picks(tmp_path / "auto3.star")) == len(kept)


@pytest.mark.slow
def test_a_malformed_dataset_reference_is_refused_naming_the_field(pipeline: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken_model"
    shutil.copytree(pipeline / "model", broken)
    record = json.loads((broken / "model.json").read_text())
    record["score_calibration"]["dataset_reference"]["picks_per_micrograph"][3] = -1.0
    (broken / "model.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["extract", "--model", str(broken), "--micrographs", str(pipeline / "work"), "-o",
                 str(tmp_path / "picks.star"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.json" in err
    assert "dataset_reference" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "picks.star").exists()


@pytest.mark.slow
def test_models_without_a_calibration_still_extract(pipeline: Path, tmp_path: Path) -> None:
    old = tmp_path / "old_model"
    shutil.copytree(pipeline / "model", old)
    record = json.loads((old / "model.json").read_text())
    del record["score_calibration"]
    (old / "model.json").write_text(json.dumps(record))
    picks = tmp_path / "picks.star"
    assert main(["extract", "--model", str(old), "--micrographs", str(pipeline / "work"), "-o", str(picks), "-q"]) == 0
    assert len(read_picks(picks)) > 0
    assert not (tmp_path / "picks.star.estimate.json").exists()
    assert main(["threshold", "--picks", str(picks), "-o", str(tmp_path / "auto.star"), "--auto", "--model", str(old),
                 "-q"]) == 2
    assert main(["extract", "--model", str(old), "--micrographs", str(pipeline / "work"), "-o", str(picks),
                 "--target-precision", "0.9", "-q"]) == 2
