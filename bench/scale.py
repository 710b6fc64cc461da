"""Extraction throughput in-process and on a local Dask cluster of 1 and 2 workers, and Dask's
per-task overhead, so that a cluster's throughput can be projected. Prints one JSON line.

Needs a trained model (e.g. WORK/model from bench/pipeline.py) and a folder of raw micrographs.

  python bench/scale.py --model /tmp/apo-work/model \\
      --micrographs /tmp/cryopick-data/real_empiar10146_apoferritin/micrographs
"""

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path


def _noop(value: int) -> int:
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--micrographs", type=Path, required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--overhead-tasks", type=int, default=500)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    import distributed
    import torch

    from cryopick.cluster import ClusterConfig
    from cryopick.config import ExtractConfig
    from cryopick.io.micrographs import find_micrographs
    from cryopick.workflows.extract import run_extract

    n = len(find_micrographs([args.micrographs]))
    result: dict = {"bench": "scale", "micrographs": n, "dataset": str(args.micrographs)}

    def timed(cluster: ClusterConfig | None) -> float:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            run_extract(ExtractConfig(), args.model, [args.micrographs], Path(out) / "picks.txt", quiet=True,
                        cluster=cluster)
            return time.perf_counter() - started

    timed(None)  # warm the file cache and the model's kernels: every mode then reads from memory
    seconds = timed(None)
    result["in_process"] = {"s": round(seconds, 2), "micrographs_per_s": round(n / seconds, 3)}
    for workers in args.workers:
        started = time.perf_counter()
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=max(1, (os.cpu_count() or 1) // workers),
                                      processes=True, dashboard_address=None, env={"OMP_NUM_THREADS": "1"}) as cluster:
            startup = time.perf_counter() - started
            cold = timed(ClusterConfig(scheduler=cluster.scheduler_address))  # workers import PyTorch, build models
            seconds = timed(ClusterConfig(scheduler=cluster.scheduler_address))  # as a long session runs
        result[f"workers_{workers}"] = {"cluster_start_s": round(startup, 2), "first_run_s": round(cold, 2),
                                        "s": round(seconds, 2), "micrographs_per_s": round(n / seconds, 3)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        client.gather(client.map(_noop, range(50), pure=False))  # warm up
        started = time.perf_counter()
        client.gather(client.map(_noop, range(args.overhead_tasks), pure=False))
        result["task_overhead_ms"] = round(1000 * (time.perf_counter() - started) / args.overhead_tasks, 3)
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                         "torch": torch.__version__, "distributed": distributed.__version__}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
