"""Resolve ``--device`` to a torch device, never silently falling back to the CPU.

Resolve ``--device``: ``auto`` takes CUDA when present; asking for CUDA without it is an
error, never a silent fallback to the CPU.
"""

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
