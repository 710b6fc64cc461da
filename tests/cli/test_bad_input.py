"""Bad input: one line naming the file, exit status 2, and nothing half-written."""

import json
from pathlib import Path

import numpy as np
import pytest

from cryopick.cli.main import main
from cryopick.io.micrographs import write_mrc

TRAIN = ["-n", "10", "--epochs", "1", "--steps-per-epoch", "2", "-q"]


def _preprocess(source: Path, output: Path) -> int:
    return main(["preprocess", str(source), "--particle-diameter-A", "40", "-o", str(output), "-q"])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def preprocessed(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_mrc(tmp_path / "raw" / f"{name}.mrc", rng.standard_normal((96, 128)).astype(np.float32), pixel_size_A=2)
    assert _preprocess(tmp_path / "raw", tmp_path / "work") == 0
    return tmp_path


def test_truncated_mrc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    write_mrc(tmp_path / "raw" / "good.mrc", rng.standard_normal((64, 64)).astype(np.float32), pixel_size_A=2)
    write_mrc(tmp_path / "raw" / "zcut.mrc", rng.standard_normal((64, 64)).astype(np.float32), pixel_size_A=2)
    data = (tmp_path / "raw" / "zcut.mrc").read_bytes()
    (tmp_path / "raw" / "zcut.mrc").write_bytes(data[:2000])
    assert _preprocess(tmp_path / "raw", tmp_path / "out") == 2
    assert "zcut.mrc" in _error_line(capsys)
    # nothing but the log, and the resumable work of the good micrograph (hidden)
    assert not [p for p in (tmp_path / "out").glob("*") if p.name != "run.log" and not p.name.startswith(".")]
    assert (tmp_path / "raw" / "zcut.mrc").read_bytes() == data[:2000]  # input untouched


def test_directory_with_no_micrographs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert _preprocess(tmp_path / "empty", tmp_path / "out") == 2
    assert "empty: directory holds no micrographs" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("labels", "message"), [
    ("image_name\tx_coord\ty_coord\na\t10\t10\nghost\t5\t5\n", r"labels.txt:3: micrograph 'ghost' is not among"),
    ("image_name\tx_coord\ty_coord\n", r"labels.txt: contains no particles"),
    ("", r"labels.txt: file is empty"),
    ("image_name\tx_coord\ty_coord\na\t10\t10\nb\t500\t20\n", r"labels.txt:3: particle at \(500, 20\) lies outside"),
])
def test_bad_labels(preprocessed: Path, capsys: pytest.CaptureFixture[str], labels: str, message: str) -> None:
    (preprocessed / "labels.txt").write_text(labels)
    capsys.readouterr()
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles", str(preprocessed / "labels.txt"),
                 "-o", str(preprocessed / "model"), *TRAIN]) == 2
    import re

    assert re.search(message, _error_line(capsys))
    assert not (preprocessed / "model" / "model.json").exists()
    assert not (preprocessed / "model" / "weights.safetensors").exists()


def test_nonsense_parameters_are_refused_at_the_cli(preprocessed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["preprocess", str(preprocessed / "raw"), "--particle-diameter-A", "-5", "-o", str(preprocessed / "x")])
    assert exit_info.value.code == 2
    assert "must be a positive number" in capsys.readouterr().err
    assert main(["preprocess", str(preprocessed / "raw"), "--particle-diameter-A", "10", "--downsample", "4",
                 "-o", str(preprocessed / "x"), "-q"]) == 2
    assert "downsample less" in _error_line(capsys)
    assert main(["preprocess", str(preprocessed / "raw"), "--particle-diameter-A", "40",
                 "-o", str(preprocessed / "raw"), "-q"]) == 2
    assert "would overwrite an input" in _error_line(capsys)


def test_a_directory_output_onto_an_existing_file_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    write_mrc(tmp_path / "raw" / "a.mrc", rng.standard_normal((64, 64)).astype(np.float32), pixel_size_A=2)
    (tmp_path / "taken").write_text("keep me")
    assert _preprocess(tmp_path / "raw", tmp_path / "taken") == 2
    assert "not a directory" in _error_line(capsys)
    assert (tmp_path / "taken").read_text() == "keep me"


def test_a_file_output_onto_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.txt").write_text("image_name\tx_coord\ty_coord\nm\t1\t2\n")
    (tmp_path / "out").mkdir()
    assert main(["convert", "--picks", str(tmp_path / "in.txt"),
                 "-o", str(tmp_path / "out"), "--format", "csv", "-q"]) == 2
    assert "is a directory" in _error_line(capsys)


