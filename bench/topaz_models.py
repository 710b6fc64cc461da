"""Topaz's models in cryopick: score parity with Topaz itself, the general detectors with no labels,
and training started from one (`train --init`) against training from scratch. One JSON line.

Needs the peer's venv (TOPAZ_VENV, as ../shared/bench/peer_topaz.sh makes it): its topaz-em holds
the general detectors, and its Python scores the same micrograph for the parity check. cryopick
reads the .sav files with its own reader; Topaz's code runs only in its own venv, for comparison.

  python bench/topaz_models.py /tmp/cryopick-data/real_empiar10146_apoferritin --work /tmp/tm-apo \\
      --counts 10 100 --epochs 2 --steps-per-epoch 250

Topaz's other layouts (`--layouts`): small models of them are made in Topaz's venv by its own
model factory and saved whole, as `topaz train` saves them (seeded initial weights; a pooled
ResNet8 takes resnet8_u32's weights, which fit it), imported, and scored by both on the same
micrograph; `--detectors` with no names and `--counts` with none skip the rest:

  python bench/topaz_models.py /tmp/cryopick-data/real_empiar10146_apoferritin --work /tmp/tm-apo \\
      --detectors --counts --layouts conv31 conv63-max resnet8-max conv31-avg
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


PEER_MAKE = r"""
import sys, torch
from topaz.model.factory import get_feature_extractor, load_model
from topaz.model.classifier import LinearClassifier
spec, units, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
name, _, pooling = spec.partition("-")
torch.manual_seed(0)
features = get_feature_extractor(name, units=units, dropout=0.0, bn=False, unit_scaling=2, pooling=pooling or None,
                                 dims=2)
model = LinearClassifier(features, dims=2)
if name == "resnet8" and units == 32:  # the general detector's weights, each layer moved past the pools
    order = [i for i, m in enumerate(model.features.features) if list(m.parameters())]
    state = {}
    for key, value in load_model("resnet8_u32").state_dict().items():
        parts = key.split(".")
        if key.startswith("features.features."):
            parts[2] = str(order[int(parts[2])])
        state[".".join(parts)] = value
    model.load_state_dict(state)
