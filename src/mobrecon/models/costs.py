"""Per-part Mult-Adds, parameters and latency of an assembled MobRecon model.

Parts follow the paper's tables: ``encoder`` (Table 1: the 2D encoding network without the
second stack's up path), ``pose2d`` (Table 2 "2D part": that up path plus the 2D pose head),
``lifting`` (Table 2 "2D-to-3D part": pose pooling plus PVL or the FC layer), ``decoder``
(Table 4: the 3D decoder) and ``joints`` (J_regressor @ vertices).

Mesh up-sampling blends 3 coarse vertices per fine vertex (barycentric weights); it is a gather
and a weighted sum (:class:`~mobrecon.models.decoder3d.MeshUpsample`), counted at nnz x channels,
as the paper's figures count it and as the exported graph runs it.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from mobrecon.timing import p90, time_calls

from .flops import count_params, mac_report

__all__ = ["model_costs", "measure_latency"]


def model_costs(model: nn.Module, input_size: int | None = None) -> dict:
    """Count one forward of ``model`` (a :class:`~mobrecon.models.mobrecon_net.MobRecon`) on a
    (1, 3, S, S) input. Returns a dict with ``macs``, ``params`` and per part ``{"macs", "params"}`` for encoder, pose2d, lifting, decoder, joints."""
    size = int(input_size or model.cfg.input_size)
    report = mac_report(model, torch.zeros(1, 3, size, size))
    root = type(model).__name__
    names = {id(m): f"{root}.{n}" if n else root for n, m in model.named_modules()}

    def macs_of(module: nn.Module | None) -> int:
        return 0 if module is None else report.by_module.get(names[id(module)], 0)

    map_part = list(model.encoder.map_part_modules())
    enc_all = macs_of(model.encoder)
    map_macs = sum(macs_of(m) for m in map_part)
    pooling = getattr(model, "pooling", None)
    parts = {
        "encoder": {"macs": enc_all - map_macs, "params": model.encoder.encoder_num_params()},
        "pose2d": {"macs": map_macs + macs_of(model.pose2d), "params": count_params(map_part + [model.pose2d])},
        "lifting": {"macs": macs_of(pooling) + macs_of(model.lifting), "params": count_params([model.lifting])},
        "decoder": {"macs": macs_of(model.decoder), "params": count_params([model.decoder])},
    }
    counted = enc_all + macs_of(model.pose2d) + macs_of(pooling) + macs_of(model.lifting) + macs_of(model.decoder)
    parts["joints"] = {"macs": report.macs - counted, "params": 0}
    return {
        "macs": report.macs,
        "params": report.params,
        **parts,
    }


@torch.no_grad()
def measure_latency(model: nn.Module, input_size: int = 128, batch: int = 1, warmup: int = 5,
                    runs: int = 30, threads: int | None = None) -> dict:
    """Median / p90 wall-clock milliseconds of eager ``model(x)`` (eval mode, no grad) on a
    random (batch, 3, S, S) input after ``warmup`` runs."""
    prev_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    was_training = model.training
    model.eval()
    try:
        x = torch.randn(batch, 3, input_size, input_size)
        times = time_calls(lambda: model(x), warmup, runs)
    finally:
        model.train(was_training)
        torch.set_num_threads(prev_threads)
    return {
        "median_ms": statistics.median(times),
        "p90_ms": p90(times),
        "runs": len(times),
        "threads": int(threads or prev_threads),
        "batch": batch,
    }


# The paper's published figures (Mult-Adds in millions, parameters in millions), keyed by the
# registered model that reproduces the row and the part (or "total") they describe.
PAPER_COSTS: dict[str, dict[str, tuple[float, float]]] = {
    "mobrecon_densestack": {"encoder": (373.0, 6.6), "pose2d": (47.5, 1.4), "lifting": (0.3, 0.001029),
                            "decoder": (19.5, 0.1), "total": (439.9, 8.1)},
    "mobrecon_ghoststack": {"encoder": (96.2, 5.0), "decoder": (19.5, 0.1), "total": (123.5, 5.3)},
    "mobrecon_resnet18stack": {"encoder": (2391.3, 25.2)},
    "mobrecon_mobilenetstack": {"encoder": (100.2, 1.7)},
    "densestack_heatmap_jointpool_pvl_dsconv": {"pose2d": (57.7, 1.4), "lifting": (0.4, 0.001029)},
    "densestack_softargmax_pvl_dsconv": {"pose2d": (57.7, 1.4), "lifting": (0.3, 0.001029)},
    "densestack_reg_pvl_dsconv": {"pose2d": (0.1, 0.1), "lifting": (0.3, 0.001029)},
    "densestack_mapreg_fc_dsconv": {"lifting": (3.2, 3.2)},
    "densestack_mapreg_pvl_spiralconv": {"decoder": (159.0, 1.0), "total": (579.4, 9.0)},
    "ghoststack_mapreg_pvl_spiralconv": {"decoder": (159.0, 1.0), "total": (263.1, 6.2)},
}


def compare_with_paper(name: str, costs: dict) -> list[dict]:
    """Rows ``{model, part, macs, params, paper_macs, paper_params, d_macs, d_params}`` (millions,
    relative differences) for every published figure of ``name``."""
    rows = []
    for part, (pm, pp) in PAPER_COSTS.get(name, {}).items():
        got = costs if part == "total" else costs[part]
        m, p = got["macs"] / 1e6, got["params"] / 1e6
        rows.append({"model": name, "part": part, "macs": m, "params": p, "paper_macs": pm,
                     "paper_params": pp, "d_macs": m / pm - 1, "d_params": p / pp - 1})
    return rows
