"""The core install without its extras: optional packages hidden from a child Python, the
predictor and `mobrecon reconstruct --no-overlays` still work, and what needs an extra says, in
one line, which `pip install "mobrecon[...]"` to run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mobrecon
from mobrecon.extras import EXTRA_OF, MissingExtraError, require

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "samples" / "hand_img-1842.jpg"

# A child Python in which the optional packages cannot be imported (as after `pip install mobrecon`);
# it runs the CLI calls in argv (a JSON list of argument lists) and prints each one's exit code and
# stderr, and which optional packages ended up imported.
CHILD = r"""
import contextlib, io, json, sys

HIDDEN = {"onnx", "onnxscript", "onnxruntime", "moderngl"}
for name in HIDDEN:  # what a missing package looks like: `import` raises ModuleNotFoundError, find_spec is None
    sys.modules[name] = None
from mobrecon.cli import main

runs = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    runs.append({"argv": argv, "rc": rc, "stderr": err.getvalue()})
try:
    import mobrecon
    mobrecon.load(backend="onnx", detector=None, handedness=None)
    runs.append({"api_onnx": "no error"})
except ImportError as e:
    runs.append({"api_onnx": type(e).__name__, "message": str(e)})
print(json.dumps({"runs": runs, "imported": sorted(m for m, v in sys.modules.items()
                                                  if m.split(".")[0] in HIDDEN and v is not None)}))
"""


def test_require_returns_the_module():
    assert require("json", "anything") is json


def test_require_names_the_extra_in_one_line():
    with pytest.raises(MissingExtraError) as e:
        require("mobrecon_no_such_package", "Doing a thing", extra="export")
    msg = str(e.value)
    assert msg.endswith('pip install "mobrecon[export]"') and "\n" not in msg
    assert isinstance(e.value, ImportError) and e.value.__cause__ is None


def test_a_broken_install_is_not_called_missing(tmp_path, monkeypatch):
    (tmp_path / "mobrecon_broken_pkg.py").write_text('raise ImportError("libEGL.so.1: cannot open shared object")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError, match=r"does not import \(libEGL.so.1: cannot open shared object\)"):
        require("mobrecon_broken_pkg", "Rendering", extra="render")


def test_every_optional_package_belongs_to_an_extra_of_pyproject():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, (extra, pypi) in EXTRA_OF.items():
        assert any(req.startswith(pypi) for req in extras[extra]), (module, extra)


def test_core_install_reconstructs_and_names_missing_extras(tmp_path):
    out = tmp_path / "out"
    calls = [
        ["reconstruct", str(PHOTO), "--no-overlays", "--quiet", "--out", str(out)],
        ["reconstruct", str(PHOTO), "--out", str(tmp_path / "with_overlays")],
        ["export", "--onnx", str(tmp_path / "m.onnx")],
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(mobrecon.__file__).parents[1])}  # this checkout's package
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(calls)], capture_output=True, text=True,
                       cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    core, overlays, export, api = report["runs"]
    assert core["rc"] == 0, core["stderr"]
    assert sorted(p.name for p in out.glob("[!.]*")) == ["hand_img-1842.json", "hand_img-1842.obj"]
    assert len(json.loads((out / "hand_img-1842.json").read_text())["joints3d"]) == 21
    for run, extra in ((overlays, "render"), (export, "export")):
        assert run["rc"] == 2
        lines = run["stderr"].strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in run["stderr"], run["stderr"]
        assert lines[0].endswith(f'pip install "mobrecon[{extra}]"'), lines[0]
    assert not (tmp_path / "with_overlays").exists() or not any((tmp_path / "with_overlays").iterdir())
    assert api["api_onnx"] == "MissingExtraError" and 'pip install "mobrecon[export]"' in api["message"]
    assert report["imported"] == []
