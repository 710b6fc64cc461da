"""AP on a set's test micrographs as training goes: after every --every updates of one training run.

Where `bench/ablation.py` gives the AP at the end, this shows the path: whether a trained start
loses AP at once (a shock) or drifts away as the updates add up, and when a run peaks. It trains
with the default command's settings (Python API, `run_train`; `--init auto` unless given) in epochs of
--every updates (no schedule depends on epochs, so the run is the same as one of --updates in
any split), keeps each epoch's weights as training checkpoints them, then picks the preprocessed
test micrographs with each, as `extract` picks (its stride, suppression and score floor), and
matches them as `evaluate` does. One JSON line: the AP after 0, --every, 2 x --every ... updates.

  python bench/trajectory.py /tmp/cryopick-data/real_empiar10146_apoferritin --work /tmp/traj/apo \\
      --num-labeled 10 --updates 500 --every 25 --batchnorm-statistics update
"""

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

import cryopick.workflows.train as train_workflow
from cryopick.config import ExtractConfig, TrainConfig, default_of
from cryopick.evaluate.metrics import agreement
from cryopick.extract.picking import peaks_orig_px
from cryopick.extract.scoring import score_micrographs
from cryopick.io.coordinates import read_picks
from cryopick.io.manifest import read_manifest
from cryopick.io.micrographs import read_micrograph
from cryopick.picks import Picks
from cryopick.workflows.modelio import load_picker
from measure import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="preprocessed micrographs (reused) and the model")
    parser.add_argument("--num-labeled", type=int, required=True)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batchnorm-statistics", default="auto")
    parser.add_argument("--start-pull", default="auto", type=lambda text: text if text == "auto" else float(text))
    parser.add_argument("--init", default="auto", help="as train's --init (default: auto)")
    args = parser.parse_args()
    if args.updates % args.every:
        parser.error("--updates must be a multiple of --every")
    meta = json.loads((args.dataset / "meta.json").read_text())
    pre = args.work / "pre"
    if not (pre / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "cryopick.cli.main", "preprocess", str(args.dataset / "micrographs"),
                        "-o", str(pre), "--particle-diameter-A", str(meta["particle_diameter_A"]),
                        "--downsample", str(int(round(meta["suggested_downsample"]))), "-q"], check=True)
    weights: list[tuple[int, dict[str, torch.Tensor]]] = []
    checkpoint_bundle = train_workflow.state_to_bundle

    def keep_weights(state, identity):  # type: ignore[no-untyped-def]
        weights.append((state.epoch, {k: v.detach().clone() for k, v in state.model.items()}))
        return checkpoint_bundle(state, identity)

    train_workflow.state_to_bundle = keep_weights
    config = TrainConfig(expected_particles_per_micrograph=meta["expected_particles_per_micrograph"],
                         num_labeled=args.num_labeled, epochs=args.updates // args.every,
                         steps_per_epoch=args.every, patience_epochs=None, seed=args.seed,
                         batchnorm_statistics=args.batchnorm_statistics, start_pull=args.start_pull)
    started = time.perf_counter()
    train_workflow.run_train(config, pre, [args.dataset / "particles_train.txt"], args.work / "model", quiet=True,
                             init_model=args.init)
    train_s = time.perf_counter() - started
    model, record, geometry = load_picker(args.work / "model")
    start, _, _ = train_workflow.load_init(args.init, geometry, config)
    manifest = read_manifest(pre)
    reference = read_picks(args.dataset / "particles_test.txt")
    names = reference.micrographs()
    images = [read_micrograph(pre / manifest.micrographs[name].file).array for name in names]
    stride = ExtractConfig().resolved_score_stride_px(model.input_pool)
    floor = float(default_of(ExtractConfig, "threshold"))
    path = []
    for epoch, state in [(0, None), *weights]:
        net = start if state is None else copy.deepcopy(model)
        if state is not None:
            net.load_state_dict(state)
        if net is None:
            continue  # trained from scratch: no start to score
        net.eval()
        parts = []
        for name, image in zip(names, images, strict=True):
            score_map = score_micrographs(net, [image], device=torch.device("cpu"), output_stride=stride)[0]
            found = peaks_orig_px(score_map, score_stride_px=stride, nms_radius_px=geometry.particle_radius_px,
                                  threshold=floor, downsample_factor=geometry.downsample_factor)
            parts.append(Picks.build([name] * len(found["score"]), found["x_orig_px"], found["y_orig_px"],
                                     found["score"]))
        scored = agreement(reference, Picks.concatenate(parts), radius_orig_px=meta["particle_radius_px"])
        path.append({"updates": epoch * args.every, "ap": round(scored.curve.average_precision, 4)})
    print(json.dumps({"bench": "trajectory", "dataset": args.dataset.name, "num_labeled": args.num_labeled,
                      "seed": args.seed, "batchnorm_statistics": args.batchnorm_statistics,
                      "start_pull": args.start_pull, "init": record.get("init_model"), "train_s": round(train_s, 1),
                      "trajectory": path, "machine": machine()}))


if __name__ == "__main__":
    main()
