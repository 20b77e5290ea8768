"""Measure Mult-Adds / parameters of every registered model against the paper's figures and print
the efficiency table of docs/NETWORK.md (Markdown).  Usage: python benchmarks/efficiency.py [--latency]"""

from __future__ import annotations

import argparse

import torch

from mobrecon.models import build, names
from mobrecon.models.costs import PAPER_COSTS, compare_with_paper, measure_latency, model_costs


def _params(ours: float, paper: float) -> str:
    if paper < 0.01:
        return f"{round(ours * 1e6):,} / {round(paper * 1e6):,}"
    return f"{ours:.3f}M / {paper}M"


def _diff(ours: float, paper: float) -> str:
    if paper < 1 and round(ours, 1) == round(paper, 1) and abs(ours / paper - 1) > 0.03:
        return "= at 0.1M"  # the paper prints these to one decimal
    return f"{100 * (ours / paper - 1):+.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", action="store_true", help="also time each model (PyTorch eager, batch 1)")
    args = ap.parse_args()
    torch.manual_seed(0)
    print("| model | part | Mult-Adds (ours / paper) | params (ours / paper) | difference |")
    print("|---|---|---|---|---|")
    for name in names():
        model = build(name).eval()
        costs = model_costs(model)
        for r in compare_with_paper(name, costs):
            print(f"| `{name}` | {r['part']} | {r['macs']:.2f}M / {r['paper_macs']}M | "
                  f"{_params(r['params'], r['paper_params'])} | "
                  f"{_diff(r['macs'], r['paper_macs'])} / {_diff(r['params'], r['paper_params'])} |")
        if args.latency:
            lat = measure_latency(model)
            print(f"| `{name}` | latency | {lat['median_ms']:.1f} ms median, batch 1, {lat['threads']} threads | | |")
        if name not in PAPER_COSTS:
            print(f"| `{name}` | total | {costs['macs'] / 1e6:.1f}M / - | {costs['params'] / 1e6:.3f}M / - | |")


if __name__ == "__main__":
    main()
