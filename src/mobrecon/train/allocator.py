"""A faster memory allocator for CPU training: jemalloc, preloaded when the system has it.

PyTorch's CPU tensors come from the C library's ``malloc``; glibc hands every large buffer
back to the kernel when it is freed and the next step faults it in again, page by page. In a
training step of GhostStack on this project's 2-core box that was 40 % of the CPU time spent
in the kernel (``/proc/PID/stat``: 38 s system against 54 s user); with jemalloc told never to
return freed memory (``dirty_decay_ms:-1``) it was 2 %. An allocator has to be chosen before
the process starts, so :func:`reexec_with_jemalloc` starts the command again with
``LD_PRELOAD`` set; ``MOBRECON_ALLOCATOR=system`` keeps the C library's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CANDIDATES = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
              "/usr/lib64/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2", "/usr/local/lib/libjemalloc.so.2")
CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def find_jemalloc() -> str | None:
    """The path of the system's jemalloc (Debian: ``apt-get install libjemalloc2``), or None."""
    return next((p for p in CANDIDATES if Path(p).is_file()), None)


def jemalloc_env(environ=None) -> dict | None:
    """The environment a process should start with to run on the system's configured jemalloc
    (``LD_PRELOAD`` + ``MALLOC_CONF``, the user's own kept), or None where there is nothing to
    change: not Linux, turned off (``MOBRECON_ALLOCATOR=system``), not installed, or already
    preloaded and configured."""
    environ = os.environ if environ is None else environ
    if sys.platform != "linux" or environ.get("MOBRECON_ALLOCATOR", "jemalloc") != "jemalloc":
        return None
    lib = find_jemalloc()
    preload = environ.get("LD_PRELOAD", "")
    if lib is None or ("jemalloc" in preload and "MALLOC_CONF" in environ):
        return None
    # jemalloc preloaded by hand without MALLOC_CONF returns freed memory like glibc: start again
    # with the configuration (the kernel time it saves is the reason to use jemalloc at all)
    return dict(environ, MALLOC_CONF=environ.get("MALLOC_CONF", CONF),
                LD_PRELOAD=preload if "jemalloc" in preload else ":".join(x for x in (lib, preload) if x))


def reexec_with_jemalloc(argv: list[str]) -> None:
    """Replace this process by ``python -m mobrecon.cli *argv`` with jemalloc preloaded and
    configured (:func:`jemalloc_env`), when that changes anything; otherwise return and carry on."""
    env = jemalloc_env()
    if env is not None:
        os.execve(sys.executable, [sys.executable, "-m", "mobrecon.cli", *argv], env)
