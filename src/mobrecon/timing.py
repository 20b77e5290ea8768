"""Wall-clock timing of repeated calls, the one loop behind every latency figure
(:func:`mobrecon.models.costs.measure_latency`, :func:`mobrecon.infer.backends.bench_runner`,
``benchmarks/``): a few untimed warm-up calls, then each timed call in milliseconds."""

from __future__ import annotations

import time
from typing import Callable


def time_calls(fn: Callable[[], object], warmup: int = 5, runs: int = 30) -> list[float]:
    """Milliseconds of each of ``runs`` (at least 1) calls of ``fn()``, after ``warmup`` untimed ones."""
    for _ in range(max(0, int(warmup))):
        fn()
    times = []
    for _ in range(max(1, int(runs))):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def p90(times: list[float]) -> float:
    """The 90th percentile of ``times`` (the nearest-rank value of the sorted list)."""
    s = sorted(times)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
