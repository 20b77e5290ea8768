"""The old forms of the commands split in this release, working for one more release: ``mobrecon
detect --train ...`` runs as ``mobrecon detect-train ...`` (``--eval DIR`` as ``detect-eval DIR``,
``--make-data DIR`` as ``detect-data DIR``, ``--make-real FILE`` as ``detect-real FILE``;
``handedness --train`` / ``--eval DIR`` as ``handedness-train`` / ``handedness-eval DIR``), after
one line on stderr naming the new command. The other flags are passed on as they are (the new
commands kept their names). To be removed in the next release, with ``tests/test_cli_legacy.py``.
"""

from __future__ import annotations

import argparse
import sys

from mobrecon.cli.common import UserError

# old command -> {its mode flag: (the new command, the metavar of the flag's value, which becomes
# the new command's first argument; None: a flag without a value)}
MOVED: dict[str, dict[str, tuple[str, str | None]]] = {
    "detect": {"--make-data": ("detect-data", "DIR"), "--make-real": ("detect-real", "FILE"),
               "--train": ("detect-train", None), "--eval": ("detect-eval", "DIR")},
    "handedness": {"--train": ("handedness-train", None), "--eval": ("handedness-eval", "DIR")},
}


def new_form(argv: list[str]) -> list[str]:
    """``argv`` with an old form rewritten to the new command (and the warning printed);
    anything else unchanged. Two modes at once is a UserError, as it was."""
    i = next((k for k, w in enumerate(argv) if not w.startswith("-")), None)  # the command's place
    if i is None or argv[i] not in MOVED:
        return argv
    old, modes = argv[i], MOVED[argv[i]]
    p = argparse.ArgumentParser(prog=f"mobrecon {old}", add_help=False, allow_abbrev=False)
    for flag, (_, metavar) in modes.items():
        if metavar:
            p.add_argument(flag, metavar=metavar)
        else:
            p.add_argument(flag, action="store_true")
    given, rest = p.parse_known_args(argv[i + 1:])
    values = {flag: getattr(given, flag.lstrip("-").replace("-", "_")) for flag in modes}
    chosen = [flag for flag, value in values.items() if value not in (None, False)]
    if not chosen:
        return argv
    if len(chosen) > 1:
        raise UserError("give IMAGE files, or one of "
                        + ", ".join(f"{f} {m}" if m else f for f, (_, m) in modes.items()))
    flag = chosen[0]
    new, metavar = modes[flag]
    value = f" {metavar}" if metavar else ""
    print(f"mobrecon {old}: warning: {old} {flag}{value} is deprecated and goes in the next release; use mobrecon "
          f"{new}{value} (the other flags as before)", file=sys.stderr)
    return [*argv[:i], new, *([values[flag]] if metavar else []), *rest]
