"""The old forms of the commands split in this release (`detect --train/--eval/--make-data/
--make-real`, `handedness --train/--eval`) still work for one release: rewritten to the new
command, after one warning line on stderr naming it. Goes with mobrecon/cli/legacy.py."""

import sys

import pytest

import mobrecon.cli
from mobrecon.cli import main
from mobrecon.cli.legacy import new_form


@pytest.mark.parametrize("old,new", [
    (["detect", "--train", "--config", "c.yaml", "--out", "r"], ["detect-train", "--config", "c.yaml", "--out", "r"]),
    (["detect", "--out", "r", "--train", "--resume"], ["detect-train", "--out", "r", "--resume"]),
    (["detect", "--eval", "D", "--json", "--count", "5"], ["detect-eval", "D", "--json", "--count", "5"]),
    (["detect", "--device", "cpu", "--eval=D"], ["detect-eval", "D", "--device", "cpu"]),
    (["detect", "--make-data", "D", "--count", "9", "--max-box", "250"],
     ["detect-data", "D", "--count", "9", "--max-box", "250"]),
    (["detect", "--make-real", "F.npz", "--labels", "L"], ["detect-real", "F.npz", "--labels", "L"]),
    (["handedness", "--train", "--data", "a,b", "--out", "o"], ["handedness-train", "--data", "a,b", "--out", "o"]),
    (["handedness", "--eval", "D", "--json"], ["handedness-eval", "D", "--json"]),
])
def test_old_forms_become_the_new_commands(old, new, capsys):
    assert new_form(old) == new
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "deprecated" in err[0] and f"use mobrecon {new[0]}" in err[0], err


@pytest.mark.parametrize("argv", [
    ["detect", "a.jpg", "--json"], ["handedness", "a.jpg", "--box", "1,2,3,4"], ["train", "--config", "c.yaml"],
    ["detect-train", "--config", "c.yaml"], ["detect", "--help"], ["--help"], [],
])
def test_other_forms_are_left_alone(argv, capsys):
    assert new_form(argv) == argv and capsys.readouterr().err == ""


def test_an_old_form_runs_the_new_command(tmp_path, capsys):
    assert main(["detect", "--eval", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "mobrecon detect: warning: detect --eval DIR is deprecated and goes in the next release; use mobrecon "
        "detect-eval DIR (the other flags as before)",
        f"mobrecon detect-eval: error: {tmp_path / 'none'}: no such composite set"]
    assert main(["handedness", "--train"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "use mobrecon handedness-train" in err[0] and "give --data" in err[1]
    # two modes at once: one line, as before
    assert main(["detect", "--make-data", "D", "--train"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "mobrecon detect: error: give IMAGE files, or one of --make-data DIR, --make-real FILE, --train, --eval DIR"]


def test_old_training_form_restarts_as_the_new_command(monkeypatch, capsys):
    """Run from the shell, `detect --train` restarts (with jemalloc) as `detect-train`, so the
    warning is printed once."""
    class Restarted(Exception):
        pass

    def reexec(argv):
        raise Restarted(argv)

    monkeypatch.setattr(mobrecon.cli, "reexec_with_jemalloc", reexec)
    monkeypatch.setattr(sys, "argv", ["mobrecon", "detect", "--train", "--config", "c.yaml", "--quiet"])
    with pytest.raises(Restarted) as e:
        main()
    assert e.value.args[0] == ["detect-train", "--config", "c.yaml", "--quiet"]
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
