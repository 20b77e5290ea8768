"""3D decoder, spiral convolutions, feature lifting, pose pooling and Mult-Adds counting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobrecon.hand.load import hand_hierarchy
from mobrecon.hand.openhand import OpenHand
from mobrecon.models.decoder3d import Decoder3D, MeshUpsample
from mobrecon.models.dsconv import DSConv, dsconv_as_spiralconv
from mobrecon.models.flops import count_macs_params, mac_report
from mobrecon.models.lifting import FCLifting, PoseVertexLifting
from mobrecon.models.pose_pooling import grid_sample_pooling, heatmap_pooling
from mobrecon.models.spiral_conv import SpiralConvPP


@pytest.fixture(scope="module")
def hier():
    return hand_hierarchy(OpenHand())


@pytest.mark.parametrize("conv", ["dsconv", "spiralconv"])
def test_decoder_forward_backward(hier, conv):
    torch.manual_seed(0)
    dec = Decoder3D(hier, conv=conv)
    x = torch.randn(2, 49, 256, requires_grad=True)
    out = dec(x)
    assert out.shape == (2, 778, 3)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in dec.parameters())
    # up-sampling: the hierarchy's matrices as gathers, in non-persistent buffers
    ups = [b.up for b in dec.blocks]
    assert [u.shape for u in ups] == [(98, 49), (195, 98), (389, 195), (778, 389)]
    for level, u in zip((3, 2, 1, 0), ups):
        np.testing.assert_array_equal(u.dense().numpy(), hier.up_dense(level).numpy())
    assert not any(".up." in k for k in dec.state_dict())


def test_mesh_upsample_equals_the_dense_product(hier):
    """The gather + weighted sum gives the dense matrix product, forward and backward."""
    torch.manual_seed(1)
    dense = hier.up_dense(0)
    up = MeshUpsample(dense)
    x = torch.randn(3, dense.shape[1], 5, dtype=torch.float64, requires_grad=True)
    y = up(x)
    want = torch.matmul(dense.double(), x)
    torch.testing.assert_close(y, want, rtol=0, atol=1e-12)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    torch.testing.assert_close(gx, torch.matmul(dense.double().T, g), rtol=0, atol=1e-12)
    odd = torch.tensor([[0.0, 2.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])  # rows of 1, 2 and 0 entries
    z = torch.randn(2, 3, 4)
    torch.testing.assert_close(MeshUpsample(odd)(z), odd @ z)
    with pytest.raises(ValueError, match="2D"):
        MeshUpsample(torch.zeros(3))


def test_decoder_rejects_bad_input(hier):
    dec = Decoder3D(hier)
    with pytest.raises(ValueError):
        dec(torch.randn(1, 98, 256))
    with pytest.raises(ValueError):
        Decoder3D(hier, channels=(256, 128, 64))
    with pytest.raises(ValueError):
        Decoder3D(hier, conv="nope")


def test_spiralconv_matches_definition(hier):
    torch.manual_seed(1)
    spiral = hier.spirals[3]  # (98, 9)
    conv = SpiralConvPP(5, 7, spiral)
    x = torch.randn(2, 98, 5)
    y = conv(x)
    idx = torch.from_numpy(spiral)
    ref = conv.linear(x[:, idx].reshape(2, 98, 9 * 5))  # concat order: s-major, channel-minor
    assert y.shape == (2, 98, 7)
    torch.testing.assert_close(y, ref)


def test_dsconv_equals_factorised_spiralconv(hier):
    torch.manual_seed(2)
    spiral = hier.spirals[2]  # (195, 9)
    ds = DSConv(16, 8, spiral)
    with torch.no_grad():
        ds.pointwise.bias.normal_()
    sc = dsconv_as_spiralconv(ds)
    assert isinstance(sc, SpiralConvPP)
    x = torch.randn(3, 195, 16)
    diff = (ds(x) - sc(x)).abs().max().item()
    assert diff < 1e-5
    # explicit depth-wise then point-wise
    g = x[:, torch.from_numpy(spiral)]  # (B, N, S, C)
    ref = ds.pointwise((g * ds.depthwise_weight.t()).sum(2))
    assert (ds(x) - ref).abs().max().item() < 1e-5
    wd, wp = ds.depthwise_weight, ds.pointwise.weight
    assert torch.allclose(sc.linear.weight[3, 2 * 16 + 5], wp[3, 5] * wd[5, 2])


def test_pvl_identity_passthrough():
    pvl = PoseVertexLifting()
    assert pvl.weight.shape == (49, 21)
    assert torch.all(pvl.weight == 0.01)
    assert sum(p.numel() for p in pvl.parameters()) == 1029
    with torch.no_grad():
        pvl.weight.zero_()
        pvl.weight[:21] = torch.eye(21)
    x = torch.randn(2, 21, 256)
    y = pvl(x)
    assert y.shape == (2, 49, 256)
    torch.testing.assert_close(y[:, :21], x)
    assert torch.all(y[:, 21:] == 0)


def test_fc_lifting_params():
    fc = FCLifting()
    n = sum(p.numel() for p in fc.parameters())
    assert n == 256 * 49 * 256 + 49 * 256 == 3_223_808  # paper: 3.2M
    out = fc(torch.randn(2, 256, 4, 4))
    assert out.shape == (2, 49, 256)


def test_grid_sample_pooling_pixel_centres():
    """Cell (i, j) of the map is read at the network's uv of its centre, ((j + 0.5) / W,
    (i + 0.5) / H); the old convention (0 and 1 at the outer cell centres) is kept on request."""
    torch.manual_seed(3)
    B, C, H, W = 2, 6, 4, 5
    feat = torch.randn(B, C, H, W)
    ii, jj = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ii, jj = ii.reshape(-1)[:21 - 1], jj.reshape(-1)[:21 - 1]
    ii, jj = torch.cat([ii, torch.tensor([H - 1])]), torch.cat([jj, torch.tensor([W - 1])])
    uv = torch.stack([(jj + 0.5) / W, (ii + 0.5) / H], dim=-1).float().expand(B, 21, 2)  # (x, y)
    out = grid_sample_pooling(feat, uv)
    assert out.shape == (B, 21, C)
    ref = feat[:, :, ii, jj].transpose(1, 2)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    # half-way between two cell centres: the average
    mid = grid_sample_pooling(feat, torch.tensor([[[1.0 / W, 0.5 / H]]]).expand(B, 1, 2))
    torch.testing.assert_close(mid[:, 0], 0.5 * (feat[:, :, 0, 0] + feat[:, :, 0, 1]))
    old = torch.stack([jj / (W - 1), ii / (H - 1)], dim=-1).float().expand(B, 21, 2)
    torch.testing.assert_close(grid_sample_pooling(feat, old, pixel_centres=False), ref, atol=1e-6, rtol=0)


def test_pose_pooling_reads_where_the_2d_joints_are():
    """A joint at crop pixel p (uv = (p + 0.5) / S, the MapReg/loss convention) reads F_e at p:
    the map holds each cell's own centre in crop pixels, so sampling returns p itself."""
    from mobrecon.models.pose_pooling import PosePooling
    from mobrecon.train.losses import to_uv

    size, fs = 128, 4
    centres = (torch.arange(fs, dtype=torch.float32) + 0.5) * size / fs - 0.5
    feat = torch.stack([centres.expand(fs, fs), centres[:, None].expand(fs, fs)])[None]  # (1, 2, fs, fs)
    p = torch.tensor([[[20.0, 100.0], [63.5, 63.5], [40.0, 90.0], [105.0, 30.0]]])
    got = PosePooling("grid")(feat, to_uv(p, size))
    torch.testing.assert_close(got, p, atol=1e-4, rtol=0)


