import pytest
import torch
from torch import nn

from cryopick.models.layers import PReLU, centre_crop

CHANNELS_LAST = torch.channels_last


@pytest.mark.parametrize("num_parameters", [1, 6])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CHANNELS_LAST])
def test_prelu_matches_torch_in_value_and_gradient(num_parameters: int, memory_format: torch.memory_format) -> None:
    torch.manual_seed(0)
    reference = nn.PReLU(num_parameters)
    with torch.no_grad():
        reference.weight.copy_(torch.linspace(-0.3, 0.6, num_parameters))
    ours = PReLU(num_parameters)
    ours.load_state_dict(reference.state_dict())  # same keys, same parameter
    x = torch.randn(5, 6, 9, 8).contiguous(memory_format=memory_format)
    x[0, 0, 0, :3] = 0.0  # the kink itself: both take the negative side's slope
    upstream = torch.randn(5, 6, 9, 8).contiguous(memory_format=memory_format)
    grads = []
    for module in (reference, ours):
        inputs = x.clone().requires_grad_()
        out = module(inputs)
        out.backward(upstream)
        grads.append((out.detach(), inputs.grad, module.weight.grad))
    for expected, got in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    if memory_format == CHANNELS_LAST:
        assert grads[1][1].is_contiguous(memory_format=CHANNELS_LAST)


def test_prelu_under_bfloat16_autocast_trains_like_torch() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(1, 4, 3)
    x = torch.randn(3, 1, 10, 10)
    grads = []
    for module in (nn.PReLU(4), PReLU(4)):
        conv.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(conv(x))
        out.float().square().sum().backward()
        grads.append((out.dtype, conv.weight.grad.clone(), module.weight.grad.clone()))
    assert grads[0][0] == grads[1][0]
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=2e-2, atol=1e-2)
    torch.testing.assert_close(grads[1][2], grads[0][2], rtol=2e-2, atol=1e-2)


def test_prelu_without_gradients_is_torchs() -> None:
    module = PReLU(3)
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(module(x), torch.nn.functional.prelu(x, module.weight), rtol=0, atol=0)


@pytest.mark.parametrize(("rows", "cols"), [(5, 5), (4, 7), (9, 8)])
def test_centre_crop_is_the_central_slice_and_keeps_the_layout_of_gradients(rows: int, cols: int) -> None:
    x = torch.randn(2, 3, 9, 10).contiguous(memory_format=CHANNELS_LAST)
    top, left = (9 - rows) // 2, (10 - cols) // 2
    expected = x[..., top: top + rows, left: left + cols]
    assert torch.equal(centre_crop(x, rows, cols), expected)  # a view without gradients
    leaf = x.clone().requires_grad_()
    cropped = centre_crop(leaf, rows, cols)
    assert torch.equal(cropped, expected)
    upstream = torch.randn_like(cropped)
    cropped.backward(upstream)
    assert leaf.grad is not None
    assert leaf.grad.is_contiguous(memory_format=CHANNELS_LAST)
    padded_back = torch.zeros_like(x)
    padded_back[..., top: top + rows, left: left + cols] = upstream
    assert torch.equal(leaf.grad, padded_back)
