"""kill -9 during training, then --resume: the same model as a run that was never interrupted."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cryopick.cli.main import main
from cryopick.io.model_files import load_model

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _train(data: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cryopick.cli.main", "train", "--micrographs", str(data / "work"),
            "--particles", str(data / "train.txt"), "-n", "25", "--num-labeled", "40", "--epochs", "6",
            "--steps-per-epoch", "15", "--batch-size", "64", "--units", "8", "--patience", "10",
            "--validation-fraction", "0.25", "--autoencoder", "0.5",  # the decoder's state is resumed too
            # bit for bit holds on the CPU; on CUDA (H100, torch 2.11) the resumed classifier bias came out
            # 1 ulp off, as cuDNN's backward kernels need not sum in the same order in every process
            "--device", "cpu",
            "-o", str(output), "-q", *extra]


@pytest.mark.slow
def test_kill_then_resume_gives_the_uninterrupted_model(synthetic_dataset, tmp_path: Path) -> None:
    data = synthetic_dataset(n_micrographs=4, n_test=0, size_px=160, particles=12)
    assert main(["preprocess", str(data / "micrographs"), "--particle-diameter-A", "40", "-o", str(data / "work"),
                 "-q"]) == 0
    subprocess.run(_train(data, tmp_path / "whole"), env=ENV, check=True)

    killed = subprocess.Popen(_train(data, tmp_path / "killed"), env=ENV)
    marker = tmp_path / "killed" / "checkpoint" / "epoch-0002.json"
    deadline = time.monotonic() + 120
    while not marker.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (tmp_path / "killed" / "model.json").exists()  # nothing that looks complete

    subprocess.run(_train(data, tmp_path / "killed", "--resume"), env=ENV, check=True)
    whole, whole_record = load_model(tmp_path / "whole")
    resumed, resumed_record = load_model(tmp_path / "killed")
    assert sorted(whole) == sorted(resumed)
    for name in whole:
        np.testing.assert_array_equal(whole[name], resumed[name], err_msg=name)
    assert resumed_record["training"]["best_epoch"] == whole_record["training"]["best_epoch"]
    assert [h["loss"] for h in resumed_record["training"]["history"]] == \
        [h["loss"] for h in whole_record["training"]["history"]]


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_from_other_settings(synthetic_dataset, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_dataset(n_micrographs=3, n_test=0, size_px=128, particles=10)
    assert main(["preprocess", str(data / "micrographs"), "--particle-diameter-A", "40", "-o", str(data / "work"),
                 "-q"]) == 0
    base = _train(data, tmp_path / "model")[3:]
    assert main(base[:base.index("--epochs") + 1] + ["1"] + base[base.index("--epochs") + 2:]) == 0
    capsys.readouterr()
    changed = [*base, "--learning-rate", "0.01", "--resume"]
    assert main(changed) == 2
    assert "was made from other inputs or settings" in capsys.readouterr().err
