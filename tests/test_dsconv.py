"""DSConv under bf16 autocast (models/dsconv.py)."""

import torch

from mobrecon.models.dsconv import DSConv


def test_depthwise_step_stays_in_bf16_under_autocast():
    """A float32 weight must not promote the (B, N, S, C) product to float32 (training speed)."""
    torch.manual_seed(0)
    spiral = torch.stack([torch.roll(torch.arange(12), -v)[:5] for v in range(12)])
    conv = DSConv(8, 4, spiral)
    seen = []
    conv.pointwise.register_forward_pre_hook(lambda mod, args: seen.append(args[0].dtype))
    x = torch.randn(2, 12, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x.bfloat16())
    assert seen == [torch.bfloat16] and y.dtype == torch.bfloat16
    assert torch.allclose(y.float(), conv(x), atol=0.05, rtol=0.05)
