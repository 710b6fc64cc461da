"""Ablation: held-out AP, train and extract seconds of training variants, one factor at a time.

Each dataset (../shared/data layout, or bench/hard_sets.py) is preprocessed once with its
suggested downsampling (as bench/compare_topaz.py does, so the figures line up; --downsample
sets another). Then, for every variant, labelled count and seed: `cryopick train` with the
variant's arguments (N labels drawn with the seed, which also fixes the initial weights),
`cryopick extract` on the raw test micrographs, `cryopick evaluate` against their full
reference. Each run is one CLI process as a user would start it; runs are sequential so the times
are comparable.

A variant is NAME=ARGS (train arguments, shell-quoted) or NAME@SRC=ARGS to run another checkout's
code (SRC is a folder with src/cryopick, e.g. a `git worktree` of an older commit, for "before").
Finished runs are appended to OUT/runs.csv and skipped when the command is run again; OUT/summary.md
gets the table (mean +- sd over seeds). One JSON line per run on stdout.

  python bench/ablation.py /tmp/cryopick-data/hard_enolase_dimer /tmp/cryopick-data/sim_rod_pcdh_like \\
      --out /tmp/ablation --num-labeled 100 --updates 500 --seeds 0 1 \\
      --variant 'before@/tmp/cryopick-before=' --variant 'conv3=--model conv3' --variant 'default='
"""

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from datasets import link_test_micrographs
from measure import machine

FIELDS = ("dataset", "variant", "num_labeled", "seed", "updates", "average_precision", "best_f1", "train_s",
          "extract_s_per_micrograph", "architecture", "train_args")


def parse_variant(text: str) -> tuple[str, Path | None, list[str]]:
    head, _, args = text.partition("=")
    name, _, source = head.partition("@")
    if not name:
        raise SystemExit(f"variant {text!r}: NAME=ARGS or NAME@SRC=ARGS")
    return name, Path(source).resolve() if source else None, shlex.split(args)


def cli(source: Path | None, *args: str) -> float:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cryopick.cli.main", *args, "-q"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", action="append", required=True, help="NAME=ARGS or NAME@SRC=ARGS")
    parser.add_argument("--num-labeled", type=int, nargs="+", default=[100])
    parser.add_argument("--updates", type=int, default=500, help="epochs x steps per epoch (default: %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=250)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--downsample", type=int, default=None,
                        help="preprocess at this factor instead of each set's suggested one (the particle at "
                             "another size in working px; give OUT a name that says so)")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    epochs = max(1, round(args.updates / args.steps_per_epoch))
    args.out.mkdir(parents=True, exist_ok=True)
    runs_path = args.out / "runs.csv"
    done: dict[tuple, dict] = {}
    if runs_path.exists():
        with runs_path.open() as handle:
            for row in csv.DictReader(handle):
                done[(row["dataset"], row["variant"], row["num_labeled"], row["seed"], row["updates"])] = row
    for dataset in args.datasets:
        meta = json.loads((dataset / "meta.json").read_text())
        work = args.out / dataset.name
        factor = args.downsample or int(round(meta["suggested_downsample"]))
        test_names, test_dir = link_test_micrographs(dataset, work)
        if not (work / "pre" / "preprocess.json").exists():
            cli(None, "preprocess", str(dataset / "micrographs"), "-o", str(work / "pre"),
                "--particle-diameter-A", str(meta["particle_diameter_A"]), "--downsample", str(factor))
        for name, source, train_args in variants:
            for n in args.num_labeled:
                for seed in args.seeds:
                    key = (dataset.name, name, str(n), str(seed), str(epochs * args.steps_per_epoch))
                    if key in done:
                        continue
                    run = work / f"{name}_n{n}_s{seed}"
                    train_s = cli(source, "train", "--micrographs", str(work / "pre"),
                                  "--particles", str(dataset / "particles_train.txt"), "-o", str(run / "model"),
                                  "-n", str(meta["expected_particles_per_micrograph"]), "--num-labeled", str(n),
                                  "--seed", str(seed), "--epochs", str(epochs),
                                  "--steps-per-epoch", str(args.steps_per_epoch), "--patience", str(epochs + 1),
                                  *train_args)
                    extract_s = cli(source, "extract", "--model", str(run / "model"), "--micrographs", str(test_dir),
                                    "-o", str(run / "picks.txt"))
                    cli(None, "evaluate", "--picks", str(run / "picks.txt"), "--reference",
                        str(dataset / "particles_test.txt"), "--match-radius-orig-px",
                        str(meta["particle_radius_px"]), "-o", str(run / "eval"))
                    metrics = json.loads((run / "eval" / "metrics.json").read_text())
                    model = json.loads((run / "model" / "model.json").read_text())
                    row = dict(zip(FIELDS, (*key[:2], n, seed, epochs * args.steps_per_epoch,
                                            round(metrics["average_precision"], 4), round(metrics["best_f1"], 4),
                                            round(train_s, 1), round(extract_s / len(test_names), 3),
                                            model["architecture"]["name"], " ".join(train_args)), strict=False))
                    new_file = not runs_path.exists()
                    with runs_path.open("a", newline="") as handle:
                        writer = csv.DictWriter(handle, fieldnames=FIELDS)
                        if new_file:
                            writer.writeheader()
                        writer.writerow(row)
                    done[key] = {k: str(v) for k, v in row.items()}
                    print(json.dumps({"bench": "ablation", **row, "machine": machine()}), flush=True)
    write_summary(args.out, list(done.values()))


def write_summary(out: Path, rows: list[dict]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["num_labeled"], row["updates"], row["variant"]), []).append(row)
    lines = ["| dataset | N | updates | variant | model | AP (mean +- sd) | seeds | train s | extract s/mic |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (dataset, n, updates, variant), group in sorted(groups.items()):
        ap = np.array([float(r["average_precision"]) for r in group])
        sd = f" +- {ap.std(ddof=1):.3f}" if len(ap) > 1 else ""
        lines.append(f"| {dataset} | {n} | {updates} | {variant} | {group[0]['architecture']} | {ap.mean():.3f}{sd} | "
                     f"{len(ap)} | {np.mean([float(r['train_s']) for r in group]):.0f} | "
                     f"{np.mean([float(r['extract_s_per_micrograph']) for r in group]):.3f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
