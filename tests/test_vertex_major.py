"""The decoder's vertex-major training form (models/vertex_major.py) against its eval form."""

import pytest
import torch

from mobrecon.hand.load import hand_hierarchy
from mobrecon.hand.openhand import OpenHand
from mobrecon.models.decoder3d import Decoder3D, MeshUpsample
from mobrecon.models.dsconv import DSConv
from mobrecon.models.spiral_conv import SpiralConvPP


@pytest.fixture(scope="module")
def hier():
    return hand_hierarchy(OpenHand())


@pytest.mark.parametrize("conv", ["dsconv", "spiralconv"])
def test_training_form_is_the_eval_form(hier, conv):
    """Same outputs and gradients (input and every parameter) in train and eval mode, float64."""
    torch.manual_seed(0)
    dec = Decoder3D(hier, conv=conv).double()
    x = torch.randn(3, 49, 256, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 778, 3, dtype=torch.float64)
    results = []
    for training in (False, True):
        y = dec.train(training)(x)
        results.append((y, torch.autograd.grad(y, [x, *dec.parameters()], g)))
    (y_eval, grads_eval), (y_train, grads_train) = results
    assert y_train.shape == (3, 778, 3) and y_train.is_contiguous()
    torch.testing.assert_close(y_train, y_eval, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads_train, grads_eval):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [DSConv, SpiralConvPP])
def test_spiral_conv_vertex_major(cls):
    """A spiral conv on vertices of another count (N_in != N) and a bias-free one."""
    torch.manual_seed(1)
    spiral = torch.randint(0, 7, (5, 4))
    for bias in (True, False):
        conv = cls(6, 3, spiral, bias=bias).double()
        x = torch.randn(2, 7, 6, dtype=torch.float64)
        got = conv.forward_vertex_major(x.transpose(0, 1)).transpose(0, 1)
        torch.testing.assert_close(got, conv(x), rtol=1e-10, atol=1e-12)


def test_upsample_vertex_major(hier):
    up = MeshUpsample(hier.up_dense(1))
    x = torch.randn(2, up.shape[1], 5)
    torch.testing.assert_close(up.forward_vertex_major(x.transpose(0, 1)).transpose(0, 1), up(x))


def test_training_form_stays_in_bf16_under_autocast(hier):
    """Float32 weights and biases must not promote the training form's activations to float32."""
    torch.manual_seed(2)
    dec = Decoder3D(hier).train()
    x = torch.randn(2, 49, 256)
    dtypes = []
    hooks = [m.register_forward_hook(lambda mod, args, out: dtypes.append(out.dtype)) for m in (b.act for b in dec.blocks)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dec(x)
    for h in hooks:
        h.remove()
    assert dtypes == [torch.bfloat16] * len(dec.blocks)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), dec.eval()(x), atol=0.02, rtol=0.05)
