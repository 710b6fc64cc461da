"""Train a general detector: one resnet8 on the *training* micrographs of several datasets, every
label used, at the downsamplings that put each particle 15-30 working px across.

It is what `cryopick train --init general` starts from (src/cryopick/pretrained/general/). The test
micrographs of every dataset are never read. To measure whether it generalises, train one without
a dataset and start from it on that dataset (bench/ablation.py --variant 'g=--init OUT'):

  python bench/general_detector.py /tmp/cryopick-data/real_empiar10146_apoferritin \\
      /tmp/cryopick-data/sim_tric_compact /tmp/cryopick-data/sim_rod_pcdh_like \\
      --work /tmp/general-work -o /tmp/general-no-enolase --updates 2000

Prints one JSON line (datasets, downsamplings, micrographs, labels, seconds, the machine).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cryopick import __version__
from cryopick.extract.rescale import to_working_px
from cryopick.io.coordinates import read_picks
from cryopick.io.manifest import read_manifest
from cryopick.io.micrographs import read_micrograph
from cryopick.models import build_model
from cryopick.train.loop import fit
from cryopick.train.sampler import CropSampler, LabelledMicrograph
from cryopick.workflows.modelio import save_picker
from datasets import link_micrographs
from measure import machine

#: The particle sizes (working px across) the detector is trained at, and so the ones that
#: `--init general` accepts: Topaz's advice of 10-30 px, and what `preprocess`'s own choice gives.
DIAMETER_RANGE_PX = (15.0, 30.0)
#: Per dataset, at most these many downsamplings: the ones nearest these diameters.
DIAMETER_TARGETS_PX = (18.0, 26.0)


def downsamplings(diameter_orig_px: float) -> list[int]:
    """The factors (at most one per target) that put the particle inside ``DIAMETER_RANGE_PX``."""
    low, high = DIAMETER_RANGE_PX
    fits = [f for f in range(1, 33) if low <= diameter_orig_px / f <= high]
    if not fits:
        return []
    return sorted({min(fits, key=lambda f: abs(diameter_orig_px / f - target)) for target in DIAMETER_TARGETS_PX})


def labelled_micrographs(dataset: Path, preprocessed: Path) -> list[LabelledMicrograph]:
    manifest = read_manifest(preprocessed)
    labels = read_picks(dataset / "particles_train.txt")
    factor = manifest.geometry.downsample_factor
    out = []
    for name, record in sorted(manifest.micrographs.items()):
        mine = labels.for_micrograph(name)
        centres = np.stack([to_working_px(mine.y_orig_px, downsample_factor=factor),
                            to_working_px(mine.x_orig_px, downsample_factor=factor)], axis=1)
        out.append(LabelledMicrograph(read_micrograph(preprocessed / record.file).array, centres))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", type=Path, nargs="+")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the model directory to write")
    parser.add_argument("--work", type=Path, required=True, help="preprocessed micrographs (kept, reused)")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    micrographs: list[LabelledMicrograph] = []
    sources = []
    started = time.perf_counter()
    for dataset in args.datasets:
        meta = json.loads((dataset / "meta.json").read_text())
        diameter_orig_px = meta["particle_diameter_A"] / meta["pixel_size_A"]
        _, raw = link_micrographs(dataset, args.work / dataset.name, "train")
        for factor in downsamplings(diameter_orig_px):
            preprocessed = args.work / dataset.name / f"ds{factor}"
            if not (preprocessed / "preprocess.json").exists():
                subprocess.run([sys.executable, "-m", "cryopick.cli.main", "preprocess", str(raw), "-o",
                                str(preprocessed), "--particle-diameter-A", str(meta["particle_diameter_A"]),
                                "--downsample", str(factor), "-q"], check=True)
            found = labelled_micrographs(dataset, preprocessed)
            micrographs += found
            sources.append({"dataset": dataset.name, "downsample": factor,
                            "diameter_px": round(diameter_orig_px / factor, 1), "micrographs": len(found),
                            "labels": int(sum(len(m.centres_px) for m in found))})
            print(f"{dataset.name} ds{factor}: {sources[-1]}", file=sys.stderr)
    torch.manual_seed(args.seed)
    model = build_model("resnet8")
    label_radius_px = 3.0
    sampler = CropSampler(micrographs, crop_px=model.receptive_field_px, label_radius_px=label_radius_px,
                          seed=args.seed)
    positive_fraction = 1 / 16
    model.start_at_prior(positive_fraction)
    steps_per_epoch = 250
    result = fit(model, sampler, objective="pn", pi_u=positive_fraction, objective_weight=1.0,
                 epochs=max(1, args.updates // steps_per_epoch), steps_per_epoch=steps_per_epoch, batch_size=256,
                 positive_fraction=positive_fraction, learning_rate=args.learning_rate, weight_decay=0.0,
                 device=torch.device("cpu"), seed=args.seed, quiet=True)
    train_s = time.perf_counter() - started
    low, high = DIAMETER_RANGE_PX
    record = {
        "version": __version__,
        "cmd": sys.argv,
        # A stand-in geometry (1 A working pixels, a particle in the middle of the range): the detector
        # is meant for any particle DIAMETER_RANGE_PX across, which "general" records.
        "geometry": {"particle_diameter_A": (low + high) / 2, "pixel_size_A": 1.0, "downsample_factor": 1},
        "normalization": {"method": "gmm"},
        "label_radius_px": label_radius_px,
        "objective": {"name": "pn", "weight": 1.0, "pi": positive_fraction, "pi_u": positive_fraction,
                      "autoencoder_weight": 0.0},
        "general": {"particle_diameter_px_range": [low, high], "trained_on": sources,
                    "updates": args.updates, "learning_rate": args.learning_rate,
                    "note": "training micrographs only; every label; objective pn"},
        "training": {"history": [vars(h) for h in result.history]},
    }
    save_picker(args.out, model, result.best_state, record)
    print(json.dumps({"bench": "general_detector", "out": str(args.out), "sources": sources,
                      "micrographs": len(micrographs), "updates": args.updates, "train_s": round(train_s, 1),
                      "final_loss": result.history[-1].loss if result.history else None,
                      "machine": machine()}))


if __name__ == "__main__":
    main()
