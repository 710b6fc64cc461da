"""Degenerate data and nonsense parameters: handled sensibly or refused in one line (exit 2);
never a traceback, never a write outside the output directory, never a modified input."""

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cryopick.cli.main import main
from cryopick.errors import InputError
from cryopick.io.coordinates import write_picks_per_micrograph
from cryopick.io.micrographs import write_mrc
from cryopick.picks import Picks
from cryopick.synthetic import make_micrograph

FAST = ["--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "32", "--units", "4", "-q"]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    for index in range(3):
        mic = make_micrograph((96, 96), n_particles=6, diameter_px=16, snr=1, n_distractors=0, seed=index)
        write_mrc(tmp_path / "raw" / f"m{index}.mrc", mic.image, pixel_size_A=2)
    assert main(["preprocess", str(tmp_path / "raw"), "--particle-diameter-A", "32", "-o", str(tmp_path / "work"),
                 "-q"]) == 0
    return tmp_path


def _train(root: Path, labels: str, *extra: str) -> int:
    (root / "labels.txt").write_text("image_name\tx_coord\ty_coord\n" + labels)
    return main(["train", "--micrographs", str(root / "work"), "--particles", str(root / "labels.txt"),
                 "-n", "20", "-o", str(root / "model"), *FAST, *extra])


@pytest.mark.parametrize(("pixels", "message"), [
    (np.full((32, 32), 7.0, np.float32), "every pixel is 7"),
    (np.where(np.eye(32, dtype=bool), np.nan, 0).astype(np.float32), "32 pixels are NaN or infinite"),
    (np.where(np.eye(32, dtype=bool), np.inf, 1).astype(np.float32), "32 pixels are NaN or infinite"),
])
def test_blank_and_non_finite_micrographs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      pixels: np.ndarray, message: str) -> None:
    write_mrc(tmp_path / "raw" / "fine.mrc", np.random.default_rng(0).standard_normal((32, 32)).astype(np.float32),
              pixel_size_A=2)
    with pytest.warns(RuntimeWarning) if not np.isfinite(pixels).all() else contextlib.nullcontext():
        write_mrc(tmp_path / "raw" / "odd.mrc", pixels, pixel_size_A=2)
    assert main(["preprocess", str(tmp_path / "raw"), "--particle-diameter-A", "20", "-o", str(tmp_path / "out"),
                 "-q"]) == 2
    line = _one_error_line(capsys)
    assert "odd.mrc" in line
    assert message in line
    assert not (tmp_path / "out" / "preprocess.json").exists()


def test_micrograph_smaller_than_the_receptive_field(tmp_path: Path) -> None:
    mic = make_micrograph((24, 26), n_particles=1, diameter_px=8, snr=1, n_distractors=0, carbon_edge=False, seed=3)
    write_mrc(tmp_path / "raw" / "tiny.mrc", mic.image, pixel_size_A=1)
    write_mrc(tmp_path / "raw" / "tiny2.mrc", mic.image[::-1].copy(), pixel_size_A=1)
    assert main(["preprocess", str(tmp_path / "raw"), "--particle-diameter-A", "8", "-o", str(tmp_path / "work"),
                 "-q"]) == 0
    y, x = mic.centres_px[0]
    (tmp_path / "labels.txt").write_text(f"image_name\tx_coord\ty_coord\ntiny\t{x}\t{y}\n")
    assert main(["train", "--micrographs", str(tmp_path / "work"), "--particles", str(tmp_path / "labels.txt"),
                 "-n", "2", "-o", str(tmp_path / "model"), "--validation-fraction", "0", *FAST]) == 0
    assert main(["extract", "--model", str(tmp_path / "model"), "--micrographs", str(tmp_path / "work"),
                 "-o", str(tmp_path / "picks.txt"), "-q"]) == 0
    lines = (tmp_path / "picks.txt").read_text().splitlines()
    assert lines[0] == "image_name\tx_coord\ty_coord\tscore"
    assert len(lines) > 1


