"""The `mobrecon` command table (mobrecon.cli): one module per command with `add_arguments` and
`run`, `mobrecon --help` listing every command without importing any, and the hand detector's
commands split out of `detect`: detect-data, detect-eval, detect-real (detect-train: in
test_detect_train.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mobrecon.cli
from mobrecon.cli import COMMANDS, build_parser, command_module, main

# the modules of the package that are not commands
HELPERS = {"__init__", "__main__", "common", "legacy"}


def test_every_command_is_a_module_and_every_module_a_command(capsys):
    modules = {p.stem for p in Path(mobrecon.cli.__file__).parent.glob("*.py")} - HELPERS
    assert modules == {name.replace("-", "_") for name in COMMANDS}
    parser = build_parser(*COMMANDS)  # every command's flags at once: none clash with argparse's own
    for name in COMMANDS:
        module = command_module(name)
        assert callable(module.add_arguments) and callable(module.run), name
        with pytest.raises(SystemExit) as e:
            parser.parse_args([name, "--help"])
        assert e.value.code == 0 and f"usage: mobrecon {name} " in capsys.readouterr().out


# A child Python: `mobrecon ARGS` with the help printed to a null stream; then which command
# modules and heavy libraries it imported.
CHILD = """
import contextlib, io, json, sys
from mobrecon.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps({"help": out.getvalue(), "imported": sorted(m for m in sys.modules if m.startswith("mobrecon.cli.")
                  or m in ("torch", "cv2", "numpy"))}))
"""


def _child(*args) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_help_lists_every_command_and_imports_none():
    r = _child("--help")
    assert all(f"\n    {name}" in r["help"] for name in COMMANDS), r["help"]
    assert r["imported"] == ["mobrecon.cli.common", "mobrecon.cli.legacy"]  # no command, no torch, no numpy


def test_a_command_imports_its_own_module_only():
    r = _child("detect", "--help")
    assert "--threshold" in r["help"]
    assert [m for m in r["imported"] if m.startswith("mobrecon.cli.")] == \
        ["mobrecon.cli.common", "mobrecon.cli.detect", "mobrecon.cli.legacy"]  # not detect_train, ...


def test_detect_keeps_only_its_own_flags():
    parser = build_parser("detect")
    args = parser.parse_args(["detect", "a.jpg", "--json", "--threshold", "0.3", "--device", "cpu"])
    assert args.images == ["a.jpg"] and args.threshold == 0.3
    for flag in (["--count", "3"], ["--config", "c.yaml"], ["--labels", "L"], ["--max-box", "250"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["detect", "a.jpg", *flag])


def test_detect_data_then_detect_eval(tmp_path, capsys):
    """detect-data writes a composite set (a rerun has nothing left to do); detect-eval scores
    the shipped detector on it."""
    comp = tmp_path / "comp"
    assert main(["detect-data", str(comp), "--count", "2", "--seed", "3", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"{comp}: 2 of 2 images")
    assert main(["detect-data", str(comp), "--count", "2", "--seed", "3", "--quiet"]) == 0
    assert "nothing left to do" in capsys.readouterr().out
    assert main(["detect-eval", str(comp), "--device", "cpu", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["data"] == str(comp) and result["images"] == 2 and 0 <= result["ap50"] <= 1
    assert result["detector"] == "shipped" and result["device"] == "cpu"


def test_detector_commands_bad_input_is_one_line(tmp_path, capsys):
    cases = [
        (["detect-data", str(tmp_path / "c"), "--count", "0"], "mobrecon detect-data: error: count must be positive"),
        (["detect-eval", str(tmp_path / "none")], f"mobrecon detect-eval: error: {tmp_path / 'none'}: no such "
                                                   "composite set"),
        (["detect-real", str(tmp_path / "r.npz"), "--labels", str(tmp_path), "--realdata", str(tmp_path)],
         f"mobrecon detect-real: error: {tmp_path / 'signers.npz'}: teacher labels missing"),
        (["detect-eval", str(tmp_path), "--threshold", "2"], "mobrecon detect-eval: error: --threshold must lie in"),
    ]
    for argv, line in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(line), (argv, err)
    for argv in (["detect-data", str(tmp_path / "c")], ["detect-real", str(tmp_path / "r.npz")], ["detect-eval"]):
        with pytest.raises(SystemExit) as e:  # a required argument missing: argparse's usage line, exit 2
            main(argv)
        assert e.value.code == 2
