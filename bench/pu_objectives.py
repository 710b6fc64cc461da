"""The Topaz paper's Figure 5 on our data: held-out AP against the number of labelled particles
for the four PU objectives, with and without the autoencoder term; one JSON line.

DATASET is a folder in the ../shared/data layout. Micrographs are preprocessed once with the
CLI (cryopick's default downsampling for the particle size, unless --downsample). For each
labelled count N and seed, N labels are drawn from particles_train.txt (seeded, as
`train --num-labeled N --seed S` does: the seed also fixes the initial weights), a model is
trained with each objective (paper weights: GE-KL 10, GE-binomial 1) with the autoencoder off and
with `--autoencoder auto` (10/N, which is off above 250, so those runs are not repeated), and
scored by AP on the held-out test micrographs against their full reference. The expected count
per micrograph is the dataset's (meta.json). Every run is one process with one thread, two runs at
a time by default (--jobs), so the grid fits a 2-core machine; finished runs are appended to
OUT/runs.csv and skipped when the command is run again with the same settings (others are refused).

Writes OUT/runs.csv (one row per run), OUT/summary.csv (mean, sd over seeds) and OUT/figure5.png
(mean +- sd); prints the table to stderr and one JSON line to stdout.

  python bench/pu_objectives.py /tmp/cryopick-data/sim_rod_pcdh_like --out /tmp/pu-rod
"""

import argparse
import csv
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

OBJECTIVES = ("pn", "nnpu", "ge-kl", "ge-binomial")
COUNTS = (10, 50, 100, 250, 1000)
RUN_FIELDS = ("num_labeled", "num_labeled_used", "objective", "autoencoder", "autoencoder_weight", "seed",
              "average_precision", "train_s")

_STATE: dict = {}


def _load(preprocessed: str, dataset: str, settings: dict) -> None:
    """Worker initialiser: micrographs and labels in memory once per process, one thread."""
    import torch

    from cryopick.io.coordinates import read_picks
    from cryopick.io.manifest import read_manifest
    from cryopick.io.micrographs import read_micrograph

    torch.set_num_threads(1)
    manifest = read_manifest(Path(preprocessed))
    factor = manifest.geometry.downsample_factor
    images = {name: read_micrograph(Path(preprocessed) / record.file).array
              for name, record in manifest.micrographs.items()}
    _STATE.update(manifest=manifest, images=images, settings=settings,
                  train=read_picks(Path(dataset) / "particles_train.txt"),
                  test=read_picks(Path(dataset) / "particles_test.txt"), factor=factor)


def _centres(picks, name: str, factor: int) -> np.ndarray:
    from cryopick.extract.rescale import to_working_px

    mine = picks.for_micrograph(name)
    return np.stack([to_working_px(mine.y_orig_px, downsample_factor=factor),
                     to_working_px(mine.x_orig_px, downsample_factor=factor)], axis=1)


def _run(num_labeled: int, objective: str, autoencoder: bool, seed: int) -> dict:
    import torch

    from cryopick.config import TrainConfig
    from cryopick.train.labels import subsample_labels
    from cryopick.train.picker import fit_picker
    from cryopick.train.sampler import LabelledMicrograph
    from cryopick.train.validation import held_out_ap

    settings, factor, images = _STATE["settings"], _STATE["factor"], _STATE["images"]
    geometry = _STATE["manifest"].geometry
    labels = subsample_labels(_STATE["train"], num_labeled, seed)
    train_names = _STATE["train"].micrographs()
    train_set = [LabelledMicrograph(images[name], _centres(labels, name, factor)) for name in train_names]
    test_names = _STATE["test"].micrographs()
    config = TrainConfig(
        expected_particles_per_micrograph=settings["expected"], model=settings["model"], objective=objective,
        autoencoder_weight="auto" if autoencoder else 0.0, epochs=settings["epochs"],
        steps_per_epoch=settings["steps"], batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"], patience_epochs=None, seed=seed, device="cpu",
    )
    started = time.perf_counter()
    fitted = fit_picker(config, train_set, [], n_labeled=len(labels), geometry=geometry,
                        device=torch.device("cpu"), quiet=True)
    train_s = time.perf_counter() - started
    ap = held_out_ap(fitted.model, [images[name] for name in test_names],
                     [_centres(_STATE["test"], name, factor) for name in test_names],
                     radius_px=geometry.particle_radius_px, device=torch.device("cpu"),
                     output_stride=settings["score_stride_px"])
    return {"num_labeled": num_labeled, "num_labeled_used": len(labels), "objective": objective,
            "autoencoder": "auto" if autoencoder else "off", "autoencoder_weight": fitted.autoencoder_weight,
            "seed": seed, "average_precision": round(float(ap), 5), "train_s": round(train_s, 2)}


