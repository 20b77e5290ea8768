"""The export form of a network (infer/export_form.py) computes what the network computes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mobrecon.infer.export_form import export_form
from mobrecon.models import build
from mobrecon.models.blocks import GhostModule, Reorg, ReorgConv
from mobrecon.models.decoder3d import DecoderBlock, MeshUpsample
from mobrecon.models.dsconv import DSConv
from mobrecon.models.upsampled_dsconv import UpsampledDSConv


def test_reorg_conv_is_pixel_unshuffle():
    x = torch.randn(2, 5, 8, 12)
    for s in (2, 4):
        assert torch.equal(ReorgConv(5, s)(x), F.pixel_unshuffle(x, s))


def _random_up(n_fine, n_coarse, k, seed):
    g = torch.Generator().manual_seed(seed)
    up = torch.zeros(n_fine, n_coarse)
    for f in range(n_fine):
        cols = torch.randperm(n_coarse, generator=g)[: 1 + f % k]
        up[f, cols] = torch.rand(len(cols), generator=g)
    return up


def test_upsampled_dsconv_equals_upsample_then_dsconv():
    n_fine, n_coarse, s = 40, 17, 6
    g = torch.Generator().manual_seed(1)
    spiral = torch.stack([torch.cat([torch.tensor([v]), torch.randint(0, n_fine, (s - 1,), generator=g)])
                          for v in range(n_fine)])
    up, conv = MeshUpsample(_random_up(n_fine, n_coarse, 3, 2)), DSConv(7, 5, spiral)
    fused = UpsampledDSConv(up, conv)
    assert fused.reach <= 3 * s
    x = torch.randn(3, n_coarse, 7)
    with torch.no_grad():
        assert torch.allclose(fused(x), conv(up(x)), atol=1e-5)
    with pytest.raises(ValueError, match="up-sampling"):
        UpsampledDSConv(MeshUpsample(_random_up(n_fine + 1, n_coarse, 3, 2)), conv)


@pytest.mark.parametrize("name", ["mobrecon_ghoststack", "mobrecon_densestack"])
def test_export_form_of_a_network(name):
    torch.manual_seed(0)
    net = build(name).eval()
    for m in net.modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    net.train()
    form = export_form(net)
    assert net.training and not form.training  # the network is left as it was
    assert not any(isinstance(m, Reorg) for m in form.modules())
    blocks = [m for m in form.modules() if isinstance(m, DecoderBlock)]
    assert blocks and all(isinstance(b.conv, UpsampledDSConv) for b in blocks)
    assert any(isinstance(m, DecoderBlock) and isinstance(m.up, MeshUpsample) for m in net.modules())
    x = torch.rand(2, 3, net.cfg.input_size, net.cfg.input_size) * 2 - 1
    net.eval()
    with torch.no_grad():
        a, b = net(x), form(x)
    for key in ("vertices", "joints3d", "joints2d"):
        ref, got = getattr(a, key).numpy(), getattr(b, key).numpy()
        assert np.abs(ref - got).max() <= 1e-4 * max(1.0, np.abs(ref).max()), key


def test_ghost_module_cuts_only_when_it_must():
    assert not GhostModule(8, 8).cut and GhostModule(8, 7).cut
    assert GhostModule(8, 7)(torch.randn(1, 8, 6, 6)).shape[1] == 7
