"""Baseline stacked encoders of MobRecon Table 1 (ResNet18-Stack, MobileNet-Stack): shapes,
gradients, the F_e-only path, and encoder cost against the paper (128x128 input, batch 1)."""
import pytest
import torch

from mobrecon.models.flops import mac_report
from mobrecon.models.mobilenetstack import MobileNetStack
from mobrecon.models.resnetstack import ResNet18Stack

# class -> (paper Mult-Adds M, paper params M, relative tolerance on Mult-Adds, on params).
# MobileNet-Stack params sit 5.4% above the paper (see the module docstring for why).
CASES = {
    "ResNet18Stack": (ResNet18Stack, 2391.3, 25.2, 0.03, 0.03),
    "MobileNetStack": (MobileNetStack, 100.2, 1.7, 0.03, 0.06),
}


class _EncoderOnly(torch.nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, x):
        return self.enc(x, with_map=False)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    torch.manual_seed(0)
    cls, *figures = CASES[request.param]
    return cls(), figures


def test_interface_attributes(case):
    enc, _ = case
    assert enc.out_ch == 24 and enc.latent_ch == 256
    parts = enc.map_part_modules()
    assert parts and all(isinstance(m, torch.nn.Module) for m in parts)


def test_shapes_and_backward(case):
    enc, _ = case
    enc.train()
    x = torch.randn(2, 3, 128, 128)
    latent, fmap = enc(x)
    assert latent.shape == (2, 256, 4, 4)
    assert fmap.shape == (2, 24, 16, 16)
    enc.zero_grad()
    (latent.square().mean() + fmap.square().mean()).backward()
    stem_w = next(enc.stem.parameters())
    assert stem_w.grad is not None and stem_w.grad.abs().sum() > 0
    for m in enc.map_part_modules():
        assert all(p.grad is not None for p in m.parameters())
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


def test_with_map_false_returns_only_latent_and_skips_map_part(case):
    enc, _ = case
    enc.eval()
    calls = []
    hooks = [m.register_forward_hook(lambda *a: calls.append(1)) for m in enc.map_part_modules()]
    try:
        with torch.no_grad():
            out = enc(torch.randn(2, 3, 128, 128), with_map=False)
    finally:
        for h in hooks:
            h.remove()
    assert isinstance(out, torch.Tensor) and out.shape == (2, 256, 4, 4)
    assert not calls, "the map part ran although with_map=False"


def test_encoder_cost_matches_paper(case):
    enc, (paper_macs, paper_params, tol_macs, tol_params) = case
    macs = mac_report(_EncoderOnly(enc), torch.randn(1, 3, 128, 128)).macs / 1e6
    params = enc.encoder_num_params() / 1e6
    map_params = sum(p.numel() for m in enc.map_part_modules() for p in m.parameters())
    assert enc.encoder_num_params() + map_params == sum(p.numel() for p in enc.parameters())
    assert abs(macs / paper_macs - 1) <= tol_macs, (macs, paper_macs)
    assert abs(params / paper_params - 1) <= tol_params, (params, paper_params)


@pytest.mark.parametrize("cls", [ResNet18Stack, MobileNetStack])
def test_drop_map_part(cls):
    enc = cls()
    n = enc.encoder_num_params()
    enc.drop_map_part()
    assert enc.map_part_modules() == []
    assert enc.encoder_num_params() == n == sum(p.numel() for p in enc.parameters())
    with torch.no_grad():
        assert enc.eval()(torch.randn(1, 3, 128, 128), with_map=False).shape == (1, 256, 4, 4)
    with pytest.raises(RuntimeError):
        enc(torch.randn(1, 3, 128, 128))
