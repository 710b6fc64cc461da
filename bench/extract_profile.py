"""Where an extraction run's time goes (the GPU path): one JSON line.

bench/extract_large.py times each stage alone and predicts a rate from them; this script times a
real `run_extract` from inside, to say why the two differ. Four sections:
  startup:    importing torch and cryopick, CUDA's start, loading the model, and the first batch
              scored against a warm one (cuDNN's choices, the allocator);
  loaders:    `loaded_ahead` alone (no scoring) over the same micrographs on 1, 2, 4, 8 threads:
              micrographs per second, speed-up, and CPU seconds per wall second (the parallelism
              achieved); each loading stage (read, Fourier crop, normalise) and the SHA-256 of an
              input file likewise on 1 thread and on the most;
  end_to_end: `run_extract` over --counts micrographs (64, then more), instrumented: its phases
              (model load, picking, reading results back, the estimate, writing picks) and, on
              the main thread of the picking, the time spent waiting for loaded micrographs,
              scoring, selecting peaks and saving each result (of which hashing files), per
              batch; the loads' mean time and concurrency during the run. The difference of two
              counts gives the steady rate and the fixed cost of a run;
  summary:    the figures that answer the question, from the above.

Micrographs: --tile names small micrographs at the model's pixel size (e.g. one
`cryopick simulate --size-px 1024`), repeated (tiled, shifted) up to --size-px, so the data need
not travel; without --tile, extract_large's own data (simulated at full size: a minute each).
Each distinct micrograph is linked many times under new names, as in extract_large.

On an H100 (bench/results/speed/gpu_h100_extract_profile_2026-11-27.json) the main thread was the
limit: saving each result hashed its 64 MB input file there (66 ms of 97 ms a micrograph), while
the loaders alone ran at 54/s; with saves on their own threads, 10 -> 31 micrographs/s steady.

  python bench/extract_profile.py --work /tmp/xprof --model MODEL --tile small.mrc --device cuda
  python bench/extract_profile.py --work /tmp/xprof --model MODEL --tile small.mrc --device cpu \\
      --size-px 1024 --counts 8,16 --threads 1,2 --loader-micrographs 8 --batched   # smoke test
"""

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 - the clock starts before the imports it times
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

BEFORE_TORCH = time.perf_counter()
import torch  # noqa: E402

AFTER_TORCH = time.perf_counter()
import cryopick.cli.main  # noqa: E402, F401 - what the CLI imports
from cryopick.config import ExtractConfig  # noqa: E402
from cryopick.device import resolve_device  # noqa: E402
from cryopick.extract import job as job_module  # noqa: E402
from cryopick.extract import runtime  # noqa: E402
from cryopick.extract.scoring import score_micrographs  # noqa: E402
from cryopick.io import results as results_module  # noqa: E402
from cryopick.io.micrographs import read_micrograph, write_mrc  # noqa: E402
from cryopick.io.model_files import file_sha256  # noqa: E402
from cryopick.io.results import ResultStore  # noqa: E402
from cryopick.preprocess.fourier import fourier_crop  # noqa: E402
from cryopick.preprocess.normalization import normalize_micrograph  # noqa: E402
from cryopick.workflows import extract as extract_module  # noqa: E402
from cryopick.workflows import extractor as extractor_module  # noqa: E402
from cryopick.workflows.extractor import Extractor  # noqa: E402
from cryopick.workflows.modelio import load_picker  # noqa: E402
from cryopick.workflows.sources import find_micrograph_sources  # noqa: E402

AFTER_CRYOPICK = time.perf_counter()

from measure import machine, synchronize  # noqa: E402


