import threading

import numpy as np
import pytest
import torch

from cryopick.extract import runtime
from cryopick.models import build_model


def _run(todo: list[int], save, batch_size: int = 3) -> None:
    torch.manual_seed(0)
    model = build_model("conv3", units=4).eval()
    runtime.run_batched(model, todo, lambda i: np.full((20, 24), float(i), dtype=np.float32), save,
                        device=torch.device("cpu"), batch_size=batch_size, tile_size_px=64, output_stride=1,
                        quiet=True)


def test_run_batched_saves_every_score_map_once_off_the_main_thread() -> None:
    saved: dict[int, np.ndarray] = {}
    threads = set()
    lock = threading.Lock()

    def save(item: int, score_map: np.ndarray) -> None:
        with lock:
            assert item not in saved
            saved[item] = score_map
            threads.add(threading.get_ident())

    _run(list(range(10)), save)  # three full batches and a partial one
    assert sorted(saved) == list(range(10))
    assert threading.get_ident() not in threads  # the main thread only scores
    assert all(m.shape == (20, 24) for m in saved.values())
    # a constant image scores the same everywhere inside; different constants score differently
    assert not np.allclose(saved[0], saved[9])


def test_run_batched_raises_a_failed_save_and_starts_no_more() -> None:
    started = []

    def save(item: int, score_map: np.ndarray) -> None:
        started.append(item)
        if item == 1:
            raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        _run(list(range(40)), save, batch_size=2)
    assert len(started) < 40  # stopped at the failure, not after every micrograph
