"""Every registered model runs forward and backward with the right output shapes."""

import pytest
import torch

from mobrecon.models import build, names


@pytest.mark.parametrize("name", names())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = build(name)
    img = torch.randn(2, 3, 128, 128)
    out = model(img)
    assert out["uv"].shape == (2, 21, 2) and out["joints2d"].shape == (2, 21, 2)
    assert out["vertices"].shape == (2, 778, 3) and out["joints3d"].shape == (2, 21, 3)
    (out["vertices"].abs().mean() + out["uv"].abs().mean()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_unknown_name_is_clear():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build("nope")
