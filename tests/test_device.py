"""--device and --precision resolve to what the machine can do, and refuse what it cannot."""

import platform
import sys
from pathlib import Path

import pytest
import torch

import cryopick.device as device_module
from cryopick.device import resolve_device, retain_freed_memory, training_dtype
from cryopick.errors import ConfigError

CPU = torch.device("cpu")


def test_explicit_precisions_are_kept_on_the_cpu() -> None:
    assert training_dtype("float32", CPU) == torch.float32
    assert training_dtype("bfloat16", CPU) == torch.bfloat16


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_takes_bfloat16_only_where_the_cpu_does_it_in_hardware(monkeypatch: pytest.MonkeyPatch, native: bool,
                                                                     expected: torch.dtype) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bfloat16", lambda: native)
    assert training_dtype("auto", CPU) == expected


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ConfigError, match="half"):
        training_dtype("half", CPU)


def test_cpu_flags_are_read_from_this_machine() -> None:
    """The probe answers from /proc/cpuinfo where there is one (and no otherwise), never raising."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    assert device_module.cpu_has_native_bfloat16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_cuda_without_a_gpu_is_an_error_not_a_fallback() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


def test_cpu_training_keeps_freed_memory_for_reuse_where_glibc_allows() -> None:
    on_glibc = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert retain_freed_memory() is on_glibc  # glibc accepts both settings; elsewhere nothing is touched