torch.save(model, out)
"""

#: how far Topaz's score map of a max-pooled conv stack sits from each pixel's own centre: it
#: keeps each dilated pool's padding at 1, so its map is shifted by the sum of (dilation - 1)
TOPAZ_MAP_SHIFT_PX = {"conv31-max": 1, "conv63-max": 1 + 3, "conv127-max": 1 + 3 + 7}


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


def parity(venv: Path, detector: str, model_dir: Path, micrograph: Path, radius_px: float, work: Path,
           shift_px: int = 0) -> dict:
    """The same preprocessed micrograph through Topaz (its venv) and cryopick (the imported model).

    ``detector``: a general detector's name or a .sav file. ``shift_px``: where Topaz's map is
    known to be offset from the pixels' own centres (max-pooled conv stacks), its scores and picks
    are compared after moving them back by that much.
    """
    tag = Path(detector).stem
    theirs_path = work / f"topaz_scores_{tag}.npy"
    subprocess.run([str(venv / "bin" / "python"), "-c", PEER_SCORE, detector, str(micrograph), str(theirs_path)],
                   check=True, stderr=subprocess.DEVNULL)
    theirs = np.load(theirs_path)
    model, _, _ = load_picker(model_dir)
    ours = score_micrographs(model, [read_micrograph(micrograph).array], device=torch.device("cpu"))[0]
    rows, cols = theirs.shape
    aligned = ours[shift_px: shift_px + rows, shift_px: shift_px + cols]
    inner = 4 * shift_px  # Topaz's -inf pool padding stands in for real values this near its map's edges
    # picks: `topaz extract` (its own NMS) on the micrograph, against cryopick's NMS on its scores
    radius = int(radius_px)
    subprocess.run([str(venv / "bin" / "topaz"), "extract", "--device", "-1", "-m", detector, "-r", str(radius),
                    "-t", "-6", "-o", str(work / f"topaz_picks_{tag}.txt"), str(micrograph)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = (work / f"topaz_picks_{tag}.txt").read_text().splitlines()[1:]
    fields = (line.split("\t") for line in lines)
    topaz_picks = {(int(float(x)) + shift_px, int(float(y)) + shift_px): float(score) for _, x, y, score in fields}
    if shift_px:  # only where Topaz's map has values (it is cut short at the far edges)
        topaz_picks = {k: v for k, v in topaz_picks.items() if inner <= k[0] - shift_px < cols - inner
                       and inner <= k[1] - shift_px < rows - inner}
    found_rows, found_cols, scores = non_maximum_suppression(ours, radius_px=radius, threshold=-6.0)
    ours_picks = {(int(c), int(r)): float(v) for r, c, v in zip(found_rows, found_cols, scores, strict=True)}
    if shift_px:
        ours_picks = {k: v for k, v in ours_picks.items() if inner <= k[0] - shift_px < cols - inner
                      and inner <= k[1] - shift_px < rows - inner}
    common = set(topaz_picks) & set(ours_picks)
    difference = np.abs(aligned - theirs)
    return {"micrograph": micrograph.name, "topaz_map_shift_px": shift_px,
            "max_abs_score_difference": float(difference.max()),
            "max_abs_score_difference_inside": float(difference[inner: rows - inner, inner: cols - inner].max()),
            "max_abs_score": float(np.abs(theirs).max()), "picks_topaz": len(topaz_picks),
            "picks_cryopick": len(ours_picks), "picks_at_the_same_pixel": len(common),
            "max_abs_pick_score_difference": max((abs(topaz_picks[k] - ours_picks[k]) for k in common), default=None)}


def layout_parity(cli: list[str], venv: Path, spec: str, units: int, work: Path, micrograph: Path,
                  radius_px: float) -> dict:
    """One of Topaz's layouts, made and saved by Topaz, imported and scored by both."""
    saved = work / f"topaz_{spec}_u{units}.sav"
    subprocess.run([str(venv / "bin" / "python"), "-c", PEER_MAKE, spec, str(units), str(saved)], check=True,
                   stderr=subprocess.DEVNULL)
    model_dir = work / f"imported_{spec}_u{units}"
    run([*cli, "import-model", str(saved), "--micrographs", str(work / "pre"), "-o", str(model_dir), "-q"])
    architecture = json.loads((model_dir / "model.json").read_text())["architecture"]
    entry = {"layout": spec, "units": units, "architecture": architecture}
    entry["parity"] = parity(venv, str(saved), model_dir, micrograph, radius_px, work, TOPAZ_MAP_SHIFT_PX.get(spec, 0))
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--detectors", nargs="*", default=["resnet16_u64", "resnet8_u32"])
    parser.add_argument("--layouts", nargs="*", default=[],
                        help="Topaz layouts to check for parity: NAME or NAME-POOLING, e.g. conv31, conv63-max, "
                             "conv31-avg, resnet8-max")
    parser.add_argument("--layout-units", type=int, default=32)
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
    for detector in dict.fromkeys([*args.detectors, *([args.init_from] if args.counts else [])]):
        model_dir = work / f"topaz_{detector}"
        run([*cli, "import-model", str(detectors_dir / f"{detector}.sav"), "--micrographs", str(work / "pre"),
             "-o", str(model_dir), "-q"])
        entry = {"zero_label_ap": round(average_precision(cli, model_dir, test_dir, args.dataset, meta, work,
                                                           f"zero_{detector}"), 4)}
        entry["parity"] = parity(venv, detector, model_dir, work / "pre" / f"{test_names[0]}.mrc", radius_px, work)
        result["detectors"][detector] = entry
    if args.layouts:
        result["layouts"] = [layout_parity(cli, venv, spec, args.layout_units, work,
                                           work / "pre" / f"{test_names[0]}.mrc", radius_px) for spec in args.layouts]
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