def r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def make_micrographs(work: Path, tiles: list[Path], *, size_px: int, distinct: int, pixel_size_A: float) -> list[Path]:
    """``distinct`` micrographs of ``size_px``: the tiles repeated, each shifted its own way."""
    out = work / f"distinct_{size_px}"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(distinct):
        path = out / f"m{d}.mrc"
        if not path.exists():
            tile = read_micrograph(tiles[d % len(tiles)]).array
            reps = (-(-size_px // tile.shape[0]), -(-size_px // tile.shape[1]))
            image = np.roll(np.tile(tile, reps), (37 * d, 53 * d), axis=(0, 1))[:size_px, :size_px]
            write_mrc(path, np.ascontiguousarray(image, dtype=np.float32), pixel_size_A=pixel_size_A)
        paths.append(path)
    return paths


def linked(work: Path, originals: list[Path], count: int) -> Path:
    """A directory of ``count`` links to ``originals`` (in turn), each under its own name."""
    many = work / f"micrographs_{count}"
    shutil.rmtree(many, ignore_errors=True)
    many.mkdir(parents=True)
    for i in range(count):
        (many / f"{originals[i % len(originals)].stem}_c{i:04d}.mrc").hardlink_to(originals[i % len(originals)])
    return many


class Clock:
    """Intervals recorded by name from any thread: (start, end, thread id)."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        self.lock = threading.Lock()

    def wrap(self, name: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.spans[name].append((start, time.perf_counter(), threading.get_ident()))
        return timed

    def wrap_iterator(self, name: str, function: Callable[..., Iterator]) -> Callable[..., Iterator]:
        """Each ``next`` of the iterator ``function`` returns, timed (waiting for what it yields)."""
        def timed(*args: Any, **kwargs: Any) -> Iterator:
            iterator = function(*args, **kwargs)
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    self.spans[name].append((start, time.perf_counter(), threading.get_ident()))
                    return
                self.spans[name].append((start, time.perf_counter(), threading.get_ident()))
                yield item
        return timed

    def total(self, name: str, thread: int | None = None, *, other: bool = False) -> float:
        """Seconds in ``name``: on every thread, on ``thread`` alone, or (``other``) on every thread but it."""
        return sum(end - start for start, end, t in self.spans.get(name, [])
                   if thread is None or (t != thread if other else t == thread))

    def count(self, name: str) -> int:
        return len(self.spans.get(name, []))


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    previous = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, previous)


def timed_map(function: Callable, items: list, threads: int) -> tuple[float, float]:
    """(wall s, CPU s of the process) of ``function`` over ``items`` on ``threads`` threads."""
    wall, cpu = time.perf_counter(), time.process_time()
    if threads == 1:
        for item in items:
            function(item)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(function, items))
    return time.perf_counter() - wall, time.process_time() - cpu


def startup_section(device: torch.device, model_dir: Path, images: list, config: ExtractConfig) -> dict:
    out: dict[str, Any] = {"import_torch_s": r(AFTER_TORCH - BEFORE_TORCH, 3),
                           "import_cryopick_s": r(AFTER_CRYOPICK - AFTER_TORCH, 3)}
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.init()
        torch.zeros(1, device=device)
        synchronize(device)
    out["device_init_s"] = r(time.perf_counter() - start, 3)
    start = time.perf_counter()
    model, _, _ = load_picker(model_dir)
    out["model_load_s"] = r(time.perf_counter() - start, 3)
    batch = [images[i % len(images)] for i in range(config.batch_size or 8)]
    times = []
    for _ in range(4):
        start = time.perf_counter()
        score_micrographs(model, batch, device=device, batch_size=len(batch), tile_size_px=config.tile_size_px,
                          output_stride=config.resolved_score_stride_px(model.input_pool))
        synchronize(device)
        times.append(time.perf_counter() - start)
    out["first_batch_s"] = r(times[0])
    out["warm_batch_s"] = r(statistics.median(times[1:]))
    out["first_batch_extra_s"] = r(times[0] - statistics.median(times[1:]))
    out["batch_size"] = len(batch)
    out["process_to_here_s"] = r(time.perf_counter() - STARTED, 2)
    return out


def loaders_section(extractor: Extractor, sources: list, threads: list[int], batch_size: int,
                    work_images: list[np.ndarray], raw_images: list[np.ndarray]) -> dict:
    out: dict[str, Any] = {"micrographs": len(sources), "loaded_ahead": {}, "stages": {}}
    extractor._load(sources[0])  # warm: page cache, imports, FFT plans
    base = None
    for t in threads:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in runtime.loaded_ahead(extractor._load, sources, threads=t, depth=batch_size + t):
            pass
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        base = base or wall
        out["loaded_ahead"][str(t)] = {"s": r(wall, 3), "per_s": r(len(sources) / wall, 2),
                                       "speedup": r(base / wall, 2), "cpu_per_wall": r(cpu / wall, 2)}
        print(f"loaders {t} threads: {len(sources) / wall:.2f}/s, cpu/wall {cpu / wall:.2f}", file=sys.stderr)
    n = len(sources)
    normalization = extractor.job.normalization
    factor = extractor.geometry.downsample_factor
    stages: dict[str, Callable[[int], Any]] = {
        "read": lambda i: read_micrograph(sources[i].path).array,
        "fourier_crop": lambda i: fourier_crop(raw_images[i % len(raw_images)], factor),
        "normalise": lambda i: normalize_micrograph(work_images[i % len(work_images)], normalization, seed=i,
                                                    samples=20_000),
        "sha256_input": lambda i: file_sha256(sources[i].path),
    }
    most = max(threads)
    for name, function in stages.items():
        function(0)
        one, one_cpu = timed_map(function, list(range(n)), 1)
        many, many_cpu = timed_map(function, list(range(n)), most)
        out["stages"][name] = {"s_each_1_thread": r(one / n), f"s_each_{most}_threads": r(many / n),
                               "speedup": r(one / many, 2), "cpu_per_wall": r(many_cpu / many, 2)}
    return out


def end_to_end_section(config: ExtractConfig, model_dir: Path, directory: Path, work: Path, *,
                       batched: bool) -> dict:
    clock = Clock()
    output = work / f"picks_{directory.name}" / "picks.txt"
    shutil.rmtree(output.parent, ignore_errors=True)
    patches = [
        (runtime, "score_micrographs", clock.wrap("score", runtime.score_micrographs)),
        (runtime, "batches", clock.wrap_iterator("wait_for_batch", runtime.batches)),
        (job_module, "picks_of", clock.wrap("picks_of", job_module.picks_of)),
        (results_module, "file_sha256", clock.wrap("sha256", results_module.file_sha256)),
        (ResultStore, "write", clock.wrap("store_write", ResultStore.write)),
        (Extractor, "_load", clock.wrap("load", Extractor._load)),
        (Extractor, "__init__", clock.wrap("extractor_init", Extractor.__init__)),
        (Extractor, "run", clock.wrap("run", Extractor.run)),
        (Extractor, "picks", clock.wrap("read_picks", Extractor.picks)),
        (extract_module, "estimate_and_choose", clock.wrap("estimate", extract_module.estimate_and_choose)),
        (extract_module, "write_outputs", clock.wrap("write_outputs", extract_module.write_outputs)),
    ]
    if batched:  # a CPU smoke test of the GPU's path
        patches.append((extractor_module, "pick_locally",
                        lambda model, todo, **kw: job_module.pick_batched(model, todo, **kw)))
    with contextlib.ExitStack() as stack:
        for target, name, value in patches:
            stack.enter_context(patched(target, name, value))
        start, cpu = time.perf_counter(), time.process_time()
        summary = extract_module.run_extract(config, model_dir, [directory], output, quiet=True)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = summary.n_micrographs
    main = threading.get_ident()
    run = clock.total("run")
    inside = {k: clock.total(k, main) for k in ("wait_for_batch", "score", "picks_of", "store_write")}
    main_sha = clock.total("sha256", main)
    saves = [span for span in clock.spans["store_write"] if span[2] != main]
    save_span = (max(e for _, e, _ in saves) - min(s for s, _, _ in saves)) if saves else 0.0
    loads = clock.spans["load"]
    span = (max(e for _, e, _ in loads) - min(s for s, _, _ in loads)) if loads else 0.0
    batches = max(1, clock.count("score"))
    return {
        "micrographs": n, "picks": summary.n_picks, "s": r(total, 3), "per_s": r(n / total, 2),
        "cpu_per_wall": r(cpu / total, 2),
        "phases_s": {"extractor_init": r(clock.total("extractor_init"), 3), "run": r(run, 3),
                     "read_picks": r(clock.total("read_picks"), 3), "estimate": r(clock.total("estimate"), 3),
                     "write_outputs": r(clock.total("write_outputs"), 3),
                     "other": r(total - run - sum(clock.total(k) for k in ("extractor_init", "read_picks", "estimate",
                                                                              "write_outputs")), 3)},
        "main_thread_in_run_s": {**{k: r(v, 3) for k, v in inside.items()},
                                 "of_store_write_sha256": r(main_sha, 3),
                                 "other": r(run - sum(inside.values()), 3)},
        "per_batch_s": {k: r(v / batches) for k, v in inside.items()} | {"batches": batches},
        "per_micrograph_main_thread_s": {k: r(v / max(1, n)) for k, v in inside.items()}
                                        | {"sha256": r(main_sha / max(1, n))},
        "saves_off_main_thread": {"count": len(saves), "picks_of_s": r(clock.total("picks_of", main, other=True), 3),
                                  "store_write_s": r(sum(e - s for s, e, _ in saves), 3),
                                  "sha256_s": r(clock.total("sha256", main, other=True), 3),
                                  "concurrency": r(sum(e - s for s, e, _ in saves) / save_span, 2) if save_span
                                  else None},
        "loads": {"count": len(loads), "mean_s": r(sum(e - s for s, e, _ in loads) / max(1, len(loads))),
                  "concurrency": r(sum(e - s for s, e, _ in loads) / span, 2) if span else None,
                  "threads_seen": len({t for _, _, t in loads})},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="working directory")
    parser.add_argument("--model", type=Path, help="a trained model (default: extract_large's, made in --work)")
    parser.add_argument("--tile", type=Path, nargs="+", help="small micrographs at the model's pixel size, tiled")
    parser.add_argument("--size-px", type=int, default=4096)
    parser.add_argument("--downsample", type=int, default=8, help="without --model: extract_large's model's")
    parser.add_argument("--distinct", type=int, default=2, help="distinct micrographs (default: %(default)s)")
    parser.add_argument("--counts", default="64,192", help="micrographs per end-to-end run (default: %(default)s)")
    parser.add_argument("--threads", default="1,2,4,8", help="loader threads tried (default: %(default)s)")
    parser.add_argument("--loader-micrographs", type=int, default=32, help="loaded per thread count")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto", help="as extract's --device (default: %(default)s)")
    parser.add_argument("--batched", action="store_true", help="on a CPU too, the GPU's batched path")
    parser.add_argument("--budget-s", type=float, default=0, help="skip end-to-end runs that would end past this")
    parser.add_argument("--sections", default="startup,loaders,end_to_end", help="(default: %(default)s)")
    parser.add_argument("--label", default="", help="recorded as is (which code ran, say)")
    parser.add_argument("--out", type=Path, help="also write the JSON here (after each section)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    config = ExtractConfig(device=str(device), batch_size=args.batch_size)
    if args.model is None:
        from extract_large import make_data
        args.model = make_data(args.work, size_px=args.size_px, distinct=args.distinct, copies=1,
                               downsample=args.downsample)
        originals = sorted((args.work / f"simulated_{args.size_px}" / "micrographs").glob("*.mrc"))
    else:
        _, _, geometry = load_picker(args.model)
        originals = make_micrographs(args.work, args.tile, size_px=args.size_px, distinct=args.distinct,
                                     pixel_size_A=geometry.pixel_size_A)
    sections = set(args.sections.split(","))
    result: dict[str, Any] = {"bench": "extract_profile", "label": args.label, "device": str(device),
                              "size_px": args.size_px, "distinct": len(originals), "batch_size": args.batch_size,
                              "loader_threads_used_by_extract": runtime.loader_threads()}

    def emit() -> None:
        if args.out:
            args.out.write_text(json.dumps(result) + "\n")

    extractor = Extractor(config, args.model, args.work / "scratch-results", quiet=True)
    loader_dir = linked(args.work, originals, args.loader_micrographs)
    sources = find_micrograph_sources([loader_dir]).micrographs
    raw_images = [read_micrograph(p).array for p in originals]
    work_images = [extractor._load(s) for s in sources[:len(originals)]]
    result["working_shape_px"] = list(work_images[0].shape)
    for name, section in (
            ("startup", lambda: startup_section(device, args.model, work_images, config)),
            ("loaders", lambda: loaders_section(extractor, sources, [int(t) for t in args.threads.split(",")],
                                                args.batch_size, work_images, raw_images))):
        if name not in sections:
            continue
        try:
            result[name] = section()
        except Exception as exc:  # noqa: BLE001 - keep the other sections' figures
            result[name] = {"error": repr(exc)}
        emit()
        print(f"{name} done at {time.perf_counter() - STARTED:.1f} s", file=sys.stderr)
    raw_images.clear()  # memory for the end-to-end runs
    runs: dict[str, Any] = {}
    result["end_to_end"] = runs
    for count in (int(c) for c in args.counts.split(",") if "end_to_end" in sections):
        elapsed = time.perf_counter() - STARTED
        if args.budget_s and runs:
            rate = max(v["per_s"] for v in runs.values() if "per_s" in v)
            if elapsed + 1.3 * count / rate > args.budget_s:
                runs[str(count)] = {"skipped": f"would end past --budget-s at {rate:.1f}/s"}
                continue
        try:
            directory = linked(args.work, originals, count)
            synchronize(device)
            runs[str(count)] = end_to_end_section(config, args.model, directory, args.work, batched=args.batched)
        except Exception as exc:  # noqa: BLE001
            runs[str(count)] = {"error": repr(exc)}
        emit()
        print(f"end to end {count}: {runs[str(count)]}", file=sys.stderr)
    done = [(int(k), v) for k, v in runs.items() if "s" in v]
    summary: dict[str, Any] = {}
    if len(done) >= 2:
        (n1, a), (n2, b) = done[0], done[-1]
        rate = (n2 - n1) / (b["s"] - a["s"])
        summary["steady_per_s"] = r(rate, 2)
        summary["fixed_s_per_run"] = r(a["s"] - n1 / rate, 3)
    if done:
        n, last = done[-1]
        summary["main_thread_busy_fraction"] = r(
            1 - last["main_thread_in_run_s"]["wait_for_batch"] / max(1e-9, last["phases_s"]["run"]), 3)
    loaders = result.get("loaders", {}).get("loaded_ahead", {})
    if loaders:
        most = max(loaders, key=int)
        summary["loaders_alone_per_s"] = loaders[most]["per_s"]
        summary["loader_speedup"] = f"{loaders[most]['speedup']}x on {most} threads"
    result["summary"] = summary
    result["total_s"] = r(time.perf_counter() - STARTED, 1)
    result["machine"] = machine()
    emit()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
