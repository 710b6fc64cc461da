"""Run per-micrograph steps on Dask, locally or on an existing cluster.

Dask for the per-micrograph steps: ``--workers N`` starts a local cluster of N processes,
``--scheduler ADDRESS`` joins a running one (e.g. workers started by Slurm). Scheduling, retries
after a lost worker and data transfer are Dask's; cryopick only maps a function over micrographs.
"""

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from cryopick.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterConfig:
    """Where per-micrograph tasks run: in this process, a local Dask cluster or a running one."""

    workers: int | None = None  # local processes; None with no scheduler: run in-process
    scheduler: str | None = None  # address of a running Dask scheduler

    def __post_init__(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise ConfigError("give --workers (a local cluster) or --scheduler (a running one), not both")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")

    @property
    def distributed(self) -> bool:
        """Whether tasks go to Dask rather than run in this process."""
        return self.workers is not None or self.scheduler is not None


#: A local cluster's dashboard: this machine only, on a free port. Dask's default (8787, also what
#: it falls back to when given None) clashes with any other cluster running here and warns.
DASHBOARD_ADDRESS = "127.0.0.1:0"


@contextlib.contextmanager
def dask_client(config: ClusterConfig) -> Iterator[Any]:
    """A Dask client for ``config``, closed (with any local cluster) on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise ConfigError("--workers/--scheduler need Dask: pip install distributed") from None
    if config.scheduler is not None:
        try:
            client = Client(config.scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {config.scheduler}: {exc}") from None
        with client:
            log.info("Dask scheduler %s: %d workers", config.scheduler, len(client.scheduler_info()["workers"]))
            yield client
        return
    threads = max(1, (os.cpu_count() or 1) // (config.workers or 1))
    with LocalCluster(n_workers=config.workers, threads_per_worker=threads, processes=True,
                      dashboard_address=DASHBOARD_ADDRESS, env={"OMP_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        log.info("local Dask cluster: %d worker processes, %d micrographs at a time each", config.workers, threads)
        yield client


@contextlib.contextmanager
def optional_dask_client(config: ClusterConfig) -> Iterator[Any]:
    """A Dask client when the config asks for one, else None (run in this process)."""
    if not config.distributed:
        yield None
        return
    with dask_client(config) as client:
        yield client


def map_on_cluster(client: Any, function: Callable[..., Any], items: Iterable[Any], *, desc: str, quiet: bool,
                   **shared: Any) -> Iterator[Any]:
    """Map ``function`` over items, on Dask or in this process, yielding results as they finish.

    Results as tasks finish: on Dask (``shared`` values sent to every worker once), or one
    after another in this process when ``client`` is None.
    """
    if client is None:
        for item in tqdm(list(items), desc=desc, unit="mic", disable=quiet, leave=False):
            yield function(item, **shared)
        return
    futures_of_shared = {key: client.scatter(value, broadcast=True, hash=False) for key, value in shared.items()}
    futures = client.map(function, list(items), pure=False, **futures_of_shared)
    from distributed import as_completed

    with tqdm(total=len(futures), desc=desc, unit="mic", disable=quiet, leave=False) as progress:
        for future in as_completed(futures):
            yield future.result()
            progress.update(1)
