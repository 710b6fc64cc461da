"""Shared by the benchmarks: the machine, a model's convolution arithmetic, and the matmul ceiling."""

import contextlib
import os
import platform
import time

import numpy as np
import numpy.typing as npt
import torch

from cryopick.models import PickerNet, dense_mode


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def conv_flop(model: PickerNet, image: npt.NDArray[np.float32], stride: int) -> float:
    """Floating-point operations (multiply and add counted apart) of the convolutions that score
    ``image`` at every ``stride``-th pixel, counted from the layers' output shapes."""
    flop = 0.0

    def count(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal flop
        if isinstance(module, torch.nn.Conv2d):
            taps = module.kernel_size[0] * module.kernel_size[1]
            flop += 2.0 * output.numel() * module.in_channels * taps / module.groups

    half = model.receptive_field_px // 2
    hooks = [m.register_forward_hook(count) for m in model.modules()]
    padded = torch.nn.functional.pad(torch.from_numpy(image)[None, None], (half,) * 4)
    try:
        model.to("cpu")
        with torch.inference_mode(), dense_mode(model, stride):
            model(padded)
    finally:
        for hook in hooks:
            hook.remove()
    return flop


def _rate(product, flop: float, device: torch.device, repeats: int) -> float:
    product()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        product()
    synchronize(device)
    return flop / ((time.perf_counter() - started) / repeats) / 1e9


def matmul_gflops(device: torch.device, size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Float32 matrix products' rates, the ceiling for the convolutions: ``torch.matmul`` and, on a
    CPU, oneDNN's own product (the library the convolutions run in; on AMD CPUs MKL's matmul takes
    a narrower vector path, so ``torch.matmul`` alone understates the machine). ``ceiling`` is the
    faster. On CUDA TF32 is used exactly when cuDNN's convolutions may use it."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    flop = 2.0 * size**3
    try:
        a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
        rates = {"torch_matmul": _rate(lambda: a @ b, flop, device, repeats)}
        if device.type == "cpu" and torch.backends.mkldnn.is_available():
            a_onednn, b_onednn = a.to_mkldnn(), b.to_mkldnn()
            with contextlib.suppress(AttributeError, RuntimeError):  # a private entry point: not in every build
                rates["onednn_matmul"] = _rate(lambda: torch._C._nn.mkldnn_linear(a_onednn, b_onednn, None), flop,
                                               device, repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    rates["ceiling"] = max(rates.values())
    return rates


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
