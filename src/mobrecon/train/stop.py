"""Stopping a training run cleanly: SIGINT / SIGTERM set a flag that the loop reads after each
step, so it can write its checkpoint and return instead of dying mid-step."""

from __future__ import annotations

import signal
import threading


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checkpoints and stops after the current step."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._set)
        return self

    def _set(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
