"""Measured Mult-Adds / parameters of the registered models against the paper's figures
(128x128, batch 1; FlopCounterMode with the grid_sample formula; mesh up-sampling at its sparse cost)."""

import json

import pytest
import torch

from mobrecon.cli import main
from mobrecon.models import build
from mobrecon.models.costs import PAPER_COSTS, compare_with_paper, model_costs

# Entries whose residual is documented in docs/NETWORK.md (the paper leaves the detail out).
DOCUMENTED = {
    # 2D part params: 1.47M; the paper prints 1.4M for the same layers' Mult-Adds match (47.49M).
    ("mobrecon_densestack", "pose2d", "params"): 0.10,
    ("densestack_softargmax_pvl_dsconv", "pose2d", "params"): 0.10,
    ("densestack_heatmap_jointpool_pvl_dsconv", "pose2d", "params"): 0.10,
    # joint-wise pooling: 0.35M; how the paper interpolates heatmaps onto F_e is not given.
    ("densestack_heatmap_jointpool_pvl_dsconv", "lifting", "macs"): 0.15,
    # MobileNetV2 x0.5 trunks + the 1280->256 projection already hold 1.70M (module docstring).
    ("mobrecon_mobilenetstack", "encoder", "params"): 0.06,
}

MODELS = list(PAPER_COSTS)


def _close(ours: float, paper: float, tol: float) -> bool:
    if abs(ours / paper - 1) <= tol:
        return True
    # figures the paper prints as 0.xM are compared at that precision
    return paper < 1 and round(ours, 1) == paper


@pytest.mark.parametrize("name", MODELS)
def test_costs_match_paper(name):
    torch.manual_seed(0)
    costs = model_costs(build(name))
    parts = ("encoder", "pose2d", "lifting", "decoder", "joints")
    assert sum(costs[p]["macs"] for p in parts) == costs["macs"]
    assert sum(costs[p]["params"] for p in parts) == costs["params"]
    for r in compare_with_paper(name, costs):
        for kind in ("macs", "params"):
            tol = DOCUMENTED.get((name, r["part"], kind), 0.03)
            assert _close(r[kind], r[f"paper_{kind}"], tol), (name, r)


def test_upsampling_is_counted_at_its_sparse_cost():
    from mobrecon.models.flops import mac_report

    model = build("mobrecon_ghoststack")
    report = mac_report(model, torch.zeros(1, 3, 128, 128))
    ups = [b.up for b in model.decoder.blocks]
    assert all(u.nnz <= 3 * u.shape[0] for u in ups)  # each fine vertex blends at most 3 coarse ones
    for i, (u, c) in enumerate(zip(ups, (256, 256, 128, 64))):
        assert report.by_module[f"MobRecon.decoder.blocks.{i}.up"] == u.nnz * c  # not n_fine x n_coarse x c
    costs = model_costs(model)
    assert costs["macs"] == report.macs and "macs_dense_upsampling" not in costs
    assert costs["lifting"]["params"] == 49 * 21


def test_bench_json(capsys):
    assert main(["bench", "--model", "mobrecon_ghoststack", "--json", "--runs", "2", "--warmup", "1",
                 "--throughput-batch", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["threads"] for t in out["timings"]] == [1, 2] and out["backend"] == "torch"
    assert all(t["median_ms"] > 0 and t["images_per_s"] > 0 for t in out["timings"])
    for key in ("model", "macs", "params", "latency_ms"):
        assert key in out
    for part in ("encoder", "pose2d", "lifting", "decoder"):
        assert out[part]["macs"] > 0 and out[part]["params"] > 0
    assert out["model"] == "mobrecon_ghoststack" and out["latency_ms"] > 0


def test_bench_unknown_model_is_one_line(capsys):
    assert main(["bench", "--model", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'nope'" in err and "registered name" in err
