"""The machinery of an extraction run, kept apart from what it computes.

How extraction runs, apart from what it computes: micrographs loaded ahead on worker threads
while others are scored, batches for a GPU (their results saved on other threads), one
micrograph per CPU thread, a model per Dask worker thread, and PyTorch's thread count set only
for the duration of a run.

Loading and saving come in as callables, so this module never touches a file format: the
workflow passes functions that read micrographs and keep results.
"""

import collections
import contextlib
import copy
import itertools
import os
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from cryopick.extract.scoring import score_micrographs
from cryopick.models import PickerNet

S = TypeVar("S")
T = TypeVar("T")


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``count`` for this block, the caller's restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def loader_threads() -> int:
    """Threads that load micrographs for a GPU: every core but the one driving it, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def loaded_ahead(load: Callable[[S], T], items: list[S], *, threads: int,
                 depth: int) -> Generator[tuple[S, T], None, None]:
    """Load items ahead on worker threads so that I/O overlaps scoring.

    ``(item, load(item))`` in order, with up to ``depth`` loads running ahead on ``threads``
    threads: reading, downsampling and normalising the next micrographs (numpy, torch and mrcfile
    release the GIL) overlaps scoring these, and on a GPU several cores keep it fed.
    """
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="cryopick-load") as pool:
        pending: collections.deque[tuple[S, Future[T]]] = collections.deque()
        upcoming = iter(items)
        try:
            for item in itertools.islice(upcoming, max(1, depth)):
                pending.append((item, pool.submit(load, item)))
            while pending:
                item, future = pending.popleft()
                result = future.result()
                for following in itertools.islice(upcoming, 1):
                    pending.append((following, pool.submit(load, following)))
                yield item, result
        finally:  # stopped early (an error, Ctrl-C): drop what has not started
            for _, future in pending:
                future.cancel()


def batches(stream: Iterator[T], size: int) -> Iterator[list[T]]:
    """``stream`` in lists of ``size`` (the last one shorter)."""
    batch: list[T] = []
    for item in stream:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_on_cpu_threads(model: PickerNet, todo: list[S], pick: Callable[[PickerNet, S], None], *,
                       quiet: bool) -> None:
    """Pick items on CPU threads, one micrograph per thread, for core-count-independent scores.

    ``pick(model, item)`` for every item, one item per thread, each thread with its own copy of
    the model (scoring switches a model's mode) and PyTorch at one thread: parallelism comes from
    running several micrographs at once, never from splitting one convolution, so every score is
    the same however many cores a run has.
    """
    threads = max(1, min(torch.get_num_threads(), len(todo)))
    with torch_threads(1):
        pool = ThreadPoolExecutor(threads, thread_name_prefix="cryopick-extract")
        try:
            with tqdm(total=len(todo), desc="extract", unit="mic", disable=quiet, leave=False) as progress:
                own = threading.local()

                def one(item: S) -> None:
                    if not hasattr(own, "model"):
                        own.model = copy.deepcopy(model)
                    pick(own.model, item)

                for future in as_completed([pool.submit(one, item) for item in todo]):
                    future.result()
                    progress.update(1)
        except BaseException:
            # Ctrl-C or an error: drop the queued micrographs now (the ones in flight finish, a
            # second or so); what is done stays saved for the rerun
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        else:
            pool.shutdown(wait=True)


def run_batched(model: PickerNet, todo: list[S], load: Callable[[S], npt.NDArray[np.float32]],
                save: Callable[[S, npt.NDArray[np.float32]], None], *, device: torch.device, batch_size: int,
                tile_size_px: int, output_stride: int, quiet: bool) -> None:
    """Score micrographs in batches (the GPU path) while the next ones load and the last ones are saved.

    A GPU's path (it runs on any device): the main thread only scores, in batches; the next
    micrographs are loaded on the CPU's other cores meanwhile, and ``save`` receives each
    micrograph's score map on saver threads (selecting its peaks and writing its result, which
    hashes the input file: tens of milliseconds a micrograph that would otherwise stall the
    device). At most two batches' results wait to be saved; an error in a save is raised here,
    and on any error the saves not yet started are dropped (those running finish).
    """
    loaders = loader_threads()
    backlog = 2 * max(1, batch_size)
    # closing: on an error the loads not yet started are dropped now, not when the generator is collected
    with contextlib.closing(loaded_ahead(load, todo, threads=loaders, depth=batch_size + loaders)) as loaded, \
            tqdm(total=len(todo), desc="extract", unit="mic", disable=quiet, leave=False) as progress, \
            ThreadPoolExecutor(min(loaders, backlog), thread_name_prefix="cryopick-save") as saving:
        saves: collections.deque[Future[None]] = collections.deque()

        def finish(keep: int) -> None:
            """Wait for the oldest saves until at most ``keep`` are outstanding, raising their errors."""
            while len(saves) > keep or (saves and saves[0].done()):
                saves.popleft().result()
                progress.update(1)

        try:
            for batch in batches(loaded, batch_size):
                score_maps = score_micrographs(model, [image for _, image in batch], device=device,
                                               batch_size=batch_size, tile_size_px=tile_size_px,
                                               output_stride=output_stride)
                for (item, _), score_map in zip(batch, score_maps, strict=True):
                    saves.append(saving.submit(save, item, score_map))
                finish(backlog)
            finish(0)
        except BaseException:  # an error or Ctrl-C: what is saved stays saved for the rerun
            for future in saves:
                future.cancel()
            raise


_WORKER_MODEL = threading.local()  # per Dask worker thread: scoring switches a model's mode


def worker_model(key: str, build: Callable[[], PickerNet]) -> PickerNet:
    """The model cached for this Dask worker thread.

    The model of this Dask worker thread, built once per ``key`` (the weights' hash). The
    worker process belongs to the cluster: its threads are the parallelism, so PyTorch runs one
    thread in it (see :func:`run_on_cpu_threads`).
    """
    if getattr(_WORKER_MODEL, "key", None) != key:
        _WORKER_MODEL.model = build()
        _WORKER_MODEL.key = key
        torch.set_num_threads(1)
    model: PickerNet = _WORKER_MODEL.model
    return model
