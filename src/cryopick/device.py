"""The device and arithmetic: resolve ``--device``, choose training's precision, tune CPU memory reuse.

Resolve ``--device``: ``auto`` takes CUDA when present; asking for CUDA without it is an
error, never a silent fallback to the CPU. CPU training keeps its freed memory for reuse.
"""

import ctypes
import functools
import platform
import re
import sys
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


#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap, not fresh pages: a step's largest activation is
#: 32 MB (256 crops x 32 channels x 31 x 31 px, float32).
RETAINED_BLOCK_BYTES = 64 << 20
#: Freed memory kept at the top of the heap before any goes back to the system.
RETAINED_FREE_BYTES = 1 << 30


def retain_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse rather than hand it back to the system.

    CPU training allocates and frees the same large activations at every step. By default glibc
    serves such blocks from fresh pages (mmap) and returns freed heap to the system, so each step
    page-faults its activations in anew: ~20,000 faults a step of 256 crops, about 5% of its time
    on 2 threads. Process-wide; returns whether it applied (Linux with glibc only).
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, RETAINED_BLOCK_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, RETAINED_FREE_BYTES))
