"""The ``mobrecon`` command line: :func:`main` and the table of commands.

Each command is a module of this package named after it (``detect-train`` ->
``mobrecon/cli/detect_train.py``) with two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None   # its flags
    def run(args: argparse.Namespace) -> int                      # does it; the exit code

and one line in :data:`COMMANDS` (its name and the summary ``mobrecon --help`` lists). A command
module imports what it needs at its top, torch and all; :func:`main` imports only the module of
the command it runs (by name, from the table), so ``mobrecon --help`` lists every command
without importing any of them and stays fast.

Errors: a :class:`~mobrecon.cli.common.UserError` (or an unreadable file, a bad value, a refused
pickle, a missing optional package) from a command is one line on stderr and exit code 2, never a
traceback. ``train`` and ``detect-train`` run from the shell start again with jemalloc
(:func:`mobrecon.train.allocator.reexec_with_jemalloc`). The old forms of the commands split in
this release (``detect --train``, ...) still work, with a warning (:mod:`mobrecon.cli.legacy`).
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from mobrecon.cli.common import UserError
from mobrecon.cli.legacy import new_form
from mobrecon.extras import MissingExtraError
from mobrecon.train.allocator import reexec_with_jemalloc
from mobrecon.version import __version__

__all__ = ["COMMANDS", "Command", "UserError", "build_parser", "command_module", "main"]


@dataclass(frozen=True)
class Command:
    """A ``mobrecon`` command: ``help``, its line in ``mobrecon --help``; ``training``: a
    training run, restarted with jemalloc when run from the shell."""

    help: str
    training: bool = False


COMMANDS: dict[str, Command] = {
    "hand": Command("pose the hand model, write a mesh and a render, or print its facts"),
    "bench": Command("count Mult-Adds and parameters per part and time a model on a backend"),
    "export": Command("export a model to ONNX (fp32, or int8 with calibration), checked against PyTorch"),
    "synth": Command("generate a synthetic hand data set (uniform poses x viewpoints)"),
    "train": Command("train a model (stage 1: 2D pose; stage 2: the whole network)", training=True),
    "eval": Command("score a model on a data set (MPJPE, PA-MPJPE, AUC, F@5/15, acceleration)"),
    "reconstruct": Command("reconstruct hands from photos (mesh, joints, overlays)"),
    "detect": Command("find hands in photos (boxes, scores, handedness)"),
    "detect-data": Command("generate composite images (rendered hands, left and right, with their boxes) to train "
                           "and test the detector"),
    "detect-real": Command("cache the real training photos (letterboxed, with their hand boxes) for the detector"),
    "detect-train": Command("train the hand detector", training=True),
    "detect-eval": Command("score the hand detector on a composite set (AP at IoU 0.5)"),
    "detect-calibrate": Command("choose the hand detector's score threshold on validation images (best F1)"),
    "handedness": Command("say whether the hand in a photo is a left or a right hand"),
    "handedness-train": Command("fit the handedness head on a model's encoder (generated sets)"),
    "handedness-eval": Command("score the handedness head on generated sets (accuracy, as stored and mirrored)"),
    "label": Command("label photos with the teacher (MediaPipe Hands, in .venv-teacher: `make teacher`): "
                     "2D keypoints, handedness, world landmarks per hand"),
    "fit": Command("fit OpenHand to a teacher's labels (mobrecon label): pseudo-meshes"),
}


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (imported now)."""
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


def build_parser(*commands: str) -> argparse.ArgumentParser:
    """The ``mobrecon`` parser: every command with its summary; the commands named in
    ``commands`` with their arguments too (their modules imported, the others not)."""
    p = argparse.ArgumentParser(prog="mobrecon", description="Mobile-friendly 3D hand mesh reconstruction.")
    p.add_argument("--version", action="version", version=f"mobrecon {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        parser = sub.add_parser(name, help=command.help, description=command.help)
        if name in commands:
            command_module(name).add_arguments(parser)
    return p


def _command_in(words: Sequence[str]) -> str | None:
    """The command named in ``words``: the first word not a flag (the top-level flags, -h and
    --version, take no value)."""
    return next((w for w in words if not w.startswith("-")), None)


def _error(command: str | None, e: Exception) -> int:
    print(f"mobrecon {command}: error: {' '.join(str(e).split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mobrecon ARGV...`` (default: the process's arguments); returns the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        words = new_form(words)  # detect --train ... -> detect-train ... (one warning line)
    except UserError as e:
        return _error(_command_in(words), e)
    args = build_parser(_command_in(words)).parse_args(words)  # only this command's module is imported
    if argv is None and COMMANDS[args.command].training:  # a training run from the shell: a faster allocator
        reexec_with_jemalloc(words)
    try:
        return command_module(args.command).run(args)
    except (UserError, OSError, ValueError, RuntimeError, pickle.UnpicklingError, MissingExtraError) as e:
        # OSError: a file that cannot be read or written (FileNotFoundError among them);
        # UnpicklingError: a refused pickle (a global outside the allow-list); MissingExtraError:
        # an optional dependency not installed (the line names the pip install to run)
        return _error(args.command, e)
