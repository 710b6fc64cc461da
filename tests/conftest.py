"""Shared fixtures: tiny synthetic micrographs with known centres, written as the CLI expects."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from cryopick.io.coordinates import write_picks
from cryopick.io.micrographs import write_mrc
from cryopick.picks import Picks
from cryopick.synthetic import make_micrograph

torch.set_num_threads(2)

# The suite's fuzzers draw the same examples on every run, so a CI result can be reproduced and a
# change is judged on the same inputs as its parent. New inputs come from the random campaign:
# `pytest --hypothesis-profile=fuzz tests/io` (thousands of fresh examples per test); every find
# becomes a fixed regression test beside the fuzzer.
_FUZZ_BASE = dict(suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("suite", max_examples=150, deadline=2000, derandomize=True, **_FUZZ_BASE)
settings.register_profile("fuzz", max_examples=3000, deadline=None, derandomize=False, **_FUZZ_BASE)
settings.load_profile("suite")


def write_synthetic_dataset(root: Path, n_micrographs: int = 6, n_test: int = 2, snr: float = 0.5,
                            size_px: int = 256, particles: int = 25) -> Path:
    """Micrographs at 2 A/px with a 40 A (20 px) particle under ``root``; the last ``n_test`` are
    the test set (train.txt, test.txt)."""
    train, test = [], []
    for index in range(n_micrographs):
        mic = make_micrograph((size_px, size_px), n_particles=particles, diameter_px=20, snr=snr,
                              n_distractors=3, seed=100 + index)
        name = f"mic{index:02d}"
        write_mrc(root / "micrographs" / f"{name}.mrc", mic.image, pixel_size_A=2.0)
        picks = Picks.build([name] * len(mic.centres_px), mic.centres_px[:, 1], mic.centres_px[:, 0])
        (test if index >= n_micrographs - n_test else train).append(picks)
    write_picks(root / "train.txt", Picks.concatenate(train))
    write_picks(root / "test.txt", Picks.concatenate(test))
    return root


@pytest.fixture(scope="session")
def dataset_writer():
    """``write_synthetic_dataset``, for fixtures of wider scope than a test."""
    return write_synthetic_dataset


@pytest.fixture
def synthetic_dataset(tmp_path: Path):
    """Six 256x256 micrographs at 2 A/px with a 40 A (20 px) particle; four train, two test."""

    def build(n_micrographs: int = 6, n_test: int = 2, snr: float = 0.5, size_px: int = 256,
              particles: int = 25) -> Path:
        return write_synthetic_dataset(tmp_path / "dataset", n_micrographs, n_test, snr, size_px, particles)

    return build


def _parses_or_refuses(reader, path: Path) -> None:
    """``reader(path)`` either returns or raises the project's one-line InputError naming the file."""
    from cryopick.errors import InputError

    message = None
    try:
        reader(path)
    except InputError as exc:
        message = str(exc)
    if message is not None:
        assert path.name in message
        assert "\n" not in message


@pytest.fixture(scope="session")
def parses_or_refuses():
    """Checks a reader on hostile input: it parses, or refuses in one line naming the file."""
    return _parses_or_refuses


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
