"""Topaz's models in cryopick: score parity with Topaz itself, the general detectors with no labels,
and training started from one (`train --init`) against training from scratch. One JSON line.

Needs the peer's venv (TOPAZ_VENV, as ../shared/bench/peer_topaz.sh makes it): its topaz-em holds
the general detectors, and its Python scores the same micrograph for the parity check. cryopick
reads the .sav files with its own reader; Topaz's code runs only in its own venv, for comparison.

  python bench/topaz_models.py /tmp/cryopick-data/real_empiar10146_apoferritin --work /tmp/tm-apo \\
      --counts 10 100 --epochs 2 --steps-per-epoch 250
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cryopick.extract.nms import non_maximum_suppression
from cryopick.extract.scoring import score_micrographs
from cryopick.io.micrographs import read_micrograph
from cryopick.workflows.modelio import load_picker
from datasets import link_test_micrographs
from measure import machine

PEER_SCORE = r"""
import sys, numpy as np, torch, mrcfile
from topaz.model.factory import load_model
name, micrograph, out = sys.argv[1:4]
model = load_model(name); model.eval(); model.fill()
with mrcfile.open(micrograph, permissive=True) as f:
    x = torch.from_numpy(np.asarray(f.data, dtype=np.float32).copy())[None, None]
with torch.no_grad():
    np.save(out, model(x).squeeze().numpy())
"""


def run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def average_precision(cli: list[str], model: Path, test_dir: Path, dataset: Path, meta: dict, work: Path,
                      name: str) -> float:
    run([*cli, "extract", "--model", str(model), "--micrographs", str(test_dir), "-o", str(work / f"{name}.txt"),
         "-q"])
    run([*cli, "evaluate", "--picks", str(work / f"{name}.txt"), "--reference", str(dataset / "particles_test.txt"),
         "--match-radius-orig-px", str(meta["particle_radius_px"]), "-o", str(work / f"eval_{name}"), "-q"])
    return float(json.loads((work / f"eval_{name}" / "metrics.json").read_text())["average_precision"])


def parity(venv: Path, detector: str, model_dir: Path, micrograph: Path, radius_px: float, work: Path) -> dict:
    """The same preprocessed micrograph through Topaz (its venv) and cryopick (the imported model)."""
    theirs_path = work / f"topaz_scores_{detector}.npy"
    subprocess.run([str(venv / "bin" / "python"), "-c", PEER_SCORE, detector, str(micrograph), str(theirs_path)],
                   check=True)
    theirs = np.load(theirs_path)
    model, _, _ = load_picker(model_dir)
    ours = score_micrographs(model, [read_micrograph(micrograph).array], device=torch.device("cpu"))[0]
    # picks: `topaz extract` (its own NMS) on the micrograph, against cryopick's NMS on its scores
    radius = int(radius_px)
    subprocess.run([str(venv / "bin" / "topaz"), "extract", "--device", "-1", "-m", detector, "-r", str(radius),
                    "-t", "-6", "-o", str(work / f"topaz_picks_{detector}.txt"), str(micrograph)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = (work / f"topaz_picks_{detector}.txt").read_text().splitlines()[1:]
    fields = (line.split("\t") for line in lines)
    topaz_picks = {(int(float(x)), int(float(y))): float(score) for _, x, y, score in fields}
    rows, cols, scores = non_maximum_suppression(ours, radius_px=radius, threshold=-6.0)
    ours_picks = {(int(c), int(r)): float(v) for r, c, v in zip(rows, cols, scores, strict=True)}
    common = set(topaz_picks) & set(ours_picks)
    return {"micrograph": micrograph.name, "max_abs_score_difference": float(np.abs(ours - theirs).max()),
            "max_abs_score": float(np.abs(theirs).max()), "picks_topaz": len(topaz_picks),
            "picks_cryopick": len(ours_picks), "picks_at_the_same_pixel": len(common),
            "max_abs_pick_score_difference": max((abs(topaz_picks[k] - ours_picks[k]) for k in common), default=None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--detectors", nargs="+", default=["resnet16_u64", "resnet8_u32"])
    parser.add_argument("--init-from", default="resnet8_u32",
                        help="the detector training starts from (Topaz's train starts from resnet8_u32 by default)")
    parser.add_argument("--counts", type=int, nargs="*", default=[10, 100], help="labels for the --init runs")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-epoch", type=int, default=250)
    args = parser.parse_args()
    venv = Path(os.environ.get("TOPAZ_VENV", "/tmp/topaz-venv"))
    detectors_dir = next(venv.glob("lib/python*/site-packages/topaz/pretrained/detector"))
    meta = json.loads((args.dataset / "meta.json").read_text())
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    factor = int(round(meta["suggested_downsample"]))
    cli = [sys.executable, "-m", "cryopick.cli.main"]
    test_names, test_dir = link_test_micrographs(args.dataset, work)
    if not (work / "pre" / "preprocess.json").exists():
        run([*cli, "preprocess", str(args.dataset / "micrographs"), "-o", str(work / "pre"),
             "--particle-diameter-A", str(meta["particle_diameter_A"]), "--downsample", str(factor), "-q"])
    radius_px = meta["particle_radius_px"] / factor
    result: dict = {"bench": "topaz_models", "dataset": meta["name"], "downsample": factor, "detectors": {}}
    for detector in dict.fromkeys([*args.detectors, args.init_from]):
        model_dir = work / f"topaz_{detector}"
        run([*cli, "import-model", str(detectors_dir / f"{detector}.sav"), "--micrographs", str(work / "pre"),
             "-o", str(model_dir), "-q"])
        entry = {"zero_label_ap": round(average_precision(cli, model_dir, test_dir, args.dataset, meta, work,
                                                           f"zero_{detector}"), 4)}
        entry["parity"] = parity(venv, detector, model_dir, work / "pre" / f"{test_names[0]}.mrc", radius_px, work)
        result["detectors"][detector] = entry
    result["init"] = []
    for count in args.counts:
        common = ["--micrographs", str(work / "pre"), "--particles", str(args.dataset / "particles_train.txt"),
                  "-n", str(meta["expected_particles_per_micrograph"]), "--num-labeled", str(count),
                  "--epochs", str(args.epochs), "--steps-per-epoch", str(args.steps_per_epoch),
                  "--patience", str(args.epochs + 1), "-q"]
        row: dict = {"num_labeled": count, "updates": args.epochs * args.steps_per_epoch}
        for label, extra in ((f"init_{args.init_from}", ["--init", str(work / f"topaz_{args.init_from}")]),
                             ("scratch_topaz_layout", ["--model", "topaz-resnet8", "--units", "32"])):
            model_dir = work / f"{label}_n{count}"
            seconds = run([*cli, "train", *common, *extra, "-o", str(model_dir)])
            row[label] = {"ap": round(average_precision(cli, model_dir, test_dir, args.dataset, meta, work,
                                                        f"{label}_n{count}"), 4), "train_s": round(seconds, 1)}
        result["init"].append(row)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
