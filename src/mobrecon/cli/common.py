"""What the command modules share: :class:`UserError` (a problem with what the user asked for,
printed by :func:`mobrecon.cli.main` as one line on stderr, exit code 2), the parsing of a
comma-separated list of numbers, the one line for an image that could not be done, and the
printing of a scores record.

Light on purpose (the standard library only): ``mobrecon.cli`` imports it to build the parser.
"""

from __future__ import annotations

import json


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


def parse_numbers(text: str, n: int, flag: str) -> list[float]:
    """``n`` comma-separated numbers given to ``flag`` (e.g. ``--box x0,y0,x1,y1``)."""
    try:
        vals = [float(t) for t in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise UserError(f"{flag} {text!r}: expected {n} comma-separated numbers")
    return vals


def image_error(command: str, path, e: Exception) -> str:
    """The one line for an image that could not be done (the path named once)."""
    msg = str(e) if str(path) in str(e) else f"{path}: {e}"
    return f"mobrecon {command}: error: {msg}"


def print_record(record: dict, as_json: bool, width: int) -> None:
    """A scores record: one JSON line, or one ``key  value`` line per entry with the keys
    right-aligned to ``width`` characters."""
    print(json.dumps(record) if as_json else "\n".join(f"{k:>{width}s}  {v}" for k, v in record.items()))
