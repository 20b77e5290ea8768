"""The labelling teacher as a child process: MediaPipe Hands in its own environment.

The package never imports MediaPipe. :class:`TeacherProcess` starts
``teacher_worker.py`` (beside this file) with the teacher environment's interpreter
(:func:`find_teacher`: ``--teacher``, else ``$MOBRECON_TEACHER``, else ``.venv-teacher/bin/python``
in the repository or the current folder, made by ``make teacher``) and talks to it in JSON lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

WORKER = Path(__file__).resolve().parent / "teacher_worker.py"
TEACHER_ENV = "MOBRECON_TEACHER"
VENV_PYTHON = Path(".venv-teacher") / "bin" / "python"


class TeacherMissing(FileNotFoundError):
    """No teacher interpreter where one was looked for."""


class TeacherFailed(RuntimeError):
    """The worker stopped or answered out of protocol."""


def find_teacher(option: str | os.PathLike | None = None) -> Path:
    """The teacher environment's Python: ``option``, ``$MOBRECON_TEACHER``, or ``.venv-teacher/bin/python``
    in the repository this file belongs to or in the current folder. Raises :class:`TeacherMissing`."""
    if option or os.environ.get(TEACHER_ENV):
        p = Path(option or os.environ[TEACHER_ENV])
        if not p.is_file():
            how = "--teacher" if option else f"${TEACHER_ENV}"
            raise TeacherMissing(f"{how} {p}: no such Python interpreter (run `make teacher` to create .venv-teacher)")
        return p
    candidates = [Path(__file__).resolve().parents[3] / VENV_PYTHON, Path.cwd() / VENV_PYTHON]
    for p in candidates:
        if p.is_file():
            return p
    raise TeacherMissing(f"{candidates[0]}: no teacher environment; run `make teacher` (MediaPipe Hands in "
                         f".venv-teacher), or pass --teacher PYTHON")


class TeacherProcess:
    """MediaPipe Hands (static image mode) in a worker process; use as a context manager.

    After start: ``names`` (MediaPipe's 21 landmark names in its order), ``version``, ``teacher``
    (a description with the settings). :meth:`label` returns the worker's raw record of one image
    (see ``teacher_worker.py``).
    """

    def __init__(self, python: str | os.PathLike, min_detection_confidence: float = 0.3, model_complexity: int = 1,
                 max_hands: int = 2):
        self.cmd = [str(python), str(WORKER), "--min-detection-confidence", str(min_detection_confidence),
                    "--model-complexity", str(model_complexity), "--max-hands", str(max_hands)]
        self.proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> "TeacherProcess":
        self._log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("GLOG_minloglevel", "2")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, bufsize=1, env=env)
        ready = self._receive("starting")
        if not ready.get("ready"):
            raise TeacherFailed(f"teacher worker: unexpected first message {ready!r}")
        self.names, self.version, self.teacher = ready["landmarks"], ready["mediapipe"], ready["teacher"]
        return self

    def _receive(self, what: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=30)
            self._log.seek(0)
            tail = [ln for ln in self._log.read().splitlines() if ln.strip()][-1:]
            raise TeacherFailed(f"teacher worker ({self.cmd[0]}) stopped while {what} (exit code {code})"
                                + (f": {tail[0]}" if tail else ""))
        try:
            return json.loads(line)
        except ValueError:
            raise TeacherFailed(f"teacher worker: not a JSON line while {what}: {line[:200]!r}") from None

    def label(self, path: str | os.PathLike) -> dict:
        """The worker's record of one image (``ok``, ``width``, ``height``, ``hands`` or ``error``)."""
        self.proc.stdin.write(json.dumps({"path": str(path)}) + "\n")
        self.proc.stdin.flush()
        rec = self._receive(f"labelling {path}")
        if rec.get("path") != str(path):
            raise TeacherFailed(f"teacher worker answered for {rec.get('path')!r} instead of {path}")
        return rec

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
