"""The 3D decoder's training step alone (issue 17): forward and backward of Decoder3D under bf16
autocast, its batch-major form (the eval / export form, run with gradients) against its
vertex-major training form, interleaved A/B so that a busy machine slows both alike.

    python benchmarks/decoder_train_speed.py --batch 64 --threads 2 --rounds 5

Run it with jemalloc preloaded as training does (``mobrecon.train.allocator``), or the kernel's
page faults on freed buffers take a share of the time. Prints the median, min and max of the
per-round medians in milliseconds per step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mobrecon.hand.load import hand_hierarchy
from mobrecon.hand.openhand import OpenHand
from mobrecon.models.decoder3d import Decoder3D


def batch_major(dec: Decoder3D, x: torch.Tensor) -> torch.Tensor:
    """(B, 49, C) -> (B, 778, 3) through the eval form's modules, whatever ``dec.training`` is."""
    for block in dec.blocks:
        x = block(x)
    return dec.head(x)


def vertex_major(dec: Decoder3D, x: torch.Tensor) -> torch.Tensor:
    """(B, 49, C) -> (B, 778, 3) through the training form."""
    return dec.forward_vertex_major(x.transpose(0, 1)).transpose(0, 1)


def step_ms(form, dec: Decoder3D, x: torch.Tensor, amp: bool) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t = time.perf_counter()
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        y = form(dec, x)
    y.float().square().mean().backward()
    sync()
    return (time.perf_counter() - t) * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="A/B rounds")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per form and round")
    ap.add_argument("--conv", default="dsconv")
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dec = Decoder3D(hand_hierarchy(OpenHand()), conv=a.conv).train().to(a.device)
    x = torch.randn(a.batch, dec.counts[-1], dec.config.in_ch, device=a.device, requires_grad=True)
    forms = {"batch-major": batch_major, "vertex-major": vertex_major}
    for form in forms.values():  # warm-up: oneDNN primitives, allocator
        for _ in range(2):
            step_ms(form, dec, x, not a.fp32)
    medians = {name: [] for name in forms}
    for _ in range(a.rounds):
        for name, form in forms.items():
            medians[name].append(statistics.median(step_ms(form, dec, x, not a.fp32) for _ in range(a.steps)))
    for name, m in medians.items():
        print(f"{name:13s} {statistics.median(m):7.1f} ms/step (rounds: min {min(m):.1f}, max {max(m):.1f}; "
              f"batch {a.batch}, {a.device}, {a.threads} threads, {'fp32' if a.fp32 else 'bf16 autocast'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
