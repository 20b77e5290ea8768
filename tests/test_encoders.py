"""2D encoders (DenseStack / GhostStack) and 2D pose heads: shapes and gradients (costs are in
test_costs.py)."""
import pytest
import torch

from mobrecon.models.densestack import DenseStack
from mobrecon.models.ghoststack import GhostStack
from mobrecon.models.mapreg import HeatmapHead, MapReg, RegressionHead


@pytest.mark.parametrize("enc_cls", [DenseStack, GhostStack])
def test_encoder_shapes_and_backward(enc_cls):
    torch.manual_seed(0)
    enc = enc_cls().train()
    head = MapReg()
    x = torch.randn(2, 3, 128, 128)
    latent, fmap = enc(x)
    assert latent.shape == (2, 256, 4, 4)
    assert fmap.shape == (2, 24, 16, 16)
    uv = head(fmap)
    assert uv.shape == (2, 21, 2)
    (latent.mean() + uv.mean()).backward()
    grads = {n: p.grad for n, p in enc.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), \
        [n for n, g in grads.items() if g is None]
    assert enc(x, with_map=False).shape == (2, 256, 4, 4)
    # the map path is a separate part: dropping it keeps F_e and forbids the map
    n_enc = enc.encoder_num_params()
    enc.drop_map_part()
    assert enc.encoder_num_params() == n_enc == sum(p.numel() for p in enc.parameters())
    with pytest.raises(RuntimeError, match="map path"):
        enc(x)


def test_mapreg_and_alternatives():
    torch.manual_seed(0)
    fmap = torch.randn(2, 24, 16, 16, requires_grad=True)
    assert MapReg()(fmap).shape == (2, 21, 2)
    hm, pos = HeatmapHead()(fmap)
    assert hm.shape == (2, 21, 32, 32) and pos.shape == (2, 21, 2)
    assert (pos >= 0).all() and (pos <= 1).all()
    pos.sum().backward()
    assert fmap.grad is not None
    _, pos_hard = HeatmapHead(soft=False)(fmap.detach())
    assert pos_hard.shape == (2, 21, 2)
    # a sharp peak is located exactly by both decoders
    peak = torch.full((1, 1, 16, 16), -50.0)
    peak[0, 0, 3, 10] = 50.0
    from mobrecon.models.mapreg import argmax_2d, soft_argmax_2d
    expect = torch.tensor([[[10.5 / 16, 3.5 / 16]]])
    assert torch.allclose(argmax_2d(peak), expect)
    assert torch.allclose(soft_argmax_2d(peak), expect, atol=1e-4)
    assert RegressionHead()(torch.randn(2, 256, 4, 4)).shape == (2, 21, 2)
