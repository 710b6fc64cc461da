"""Resolve ``--device`` to a torch device, never silently falling back to the CPU; choose training's arithmetic.

Resolve ``--device``: ``auto`` takes CUDA when present; asking for CUDA without it is an
error, never a silent fallback to the CPU.
"""

import functools
import re
from pathlib import Path

import torch

from cryopick.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """The torch device that ``--device`` names (``auto``: CUDA when present)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device is available (torch {torch.__version__})")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device {name}: {exc}") from None


@functools.cache
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (AVX-512 BF16 or AMX).

    Only there does bfloat16 pay: elsewhere oneDNN emulates it, slower than float32. Read from
    Linux's CPU flags; other systems answer no (float32, as before).
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def training_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype training's forward pass runs in for ``--precision`` on ``device``.

    ``auto``: bfloat16 on a CPU that does it in hardware (a resnet8 step 1.25x faster on 2 cores,
    bench/results/speed/train_step_cpu.jsonl), float32 elsewhere (on CUDA the convolutions already use TF32).
    Weights, optimiser state and the loss stay float32 (autocast), and scoring is always float32.
    """
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"--precision bfloat16: {torch.cuda.get_device_name(device)} does not support bfloat16")
        return torch.bfloat16
    if precision != "auto":
        raise ConfigError(f"unknown precision {precision!r}: use auto, float32 or bfloat16")
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bfloat16() else torch.float32
