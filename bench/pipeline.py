"""Run the whole cryopick pipeline on a benchmark dataset and print one JSON line.

DATASET is a folder in the ../shared/data layout: micrographs/*.mrc, particles_train.txt,
particles_test.txt, meta.json (build with `bash ../shared/data/build.sh /tmp/cryopick-data`).
Each step runs as the CLI a user would run, in a child process; peak RSS is the largest child's.

  python bench/pipeline.py /tmp/cryopick-data/real_empiar10146_apoferritin --num-labeled 100
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasets import link_test_micrographs
from measure import machine


def cryopick(*args: str, quiet: bool) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "cryopick.cli.main", *args] + (["-q"] if quiet else [])
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, epilog="Arguments after -- go to `cryopick train`.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--num-labeled", type=int, default=100)
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--downsample", type=int, default=None,
                        help="default: the dataset's suggested_downsample")
    parser.add_argument("--verbose", action="store_true")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1:]  # after --: extra arguments for `cryopick train`
    meta = json.loads((args.dataset / "meta.json").read_text())
    work = args.work or Path(tempfile.mkdtemp(prefix="cryopick-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    quiet = not args.verbose
    factor = args.downsample or int(round(meta["suggested_downsample"]))
    test_names, test_dir = link_test_micrographs(args.dataset, work)
    preprocess_s = cryopick("preprocess", str(args.dataset / "micrographs"), "-o", str(work / "pre"),
                            "--particle-diameter-A", str(meta["particle_diameter_A"]),
                            "--downsample", str(factor), quiet=quiet)
    train_s = cryopick("train", "--micrographs", str(work / "pre"), "--particles",
                       str(args.dataset / "particles_train.txt"), "-o", str(work / "model"),
                       "-n", str(meta["expected_particles_per_micrograph"]),
                       "--num-labeled", str(args.num_labeled), "--seed", str(args.seed), *extra, quiet=quiet)
    # extraction from raw test micrographs: what a user runs on new data (includes reading,
    # downsampling and normalising each one)
    extract_s = cryopick("extract", "--model", str(work / "model"), "--micrographs", str(test_dir),
                         "-o", str(work / "picks.txt"), quiet=quiet)
    cryopick("evaluate", "--picks", str(work / "picks.txt"), "--reference",
             str(args.dataset / "particles_test.txt"), "--match-radius-orig-px", str(meta["particle_radius_px"]),
             "-o", str(work / "eval"), quiet=quiet)
    metrics = json.loads((work / "eval" / "metrics.json").read_text())
    model = json.loads((work / "model" / "model.json").read_text())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({
        "bench": "pipeline", "dataset": args.dataset.name, "num_labeled": args.num_labeled,
        "seed": args.seed, "test_ap": round(metrics["average_precision"], 4),
        "best_f1": round(metrics["best_f1"], 4), "train_s": round(train_s, 1),
        "extract_s_per_micrograph": round(extract_s / len(test_names), 3),
        "preprocess_s": round(preprocess_s, 1), "n_test_micrographs": len(test_names),
        "best_epoch": model["training"]["best_epoch"], "peak_rss_mb": round(peak_rss_mb, 1),
        "train_args": extra, "machine": machine(),
    }))


if __name__ == "__main__":
    main()