def test_labels_all_on_one_micrograph_and_duplicates(dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert _train(dataset, "m0\t20\t20\nm0\t50\t60\nm0\t20\t20\n") == 0
    record = json.loads((dataset / "model" / "model.json").read_text())
    assert record["training"]["n_labeled"] == 2  # the duplicate was dropped
    assert record["training"]["validation_micrographs"] == []


@pytest.mark.parametrize(("labels", "extra", "message"), [
    ("../m0\t20\t20\n", [], "micrograph '../m0' is not among"),
    ("m0\t-3\t20\n", [], "lies outside micrograph 'm0'"),
    ("m0\tnan\t20\n", [], "field x_coord"),
    ("m0\t20\t20\n" * 1 + "m0\t30\t30\nm0\t40\t40\nm0\t50\t50\n", ["-n", "0.01"], "pi = "),
    ("m0\t20\t20\nm1\t30\t30\nm2\t40\t40\nm0\t50\t50\n", ["-n", "1"], "pi_U"),
])
def test_bad_labels_and_priors(dataset: Path, capsys: pytest.CaptureFixture[str], labels: str, extra: list[str],
                               message: str) -> None:
    before = _tree(dataset / "work")
    capsys.readouterr()
    assert _train(dataset, labels, *extra) == 2
    line = _one_error_line(capsys)
    assert message in line
    assert not (dataset / "model" / "model.json").exists()
    assert _tree(dataset / "work") == before


@pytest.mark.parametrize("argv", [
    ["extract", "--model", "m", "--micrographs", "w", "-o", "p.star", "--nms-radius-px", "-2"],
    ["extract", "--model", "m", "--micrographs", "w", "-o", "p.star", "--threshold", "nan"],
    ["train", "--micrographs", "w", "--particles", "l.txt", "-o", "m", "-n", "0"],
    ["train", "--micrographs", "w", "--particles", "l.txt", "-o", "m", "-n", "10", "--validation-fraction", "1"],
    ["train", "--micrographs", "w", "--particles", "l.txt", "-o", "m", "-n", "10", "--learning-rate", "-1"],
    ["preprocess", "w", "-o", "o", "--particle-diameter-A", "100", "--pixel-size-A", "0"],
    ["evaluate", "--picks", "p", "--reference", "r", "--match-radius-orig-px", "-1"],
])
def test_nonsense_parameters_are_refused_by_the_parser(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_pi_u_refused_in_training_settings(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(dataset, "m0\t20\t20\n", "--positive-fraction", "1.5") == 2
    assert "positive_fraction" in _one_error_line(capsys)


def test_per_micrograph_output_never_leaves_the_directory(tmp_path: Path) -> None:
    picks = Picks.build(["../escape"], [1], [2], [0.5])
    with pytest.raises(InputError, match="not a plain file name"):
        write_picks_per_micrograph(tmp_path / "out", picks, ["../escape"], "star")
    assert not (tmp_path / "escape.star").exists()
    assert not list(tmp_path.rglob("*.star"))


@pytest.mark.slow
def test_a_whole_run_modifies_no_input_and_writes_only_its_outputs(dataset: Path) -> None:
    inputs = {"raw": _tree(dataset / "raw")}
    labels = "m0\t20\t20\nm1\t30\t30\nm2\t40\t40\n"
    assert _train(dataset, labels) == 0
    inputs["labels"] = _tree(dataset)["labels.txt"]
    inputs["work"] = _tree(dataset / "work")
    before = set(_tree(dataset))
    assert main(["extract", "--model", str(dataset / "model"), "--micrographs", str(dataset / "raw"),
                 "-o", str(dataset / "out"), "--per-micrograph", "-q"]) == 0
    assert main(["evaluate", "--picks", str(dataset / "out"), "--reference", str(dataset / "labels.txt"),
                 "--model", str(dataset / "model"), "-o", str(dataset / "eval"), "-q"]) == 0
    after = _tree(dataset)
    assert {"raw": _tree(dataset / "raw"), "labels": after["labels.txt"], "work": _tree(dataset / "work")} == inputs
    new = set(after) - before
    assert new
    assert all(p.startswith(("out/", "eval/")) for p in new), new
    assert not [p for p in after if p.endswith(".part")]
