"""CPU thread settings for inference: how many threads, and whether idle ones spin.

Measured on this 2-core box with one competing busy process (``benchmarks/pipeline_speed.py
--threads-check``, figures in the README): two intra-op threads that spin while waiting for a
descheduled peer lose several times what they gain on a quiet machine, while one thread only
shares its core. So inference defaults to **one thread** and ONNX Runtime's intra-op threads
do not spin (``session.intra_op.allow_spinning = 0``; with one thread there is nothing to spin
for anyway). Users set another count with ``threads=`` (``mobrecon.load``, ``--threads``) or
the ``MOBRECON_THREADS`` environment variable; spinning comes back with ``MOBRECON_SPIN=1``
(faster by a little on an otherwise idle machine with several threads). For the PyTorch
fallback, OpenMP's wait policy is read when torch starts: ``OMP_WAIT_POLICY=PASSIVE`` in the
environment before Python starts is what keeps its threads from spinning.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_THREADS", "inference_threads", "session_options", "spinning"]

DEFAULT_THREADS = 1


def inference_threads(threads: int | None = None) -> int:
    """``threads`` when given, else ``$MOBRECON_THREADS``, else ``DEFAULT_THREADS``; >= 1."""
    if threads is None:
        env = os.environ.get("MOBRECON_THREADS", "").strip()
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise ValueError(f"MOBRECON_THREADS={env!r}: not a whole number of threads") from None
        else:
            threads = DEFAULT_THREADS
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