def test_old_model_files_keep_their_pooling_convention(tmp_path):
    """A model file written before the fix (no pool_pixel_centres in its config) loads with
    the convention it was trained with; new files record the new one."""
    from dataclasses import asdict

    from mobrecon.models.registry import build
    from mobrecon.models.weights import load_model, save_model

    model = build("mobrecon_ghoststack")
    path = save_model(tmp_path / "new.pt", model, "mobrecon_ghoststack")
    assert load_model(path).pooling.pixel_centres is True
    blob = torch.load(path, weights_only=True)
    cfg = asdict(model.cfg)
    del cfg["pool_pixel_centres"]
    blob["config"] = cfg
    torch.save(blob, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").pooling.pixel_centres is False


@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_heatmap_pooling_one_hot(reduce):
    torch.manual_seed(4)
    B, C, H, W, J = 2, 5, 4, 4, 21
    feat = torch.randn(B, C, H, W).abs() + 0.1  # positive, so 'max' picks the hot pixel
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, H, size=(B, J)), rng.integers(0, W, size=(B, J))
    heat = torch.zeros(B, J, H, W)
    for b in range(B):
        for j in range(J):
            heat[b, j, ys[b, j], xs[b, j]] = 1.0
    out = heatmap_pooling(feat, heat, reduce=reduce)
    assert out.shape == (B, J, C)
    for b in range(B):
        for j in range(J):
            torch.testing.assert_close(out[b, j], feat[b, :, ys[b, j], xs[b, j]])
    # a heatmap at another resolution is resized first
    assert heatmap_pooling(feat, torch.rand(B, J, 8, 8), reduce=reduce).shape == (B, J, C)


