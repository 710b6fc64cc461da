"""Seconds per training step (minibatch of 256 crops) for each architecture and --precision, one JSON line.

Times cryopick's own loop (train.loop.fit: sampling, augmentation, forward, GE-binomial, backward,
Adam) on synthetic normalised micrographs, so it needs no dataset. The first steps (oneDNN's or
cuDNN's kernel choice) are excluded; on CUDA the clock is read after torch.cuda.synchronize(). Run it
alone: it uses every thread torch is given (on CUDA the crops are still sampled on the CPU).

  python bench/train_step.py --steps 40                  # resnet8 and conv3, float32 and bfloat16
  python bench/train_step.py --steps 100 --device cuda   # the same on the GPU
"""

import argparse
import json
import time

import numpy as np
import torch

from cryopick.device import cpu_has_native_bfloat16, resolve_device, training_dtype
from cryopick.models import build_model
from cryopick.train.loop import fit
from cryopick.train.sampler import CropSampler, LabelledMicrograph
from measure import machine, synchronize


def seconds_per_step(architecture: str, dtype: torch.dtype, steps: int, warmup: int, device: torch.device) -> float:
    rng = np.random.default_rng(0)
    micrographs = [LabelledMicrograph(rng.standard_normal((768, 768)).astype(np.float32),
                                      rng.uniform(40, 728, (60, 2))) for _ in range(4)]
    model = build_model(architecture)
    sampler = CropSampler(micrographs, crop_px=model.receptive_field_px, label_radius_px=3, seed=0)
    common = dict(objective="ge-binomial", pi_u=0.02, objective_weight=1.0, epochs=1, batch_size=256,
                  positive_fraction=1 / 16, learning_rate=1e-3, weight_decay=0.0, device=device,
                  seed=0, quiet=True, compute_dtype=dtype)
    fit(model, sampler, steps_per_epoch=warmup, **common)
    synchronize(device)
    started = time.perf_counter()
    fit(model, sampler, steps_per_epoch=steps, **common)
    synchronize(device)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", default=["resnet8", "conv3"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto, as train's --device "
                        "(default: %(default)s)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    figures = {}
    for architecture in args.architectures:
        for dtype in (torch.float32, torch.bfloat16):
            figures[f"{architecture}_{str(dtype).removeprefix('torch.')}_s_per_step"] = round(
                seconds_per_step(architecture, dtype, args.steps, args.warmup, device), 4)
        figures[f"{architecture}_bfloat16_speedup"] = round(
            figures[f"{architecture}_float32_s_per_step"] / figures[f"{architecture}_bfloat16_s_per_step"], 3)
    print(json.dumps({"bench": "train_step", "device": str(device), "batch_size": 256, "steps": args.steps,
                      "native_bfloat16": cpu_has_native_bfloat16() if device.type == "cpu" else None,
                      "auto_precision": str(training_dtype("auto", device)).removeprefix("torch."),
                      **figures, "machine": machine()}))


if __name__ == "__main__":
    main()
