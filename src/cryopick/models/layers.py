"""Layers whose backward passes cost less on a CPU: PReLU, and the residual units' centre crop.

PReLU here is the same function, with the same weights and state-dict keys, as torch's.

Training resnet8 on 2 CPU threads spent a fifth of each step in aten's PReLU backward (~50 ms
for a 256 x 32 x 31 x 31 activation, about ten times its forward). The same gradients from
five plain tensor operations, each one pass over memory, take half that; with ``centre_crop``
below, the step of 256 crops is ~12% faster, with the same results (tests/models/test_layers.py).
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_saved, weight = ctx.saved_tensors
        x = x_saved.to(grad.dtype)  # under autocast the output (and its gradient) may differ in dtype
        grad_where_positive = torch.ops.aten.threshold_backward(grad, x, 0)
        grad_where_negative = grad - grad_where_positive
        per_channel = weight.numel() > 1
        slope = weight.to(grad.dtype)
        if per_channel:
            slope = slope.reshape((1, -1) + (1,) * (x.dim() - 2))
        grad_x = torch.addcmul(grad_where_positive, grad_where_negative, slope)
        channel_sums = [d for d in range(x.dim()) if d != 1] if per_channel else None
        grad_weight = (grad_where_negative * x).sum(channel_sums, dtype=torch.float32)
        return grad_x.to(x_saved.dtype), grad_weight.reshape(weight.shape).to(weight.dtype)


class PReLU(nn.PReLU):
    """``torch.nn.PReLU`` (same parameters, same outputs) whose backward pass costs half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The plain PReLU when no gradient is needed (scoring), the cheaper-backward one otherwise."""
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            result: torch.Tensor = _PReLUFunction.apply(x, self.weight)  # type: ignore[no-untyped-call]
            return result
        return F.prelu(x, self.weight)


def centre_crop(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The central ``rows`` x ``cols`` of ``x``'s last two axes.

    A view when no gradient is needed; when one is, a cropped copy (padding by negative amounts),
    whose backward pass keeps channels-last gradients channels-last: a sliced view's backward
    handed the residual units' inputs plain-layout gradients, which made every operation on
    them (PReLU's backward above all) several times slower.
    """
    top = (x.shape[-2] - rows) // 2
    left = (x.shape[-1] - cols) // 2
    if torch.is_grad_enabled() and x.requires_grad:
        bottom = x.shape[-2] - rows - top
        right = x.shape[-1] - cols - left
        return F.pad(x, (-left, -right, -top, -bottom))
    return x[..., top: top + rows, left: left + cols]