def _summary(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((int(row["num_labeled"]), row["objective"], row["autoencoder"]), []).append(row)
    out = []
    for (count, objective, autoencoder), members in sorted(groups.items()):
        aps = np.array([float(m["average_precision"]) for m in members])
        out.append({"num_labeled": count, "num_labeled_used": int(members[0]["num_labeled_used"]),
                    "objective": objective, "autoencoder": autoencoder, "seeds": len(aps),
                    "mean_ap": round(float(aps.mean()), 4),
                    "sd_ap": round(float(aps.std(ddof=1)) if len(aps) > 1 else 0.0, 4)})
    return out


def _expand_auto(rows: list[dict], counts: list[int]) -> list[dict]:
    """Above 250 labels `auto` means no autoencoder: those runs are the 'off' runs."""
    extra = [dict(row, autoencoder="auto") for row in rows
             if row["autoencoder"] == "off" and int(row["num_labeled"]) > 250 and int(row["num_labeled"]) in counts]
    return rows + extra


def _plot(summary: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, autoencoder in zip(axes, ("off", "auto"), strict=True):
        for objective in OBJECTIVES:
            points = [s for s in summary if s["objective"] == objective and s["autoencoder"] == autoencoder]
            if not points:
                continue
            axis.errorbar([p["num_labeled"] for p in points], [p["mean_ap"] for p in points],
                          yerr=[p["sd_ap"] for p in points], marker="o", capsize=3, label=objective)
        axis.set_xscale("log")
        axis.set_xlabel("labelled particles N")
        axis.set_title(f"autoencoder {'10/N (N <= 250)' if autoencoder == 'auto' else 'off'}")
        axis.grid(alpha=0.3)
    capped = sorted({(s["num_labeled"], s["num_labeled_used"]) for s in summary
                     if s["num_labeled_used"] < s["num_labeled"]})
    if capped:
        figure.text(0.01, 0.01, "; ".join(f"N={n}: all {used} training labels" for n, used in capped), fontsize=8)
    axes[0].set_ylabel("held-out AP (mean +- sd over seeds)")
    axes[0].legend()
    figure.suptitle(title)
    figure.tight_layout()
    tmp = path.with_suffix(".part.png")
    figure.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def _write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    tmp = path.with_suffix(".part")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for runs.csv, summary.csv, figure5.png")
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-autoencoder", action="store_true", help="only the runs without it")
    parser.add_argument("--model", default="conv3", help="(default: conv3, the paper's classifier)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--score-stride-px", type=int, default=2, choices=(1, 2, 4),
                        help="score every k-th working pixel of the test micrographs, as extract does "
                             "(default: %(default)s, extract's default)")
    parser.add_argument("--downsample", type=int, default=None, help="default: cryopick's choice for the particle")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each (default: 2)")
    args = parser.parse_args()
    meta = json.loads((args.dataset / "meta.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    preprocessed = args.out / "preprocessed"
    if not (preprocessed / "preprocess.json").exists():
        command = [sys.executable, "-m", "cryopick.cli.main", "preprocess", str(args.dataset / "micrographs"),
                   "-o", str(preprocessed), "--particle-diameter-A", str(meta["particle_diameter_A"]),
                   "--pixel-size-A", str(meta["pixel_size_A"]), "-q"]
        if args.downsample:
            command += ["--downsample", str(args.downsample)]
        subprocess.run(command, check=True)
    settings = {"expected": float(meta["expected_particles_per_micrograph"]), "model": args.model,
                "epochs": args.epochs, "steps": args.steps_per_epoch, "batch_size": args.batch_size,
                "learning_rate": args.learning_rate, "score_stride_px": args.score_stride_px}
    settings_path = args.out / "settings.json"
    recorded = {**settings, "downsample": args.downsample}
    if settings_path.exists() and json.loads(settings_path.read_text()) != recorded:
        sys.exit(f"{args.out} holds runs made with other settings ({settings_path}); use another --out")
    settings_path.write_text(json.dumps(recorded) + "\n")
    runs_path = args.out / "runs.csv"
    done: list[dict] = []
    if runs_path.exists():
        with runs_path.open() as handle:
            done = list(csv.DictReader(handle))
    done_keys = {(int(r["num_labeled"]), r["objective"], r["autoencoder"] == "auto", int(r["seed"])) for r in done}
    autoencoder_options = (False,) if args.no_autoencoder else (False, True)
    tasks = [(count, objective, autoencoder, seed)
             for count, seed, autoencoder, objective in itertools.product(
                 args.counts, range(args.seeds), autoencoder_options, args.objectives)
             if not (autoencoder and count > 250) and (count, objective, autoencoder, seed) not in done_keys]
    print(f"{len(tasks)} runs to do ({len(done)} done before), {args.jobs} at a time", file=sys.stderr)
    started = time.perf_counter()
    new_file = not runs_path.exists()
    with runs_path.open("a", newline="") as handle, ProcessPoolExecutor(
            args.jobs, initializer=_load, initargs=(str(preprocessed), str(args.dataset), settings)) as pool:
        writer = csv.DictWriter(handle, fieldnames=RUN_FIELDS)
        if new_file:
            writer.writeheader()
        futures = [pool.submit(_run, *task) for task in tasks]
        for finished, future in enumerate(as_completed(futures), 1):
            row = future.result()
            writer.writerow(row)
            handle.flush()
            done.append(row)
            print(f"[{finished}/{len(tasks)} {time.perf_counter() - started:.0f}s] N={row['num_labeled']} "
                  f"{row['objective']} ae={row['autoencoder']} seed={row['seed']}: AP {row['average_precision']} "
                  f"({row['train_s']} s)", file=sys.stderr)
    summary = _summary(_expand_auto(done, args.counts))
    _write_csv(args.out / "summary.csv", summary, list(summary[0]))
    _plot(summary, args.out / "figure5.png", f"{meta['name']}: held-out AP vs labelled particles ({args.seeds} seeds)")
    print(f"{'N':>5} {'objective':>12} {'ae':>5}  mean AP +- sd", file=sys.stderr)
    for s in summary:
        print(f"{s['num_labeled']:>5} {s['objective']:>12} {s['autoencoder']:>5}  {s['mean_ap']:.4f} +- "
              f"{s['sd_ap']:.4f}", file=sys.stderr)
    import torch

    print(json.dumps({
        "bench": "pu_objectives", "dataset": meta["name"], "model": args.model,
        "updates": args.epochs * args.steps_per_epoch, "batch_size": args.batch_size, "seeds": args.seeds,
        "score_stride_px": args.score_stride_px,
        "expected_particles_per_micrograph": settings["expected"], "wall_s": round(time.perf_counter() - started, 1),
        "summary": summary, "out": str(args.out),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "jobs": args.jobs, "threads_per_job": 1},
    }))


if __name__ == "__main__":
    main()
