"""The built wheel, installed as a user would: into a fresh venv that already has the pinned
CPU torch, which the install must leave alone; then `mobrecon reconstruct` on a sample photo,
run from outside the source tree.

Slow (a venv, torch from the local wheel, the package's dependencies: a minute or more), so it
runs only with MOBRECON_WHEEL_TEST=1, which .ci/run sets (`make test-wheel` runs it alone).
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the Makefile's pin: the CPU build pip takes from the machine's disk
PHOTO = ROOT / "samples" / "hand_img-1842.jpg"
# torch's version and its dist-info folder's inode and mtime: a reinstall changes them
TORCH_DIST = ("import importlib.metadata as m, os; d = m.distribution('torch'); st = os.stat(d._path); "
              "print(d.version, d._path, st.st_ino, st.st_mtime_ns)")

pytestmark = [pytest.mark.wheel,
              pytest.mark.skipif(os.environ.get("MOBRECON_WHEEL_TEST") != "1",
                                 reason="slow (fresh venv + wheel install); set MOBRECON_WHEEL_TEST=1 to run")]


def _clean_env() -> dict:
    """The environment without anything that would let the source tree or the dev venv leak in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(cmd, cwd, timeout=900) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the project's packaging files and src/ (so that the build
    leaves nothing in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, src], cwd=src)
    (whl,) = dist.glob("mobrecon-*.whl")
    return whl


def test_wheel_holds_weights_assets_and_types(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"mobrecon/{p.relative_to(ROOT / 'src' / 'mobrecon').as_posix()}"
                for pattern in ("weights/*.pt", "assets/*", "data/splits/*.txt")
                for p in (ROOT / "src" / "mobrecon").glob(pattern)}
    assert len(expected) >= 8 and expected <= names, sorted(expected - names)
    assert "mobrecon/py.typed" in names
    assert not any(n.startswith(("tests/", "samples/")) for n in names)


def test_fresh_venv_install_keeps_torch_and_reconstructs(wheel, tmp_path):
    venv = tmp_path / "venv"
    bin_ = venv / "bin"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    _run([bin_ / "python", "-m", "pip", "install", "-q", TORCH], cwd=tmp_path)
    torch_before = _run([bin_ / "python", "-c", TORCH_DIST], cwd=tmp_path).stdout

    install = _run([bin_ / "python", "-m", "pip", "install", wheel], cwd=tmp_path)
    assert _run([bin_ / "python", "-c", TORCH_DIST], cwd=tmp_path).stdout == torch_before  # not reinstalled
    installed = [ln for ln in install.stdout.splitlines() if ln.startswith("Successfully installed")]
    assert installed and not any(p.startswith("torch-") for p in installed[0].split()[2:]), installed
    _run([bin_ / "python", "-m", "pip", "check"], cwd=tmp_path)

    work = tmp_path / "work"  # outside the source tree; the photo copied in
    work.mkdir()
    photo = shutil.copy2(PHOTO, work / PHOTO.name)
    code = ("import mobrecon, torch; p = mobrecon.load(); "
            "print(mobrecon.__file__, torch.__version__, p.detector is not None, p.handedness is not None)")
    where = _run([bin_ / "python", "-c", code], cwd=work).stdout.split()
    assert Path(where[0]).is_relative_to(venv), where  # the wheel's copy, not the checkout
    assert where[1:] == [TORCH.split("==")[1] + "+cpu", "True", "True"], where  # shipped detector and head found

    r = _run([bin_ / "mobrecon", "reconstruct", photo, "--no-detect", "--no-overlays", "--out", "out"], cwd=work)
    assert "reconstructed 1 of 1" in r.stdout, r.stdout
    result = json.loads((work / "out" / f"{PHOTO.stem}.json").read_text())
    assert len(result["joints3d"]) == 21 and result["num_vertices"] == 778
    assert "p_left" in result  # the shipped handedness head ran
    assert (work / "out" / f"{PHOTO.stem}.obj").stat().st_size > 10_000

    # overlays need the render extra, which the core install lacks: one line naming it
    r = subprocess.run([bin_ / "mobrecon", "reconstruct", photo, "--out", "out2"], cwd=work, env=_clean_env(),
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith('pip install "mobrecon[render]"'), r.stderr
