"""Extraction throughput on large micrographs (default 4096 x 4096 px, downsampled 8x) on the CPU
or a GPU, with the time of each stage, so that what limits it is measured, not guessed. One JSON line.

It makes its own data: --distinct synthetic micrographs (`cryopick simulate`, 1 A/px, a 160 A
particle: 20 working px across), each linked --copies times under new names, so a run has many
micrographs without generating each (about a minute apiece at this size); a short `cryopick train`
gives the model (its weights do not change the speed). Then, in this process:
  stages: reading, Fourier-crop downsampling, normalisation, scoring (a batch on the device, as
          extract batches on a GPU; one micrograph per thread on a CPU), NMS; seconds per micrograph;
  end to end: `run_extract` on every micrograph (after a warm-up run), micrographs per second;
  conv throughput: the scoring's GFLOP/s against a float32 matmul's on the same device.
On CUDA extract loads micrographs on up to 8 threads while the GPU scores, so the limit is the
slower of loading (per thread) and scoring; on a CPU each core runs whole micrographs.

  python bench/extract_large.py --work /tmp/extract-large            # the device extract would pick
  python bench/extract_large.py --work /tmp/extract-large --device cpu
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from measure import conv_flop, machine, matmul_gflops, synchronize

PIXEL_SIZE_A = 1.0
PARTICLE_DIAMETER_A = 160.0


def cryopick(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cryopick.cli.main", *args, "-q"], check=True)


def make_data(work: Path, *, size_px: int, distinct: int, copies: int, downsample: int) -> Path:
    """Simulated micrographs (kept between runs), their copies, and a briefly trained model."""
    simulated = work / f"simulated_{size_px}"
    if not (simulated / "meta.json").exists():
        shutil.rmtree(simulated, ignore_errors=True)
        with ThreadPoolExecutor(distinct) as pool:  # the generator is single-threaded: one process each
            list(pool.map(lambda seed: cryopick(
                "simulate", "-o", str(work / f"part_{seed}"), "--num-micrographs", "1", "--size-px", str(size_px),
                "--pixel-size-A", str(PIXEL_SIZE_A), "--particle-diameter-A", str(PARTICLE_DIAMETER_A),
                "--particles-per-micrograph", str(size_px**2 // 40_000), "--snr", "0.1",
                "--seed", str(seed)), range(distinct)))
        (simulated / "micrographs").mkdir(parents=True)
        labels = ["image_name\tx_coord\ty_coord"]
        for seed in range(distinct):
            part = work / f"part_{seed}"
            (part / "micrographs" / "synthetic_000.mrc").rename(simulated / "micrographs" / f"sim{seed}.mrc")
            labels += [line.replace("synthetic_000", f"sim{seed}", 1)
                       for line in (part / "particles_train.txt").read_text().splitlines()[1:]]
            if seed == 0:  # the same geometry for all
                shutil.copy(part / "meta.json", simulated / "meta.json")
            shutil.rmtree(part)
        (simulated / "particles.txt").write_text("\n".join(labels) + "\n")
    many = work / "micrographs"
    shutil.rmtree(many, ignore_errors=True)
    many.mkdir()
    for copy in range(copies):
        for path in sorted((simulated / "micrographs").glob("*.mrc")):
            (many / f"{path.stem}_c{copy:03d}.mrc").hardlink_to(path)
    model = work / f"model_{size_px}_x{downsample}"
    if not (model / "model.json").exists():
        preprocessed = work / f"preprocessed_{size_px}_x{downsample}"
        cryopick("preprocess", str(simulated / "micrographs"), "-o", str(preprocessed),
                 "--particle-diameter-A", str(PARTICLE_DIAMETER_A), "--downsample", str(downsample))
        cryopick("train", "--micrographs", str(preprocessed), "--particles", str(simulated / "particles.txt"),
                 "-n", str(size_px**2 // 40_000), "--epochs", "1", "--steps-per-epoch", "30", "--device", "cpu",
                 "-o", str(model))
    return model


def seconds_each(function, items: list, repeats: int = 2) -> float:
    function(items[0])  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        for item in items:
            function(item)
    return (time.perf_counter() - started) / (repeats * len(items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="working directory (data kept for reruns)")
    parser.add_argument("--size-px", type=int, default=4096)
    parser.add_argument("--downsample", type=int, default=8)
    parser.add_argument("--distinct", type=int, default=2, help="micrographs simulated (default: %(default)s)")
    parser.add_argument("--copies", type=int, default=16, help="links to each (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="as extract's --device (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="micrographs per GPU batch (default: %(default)s)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from cryopick.config import ExtractConfig
    from cryopick.device import resolve_device
    from cryopick.extract.nms import non_maximum_suppression
    from cryopick.extract.runtime import loader_threads
    from cryopick.extract.scoring import score_micrographs
    from cryopick.io.micrographs import read_micrograph
    from cryopick.preprocess.fourier import fourier_crop
    from cryopick.preprocess.normalization import Normalization, normalize_micrograph
    from cryopick.workflows.extract import run_extract
    from cryopick.workflows.modelio import load_picker

    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = make_data(args.work, size_px=args.size_px, distinct=args.distinct, copies=args.copies,
                          downsample=args.downsample)
    device = resolve_device(args.device)
    config = ExtractConfig(device=str(device), batch_size=args.batch_size)
    model, record, geometry = load_picker(model_dir)
    originals = sorted((args.work / f"simulated_{args.size_px}" / "micrographs").glob("*.mrc"))
    stages: dict[str, float] = {}
    stages["read"] = seconds_each(lambda path: read_micrograph(path).array, originals)
    raw = [read_micrograph(path).array for path in originals]
    stages["fourier_crop"] = seconds_each(lambda image: fourier_crop(image, geometry.downsample_factor), raw)
    small = [fourier_crop(image, geometry.downsample_factor) for image in raw]

    def normalise(image: np.ndarray) -> np.ndarray:  # as extract does, with its sample size
        return normalize_micrograph(image, Normalization.from_json(record["normalization"]), seed=0, samples=20_000)[0]
    stages["normalise"] = seconds_each(normalise, small)
    working = [normalise(image) for image in small]
    stride = config.resolved_score_stride_px(model.input_pool)
    on_gpu = device.type != "cpu"
    if on_gpu:
        batch = [working[i % len(working)] for i in range(args.batch_size)]

        def score_batch(_: object) -> None:
            score_micrographs(model, batch, device=device, batch_size=args.batch_size,
                              tile_size_px=config.tile_size_px, output_stride=stride)
            synchronize(device)
        stages["score"] = seconds_each(score_batch, [None], repeats=5) / args.batch_size
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as extract scores on a CPU: one micrograph per thread
        stages["score"] = seconds_each(lambda image: score_micrographs(
            model, [image], device=device, tile_size_px=config.tile_size_px, output_stride=stride), working)
        torch.set_num_threads(threads)
    maps = score_micrographs(model, working, device=device, output_stride=stride)
    stages["nms"] = seconds_each(lambda score_map: non_maximum_suppression(
        score_map, radius_px=geometry.particle_radius_px / stride, threshold=config.threshold), maps)
    load_s = stages["read"] + stages["fourier_crop"] + stages["normalise"]
    compute_s = stages["score"] + stages["nms"]
    cores = os.cpu_count() or 1
    if on_gpu:
        loaders = loader_threads()
        predicted = {"loading_per_s": loaders / load_s, "scoring_per_s": 1 / compute_s, "loader_threads": loaders}
        limit = "loading on the CPU" if loaders / load_s < 1 / compute_s else "scoring on the device"
    else:
        predicted = {"per_core_per_s": 1 / (load_s + compute_s), "cores": cores}
        limit = "loading" if load_s > compute_s else "scoring"
    micrographs = args.work / "micrographs"
    n = len(list(micrographs.glob("*.mrc")))
    runs = []
    for attempt in range(2):  # the first warms the page cache, cuDNN's choices and the allocator
        output = args.work / f"picks_{attempt}" / "picks.txt"
        shutil.rmtree(output.parent, ignore_errors=True)
        synchronize(device)
        started = time.perf_counter()
        run_extract(config, model_dir, [micrographs], output, quiet=True)
        runs.append(time.perf_counter() - started)
    gflop = conv_flop(model, working[0], stride) / 1e9
    achieved = gflop / stages["score"]  # on a CPU: one thread's, as each scores one micrograph
    if not on_gpu:
        torch.set_num_threads(1)
    ceiling = matmul_gflops(device)
    print(json.dumps({
        "bench": "extract_large", "device": str(device), "size_px": args.size_px, "downsample": args.downsample,
        "working_shape_px": list(working[0].shape), "score_stride_px": stride, "micrographs": n,
        "batch_size": args.batch_size if on_gpu else 1,
        "end_to_end": {"micrographs_per_s": round(n / runs[-1], 2), "s": round(runs[-1], 2),
                       "first_run_s": round(runs[0], 2)},
        "stages_s_per_micrograph": {k: round(v, 4) for k, v in stages.items()},
        "read_mb_per_s": round(raw[0].nbytes / 1e6 / stages["read"], 0),
        "predicted": {k: round(v, 2) if isinstance(v, float) else v for k, v in predicted.items()},
        "limit": limit,
        "conv": {"gflop_per_micrograph": round(gflop, 2), "gflops": round(achieved, 1), "per": "device" if on_gpu
                 else "thread", "matmul_gflops": {k: round(v, 1) for k, v in ceiling.items()},
                 "fraction_of_matmul": round(achieved / ceiling["ceiling"], 3)},
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
