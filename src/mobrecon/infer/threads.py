"""CPU thread settings for inference: how many threads, and whether idle ones spin.

Measured on this 2-core box (``benchmarks/pipeline_speed.py --threads-check``; figures in the
README), ``predict`` with the box given, with and without one competing busy process: what
collapses is *spinning* -- threads that busy-wait for a descheduled peer (ONNX Runtime with
spinning, 2 threads: 2.1x slower than without on the otherwise shared machine, 2.2x with the
busy process; PyTorch eager, whose OpenMP threads spin, 2 threads: 4x slower than 1). Two ONNX
Runtime threads that do not spin were the fastest in both cases. So:

- ONNX Runtime: ``min(2, cores)`` intra-op threads, idle threads do not spin
  (``session.intra_op.allow_spinning = 0``);
- PyTorch eager (the fallback): one thread (OpenMP's wait policy is fixed when torch starts;
  ``OMP_WAIT_POLICY=PASSIVE`` in the environment is what stops its spinning).

Users set another count with ``threads=`` (``mobrecon.load``, ``--threads``) or
``$MOBRECON_THREADS``; ``MOBRECON_SPIN=1`` allows ONNX Runtime's threads to spin.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_THREADS", "inference_threads", "session_options", "spinning"]

DEFAULT_THREADS = {"onnx": 2, "torch": 1}  # at most; never more than the machine's cores


def inference_threads(threads: int | None = None, backend: str = "onnx") -> int:
    """``threads`` when given, else ``$MOBRECON_THREADS``, else ``DEFAULT_THREADS[backend]``
    (capped at the number of cores); >= 1."""
    if threads is None:
        env = os.environ.get("MOBRECON_THREADS", "").strip()
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise ValueError(f"MOBRECON_THREADS={env!r}: not a whole number of threads") from None
        else:
            threads = min(DEFAULT_THREADS[backend], os.cpu_count() or 1)
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return int(threads)


def spinning() -> bool:
    """Whether ONNX Runtime's idle intra-op threads may spin (``MOBRECON_SPIN=1``; default no)."""
    return os.environ.get("MOBRECON_SPIN", "0").strip() not in ("", "0", "false", "no")


def session_options(threads: int | None = None):
    """``onnxruntime.SessionOptions`` for one CPU inference session: ``inference_threads(threads)``
    intra-op threads, one inter-op thread, spinning as :func:`spinning` says, errors-only logging."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = inference_threads(threads)
    so.inter_op_num_threads = 1
    spin = "1" if spinning() else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return so