def _sparse_up_macs(hier, channels=(256, 256, 128, 64)):
    """Mult-Adds of the up-sampling done sparsely: nnz(up_l) * C per block."""
    levels = [3, 2, 1, 0]
    return sum(hier.up[l].nnz * c for l, c in zip(levels, channels))


def test_macs_params_vs_paper(hier):
    x = torch.randn(1, 49, 256)
    rows = {}
    for conv in ("dsconv", "spiralconv"):
        r = mac_report(Decoder3D(hier, conv=conv), x)
        rows[conv] = (r.macs, r.macs_excluding(".up"), r.params)
        print(f"{conv}: Mult-Adds {r.macs:,}, without up-sampling {r.macs_excluding('.up'):,} "
              f"(its sparse cost {_sparse_up_macs(hier):,}); params {r.params:,}")
    pvl_macs, pvl_params = count_macs_params(PoseVertexLifting(), torch.randn(1, 21, 256))
    fc_macs, fc_params = count_macs_params(FCLifting(), torch.randn(1, 256, 4, 4))
    print(f"PVL: Mult-Adds {pvl_macs:,}, params {pvl_params:,}; FC lifting: {fc_macs:,} / {fc_params:,}")

    def near(a, b, tol=0.10):
        return abs(a - b) <= tol * b

    # paper Table 4: DSConv decoder 19.5M / 0.1M; SpiralConv++ decoder 159.0M / 1.0M
    # (the paper's figures match the convolutions alone; the up-sampling is not counted)
    assert near(rows["dsconv"][1], 19.5e6) and near(rows["spiralconv"][1], 159.0e6)
    assert rows["dsconv"][1] == 19_462_400 and rows["spiralconv"][1] == 159_003_072
    assert rows["dsconv"][2] == 115_747 and near(rows["dsconv"][2], 0.1e6, 0.2)
    assert rows["spiralconv"][2] == 978_243 and near(rows["spiralconv"][2], 1.0e6)
    # up-sampling as gathers: counted at nnz x channels (dense products would be 35.2M)
    assert rows["dsconv"][0] - rows["dsconv"][1] == _sparse_up_macs(hier)
    # paper Table 2: PVL 0.3M Mult-Adds, 1,029 params; FC 3.2M / 3.2M
    assert pvl_params == 1029 and pvl_macs == 49 * 21 * 256 and near(pvl_macs, 0.3e6, 0.15)
    assert fc_macs == 256 * 49 * 256 and near(fc_macs, 3.2e6) and near(fc_params, 3.2e6)


def test_grid_sample_macs():
    class Pool(torch.nn.Module):
        def forward(self, f, uv):
            return grid_sample_pooling(f, uv)

    macs, params = count_macs_params(Pool(), torch.randn(1, 256, 4, 4), torch.rand(1, 21, 2))
    assert (macs, params) == (4 * 256 * 21, 0)