def test_evaluate_with_no_micrograph_in_common_names_both_sides(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "picks.txt").write_text("image_name\tx_coord\ty_coord\tscore\nmic_a\t1\t2\t0.5\n")
    (tmp_path / "truth.txt").write_text("image_name\tx_coord\ty_coord\nMotionCorr_a\t1\t2\n")
    assert main(["evaluate", "--picks", str(tmp_path / "picks.txt"), "--reference", str(tmp_path / "truth.txt"),
                 "--match-radius-orig-px", "5", "-q"]) == 2
    line = _error_line(capsys)
    assert "'mic_a'" in line
    assert "'MotionCorr_a'" in line


def test_an_nms_radius_wider_than_any_micrograph_is_refused(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "--model", str(tmp_path), "--micrographs", str(tmp_path), "--nms-radius-px", "1e6",
                 "-o", str(tmp_path / "p.star"), "-q"]) == 2
    assert "NMS radius" in _error_line(capsys)


def test_training_that_diverges_says_what_to_do(preprocessed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (preprocessed / "labels.txt").write_text("image_name\tx_coord\ty_coord\na\t40\t40\na\t80\t60\nb\t50\t50\n")
    code = main(["train", "--micrographs", str(preprocessed / "work"), "--particles", str(preprocessed / "labels.txt"),
                 "-o", str(preprocessed / "model"), "--learning-rate", "1e12", "--model", "conv3", "--units", "4",
                 "-n", "10", "--epochs", "1", "--steps-per-epoch", "5", "--batch-size", "32", "-q"])
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "lower --learning-rate" in errors[0]
    assert not (preprocessed / "model" / "model.json").exists()


def test_a_manifest_without_normalization_is_one_line_naming_it(preprocessed: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import json

    manifest_path = preprocessed / "work" / "preprocess.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["normalization"]
    manifest_path.write_text(json.dumps(manifest))
    (preprocessed / "labels.txt").write_text("image_name\tx_coord\ty_coord\na\t40\t40\n")
    capsys.readouterr()
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles", str(preprocessed / "labels.txt"),
                 "-o", str(preprocessed / "model"), *TRAIN]) == 2
    line = _error_line(capsys)
    assert "preprocess.json: field normalization" in line
    assert "KeyError" not in line


def _tiny_model(preprocessed: Path) -> tuple[Path, dict]:
    """A conv3 of 4 units trained for a moment; its model.json's path and contents, to spoil."""
    (preprocessed / "labels.txt").write_text("image_name\tx_coord\ty_coord\na\t40\t40\na\t80\t60\nb\t50\t50\n")
    assert main(["train", "--micrographs", str(preprocessed / "work"), "--particles", str(preprocessed / "labels.txt"),
                 "-o", str(preprocessed / "model"), "--model", "conv3", "--units", "4", *TRAIN]) == 0
    config_path = preprocessed / "model" / "model.json"
    return config_path, json.loads(config_path.read_text())


def _extract_refuses(preprocessed: Path, capsys: pytest.CaptureFixture[str], config_path: Path, record: dict) -> str:
    """``record`` written as the model's model.json: extract exits 2 with no picks; its error line."""
    config_path.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["extract", "--model", str(preprocessed / "model"), "--micrographs", str(preprocessed / "raw"),
                 "-o", str(preprocessed / "picks.star"), "-q"]) == 2
    assert not (preprocessed / "picks.star").exists()
    return _error_line(capsys)


@pytest.mark.parametrize("normalization", [None, {"method": "gmm"}, {"method": "median"}, "gmm"])
def test_a_model_without_usable_normalization_is_one_line_naming_it(
        preprocessed: Path, capsys: pytest.CaptureFixture[str], normalization: object) -> None:
    config_path, record = _tiny_model(preprocessed)
    if normalization is None:
        del record["normalization"]
    else:
        record["normalization"] = normalization
    line = _extract_refuses(preprocessed, capsys, config_path, record)
    assert "model.json: field normalization" in line
    assert "KeyError" not in line


@pytest.mark.parametrize("input_pool", ["4", 0, 99, 2.5, True])
def test_a_model_with_a_nonsense_input_pool_is_one_line_naming_it(
        preprocessed: Path, capsys: pytest.CaptureFixture[str], input_pool: object) -> None:
    config_path, record = _tiny_model(preprocessed)
    record["architecture"]["options"]["input_pool"] = input_pool
    line = _extract_refuses(preprocessed, capsys, config_path, record)
    assert "model.json: malformed model description" in line
    assert "input" in line
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--micrographs", str(preprocessed / "work"), "--particles", str(preprocessed / "labels.txt"),
              "-o", str(preprocessed / "again"), "--input-pool", "0"])
    assert exit_info.value.code == 2
    assert "must be auto or 1 to 8" in capsys.readouterr().err
