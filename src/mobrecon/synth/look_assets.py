"""The look cache: openly licensed photos and HDR environment maps for the generator.

:func:`fetch` downloads the packages that carry them from the ordinary registries, checks each
file's licence, and prepares them into a cache folder (not part of the repository)::

    CACHE/downloads/          the packages as downloaded (kept, so a re-run does not re-fetch)
    CACHE/backgrounds/*.jpg   photos, RGB, shorter side <= 768 px
    CACHE/envmaps/*.npy       environment maps, float16 linear RGB, (H, 2H, 3), H <= 256
    CACHE/index.json          what is there, with per-file source, author and licence

Sources (all CC0 or CC-BY; anything else is left out):

* PyPI ``scikit-image==0.25.2`` wheel, ``skimage/data``: the photos and textures its own
  docstrings mark CC0 or public domain (checked in the wheel's ``_fetchers.py``);
* Debian ``lomiri-wallpapers-16.04``: the files whose DEP-5 ``copyright``
  stanza says CC0-1.0 or CC-BY-3.0/4.0 (the CC-BY-SA ones are skipped);
* Debian ``blender-data``: ``studiolights/world/*.exr`` (its licence.txt: CC0, Poly Haven);
* npm ``@pmndrs/assets``: ``hdri/*.exr.js`` (base64 EXR; package licence CC0, Poly Haven).

Reading EXR needs the ``openexr`` package (``pip install openexr``); without it the maps are
skipped with one note and only photos are prepared. :func:`load_index` reads the cache back
(``None`` when absent). The cache folder: ``$MOBRECON_LOOK_CACHE``, else ``~/.cache/mobrecon/look``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from mobrecon.io_utils import atomic_path, atomic_write_text

__all__ = ["default_cache", "fetch", "load_index", "SOURCES"]

SKIMAGE_WHEEL = "scikit-image==0.25.2"
DEBIAN_WALLPAPERS = ("lomiri-wallpapers-16.04",)  # -20.04 has only CC-BY-SA files
DEBIAN_HDRI = "blender-data"
NPM_HDRI = "@pmndrs/assets@1.7.0"
SOURCES = ("skimage", "wallpapers", "blender", "pmndrs")
OPEN_LICENCES = ("CC0-1.0", "CC-BY-4.0", "CC-BY-3.0")

# skimage/data files usable as backgrounds -> (fetcher function whose docstring states the
# licence, title, author). Persons (camera.png shows hands), microscopy and diagrams are left out.
_SKIMAGE = {
    "coffee.png": ("coffee", "Coffee cup", "Rachel Michetti"),
    "chelsea.png": ("chelsea", "Chelsea the cat", "Stefan van der Walt"),
    "brick.png": ("brick", "Bricks25 texture", "CC0Textures"),
    "grass.png": ("grass", "Grass texture", "linolafett"),
    "gravel.png": ("gravel", "Gravel04 texture", "CC0Textures"),
    "rocket.jpg": ("rocket", "Rocket launch", "SpaceX"),
}

MAX_PHOTO_SIDE = 768   # shorter side of a prepared photo
MAX_MAP_HEIGHT = 256


def default_cache() -> Path:
    return Path(os.environ.get("MOBRECON_LOOK_CACHE") or Path.home() / ".cache" / "mobrecon" / "look")


def load_index(cache: str | os.PathLike | None = None) -> dict | None:
    """The cache's index (``backgrounds`` and ``envmaps``: lists of entries with ``file``
    (absolute), ``source``, ``title``, ``author``, ``licence``), or None when there is none."""
    cache = Path(cache) if cache else default_cache()
    path = cache / "index.json"
    if not path.is_file():
        return None
    try:
        index = json.loads(path.read_text())
        for kind in ("backgrounds", "envmaps"):
            for e in index[kind]:
                e["file"] = str(cache / e["file"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a look-cache index ({e}); run `mobrecon synth --fetch-look` again") from None
    return index


# ----------------------------------------------------------------------------------------------
# downloading
# ----------------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        msg = " ".join((r.stderr or r.stdout).split())[-300:]
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {msg}")


def _download(kind: str, name: str, dl: Path) -> Path:
    """Fetch one package into ``dl`` (unless there already); returns the file."""
    dl.mkdir(parents=True, exist_ok=True)
    if kind == "pypi":
        pkg, ver = name.split("==")
        pat = f"{pkg.replace('-', '_')}-{ver}-*.whl"
        if not list(dl.glob(pat)):
            _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", name, "-d", str(dl)], dl)
    elif kind == "deb":
        pat = f"{name}_*.deb"
        if not list(dl.glob(pat)):
            _run(["apt-get", "download", name], dl)
    else:  # npm
        pkg, ver = name.rsplit("@", 1)
        pat = f"{pkg.lstrip('@').replace('/', '-')}-{ver}.tgz"
        if not list(dl.glob(pat)):
            _run(["npm", "pack", "--silent", name], dl)
    found = sorted(dl.glob(pat))
    if not found:
        raise RuntimeError(f"downloading {name} left no {pat} in {dl}")
    return found[-1]


def _deb_extract(deb: Path, dest: Path) -> Path:
    if not dest.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=dest.parent))
        _run(["dpkg-deb", "-x", str(deb), str(tmp)], dest.parent)
        tmp.rename(dest)
    return dest


# ----------------------------------------------------------------------------------------------
# licences
# ----------------------------------------------------------------------------------------------


def dep5_licences(text: str) -> dict[str, tuple[str, str]]:
    """A Debian machine-readable ``copyright`` file -> {file pattern: (licence, copyright)}."""
    out = {}
    for para in re.split(r"\n\s*\n", text):
        fm = re.search(r"^Files:\s*(.+?)(?=^\S|\Z)", para, re.M | re.S)
        lm = re.search(r"^License:\s*(\S+)", para, re.M)
        cm = re.search(r"^Copyright:\s*(.+?)(?=^\S|\Z)", para, re.M | re.S)
        if fm and lm:
            for pat in fm.group(1).split():
                out[pat] = (lm.group(1), " ".join(cm.group(1).split()) if cm else "")
    return out


def _skimage_licence(fetchers_src: str, func: str) -> str | None:
    """'CC0-1.0' / 'public domain' as the docstring of ``def func()`` in skimage's
    ``_fetchers.py`` states it, else None."""
    m = re.search(rf"^def {func}\(\):\n(.*?)(?=^def )", fetchers_src, re.M | re.S)
    if not m:
        return None
    doc = " ".join(m.group(1).split())
    if re.search(r"\bCC0\b|CC-0", doc):
        return "CC0-1.0"
    if re.search(r"public domain", doc, re.I):
        return "public domain"
    return None


# ----------------------------------------------------------------------------------------------
# preparing
# ----------------------------------------------------------------------------------------------


def _save_photo(data: bytes, dest: Path) -> bool:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or min(img.shape[:2]) < 64:
        return False
    s = MAX_PHOTO_SIDE / min(img.shape[:2])
    if s < 1:
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 93])
    with atomic_path(dest) as tmp:
        tmp.write_bytes(buf.tobytes())
    return bool(ok)


def _read_exr(data: bytes):
    """EXR bytes -> (H, W, 3) float32 linear RGB (needs the ``openexr`` package)."""
    import OpenEXR  # optional dependency: checked by fetch() before any map is read

    with tempfile.NamedTemporaryFile(suffix=".exr") as fh:
        fh.write(data)
        fh.flush()
        with OpenEXR.File(fh.name) as f:
            ch = f.channels()
            if "RGB" in ch:
                rgb = ch["RGB"].pixels
            else:
                rgb = np.stack([ch[c].pixels for c in ("R", "G", "B")], -1)
    return np.asarray(rgb, np.float32)


def _save_map(data: bytes, dest: Path) -> bool:
    rad = _read_exr(data)
    if rad.ndim != 3 or rad.shape[2] < 3 or rad.shape[1] != 2 * rad.shape[0]:
        return False
    rad = np.nan_to_num(rad[..., :3], nan=0.0, posinf=6e4, neginf=0.0).clip(0.0, 6e4)
    if rad.shape[0] > MAX_MAP_HEIGHT:
        rad = cv2.resize(rad, (2 * MAX_MAP_HEIGHT, MAX_MAP_HEIGHT), interpolation=cv2.INTER_AREA)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, rad.astype(np.float16))
    return True


def fetch(cache: str | os.PathLike | None = None, sources=SOURCES, log=print) -> dict:
    """Download and prepare the look assets into ``cache`` (see the module docstring); returns
    the index written to ``cache/index.json``. A source that cannot be fetched is reported in
    one line and skipped; files already prepared are kept."""
    cache = Path(cache) if cache else default_cache()
    dl, bgd, envd = cache / "downloads", cache / "backgrounds", cache / "envmaps"
    for d in (dl, bgd, envd):
        d.mkdir(parents=True, exist_ok=True)
    backgrounds, envmaps = [], []
    try:
        import OpenEXR  # noqa: F401
        have_exr = True
    except ImportError:
        have_exr = False
        old = load_index(cache) if (cache / "index.json").is_file() else None
        envmaps = [dict(e, file=str(Path(e["file"]).relative_to(cache))) for e in (old or {}).get("envmaps", [])
                   if Path(e["file"]).is_file()]  # maps prepared earlier are kept
        log("note: the `openexr` package is not installed (pip install openexr): no new HDR maps"
            f"{f' ({len(envmaps)} prepared earlier kept)' if envmaps else ''}")

    def add(entries, dest: Path, source: str, title: str, author: str, licence: str):
        entries.append(dict(file=str(dest.relative_to(cache)), source=source, title=title, author=author,
                            licence=licence))

    for src in sources:
        try:
            if src == "skimage":
                whl = _download("pypi", SKIMAGE_WHEEL, dl)
                with zipfile.ZipFile(whl) as z:
                    fetchers = z.read("skimage/data/_fetchers.py").decode()
                    for fname, (func, title, author) in _SKIMAGE.items():
                        lic = _skimage_licence(fetchers, func)
                        if lic is None:
                            log(f"skipped skimage/data/{fname}: its licence is not stated as CC0/public domain")
                            continue
                        dest = bgd / f"skimage_{Path(fname).stem}.jpg"
                        if dest.is_file() or _save_photo(z.read(f"skimage/data/{fname}"), dest):
                            add(backgrounds, dest, f"PyPI {SKIMAGE_WHEEL}, skimage/data/{fname}", title, author, lic)
            elif src == "wallpapers":
                for pkg in DEBIAN_WALLPAPERS:
                    root = _deb_extract(_download("deb", pkg, dl), dl / pkg)
                    lic = dep5_licences((root / f"usr/share/doc/{pkg}/copyright").read_text())
                    for f in sorted((root / "usr/share/backgrounds").glob("*.jpg")):
                        key = next((k for k in lic if k.endswith("/" + f.name) or k == f.name), None)
                        licence, holder = lic.get(key, ("unknown", ""))
                        if licence not in OPEN_LICENCES:
                            log(f"skipped {pkg}: {f.name} (licence {licence})")
                            continue
                        dest = bgd / f"lomiri_{f.stem}.jpg"
                        if dest.is_file() or _save_photo(f.read_bytes(), dest):
                            add(backgrounds, dest, f"Debian {pkg}", f.stem.split("_by_")[0], holder, licence)
            elif src == "blender" and have_exr:
                root = _deb_extract(_download("deb", DEBIAN_HDRI, dl), dl / DEBIAN_HDRI)
                world = root / "usr/share/blender/datafiles/studiolights/world"
                if "CC0" not in (world / "license.txt").read_text():
                    raise RuntimeError(f"{world}/license.txt does not say CC0")
                for f in sorted(world.glob("*.exr")):
                    dest = envd / f"blender_{f.stem}.npy"
                    if dest.is_file() or _save_map(f.read_bytes(), dest):
                        add(envmaps, dest, f"Debian {DEBIAN_HDRI}, studiolights/world/{f.name}", f.stem,
                            "Greg Zaal (Poly Haven)", "CC0-1.0")
            elif src == "pmndrs" and have_exr:
                tgz = _download("npm", NPM_HDRI, dl)
                with tarfile.open(tgz) as t:
                    if "CC0 1.0 Universal" not in t.extractfile("package/LICENSE").read().decode():
                        raise RuntimeError(f"{tgz}: package/LICENSE is not CC0")
                    for m in sorted(t.getmembers(), key=lambda m: m.name):
                        if not re.fullmatch(r"package/hdri/\w+\.exr\.js", m.name):
                            continue
                        name = Path(m.name).name[: -len(".exr.js")]
                        dest = envd / f"pmndrs_{name}.npy"
                        if not dest.is_file():
                            js = t.extractfile(m).read().decode()
                            b64 = js.split("base64,", 1)[1].split("'", 1)[0]
                            if not _save_map(base64.b64decode(b64), dest):
                                log(f"skipped {m.name}: not an equirectangular map")
                                continue
                        add(envmaps, dest, f"npm {NPM_HDRI}, {m.name[len('package/'):]}", name, "Poly Haven", "CC0-1.0")
        except Exception as e:  # noqa: BLE001 - one source failing must not stop the others
            log(f"skipped source {src}: {' '.join(str(e).split())[:300]}")
    index = {"backgrounds": backgrounds, "envmaps": envmaps}
    atomic_write_text(cache / "index.json", json.dumps(index, indent=1) + "\n")
    log(f"look cache {cache}: {len(backgrounds)} photos, {len(envmaps)} environment maps")
    return index


def credits_markdown(index: dict) -> str:
    """One line per file of ``index``: title, author, licence, source."""
    lines = []
    for kind in ("backgrounds", "envmaps"):
        for e in index.get(kind, []):
            lines.append(f"- {e['title']} -- {e['author']} ({e['licence']}), {e['source']}")
    return "\n".join(lines) + "\n"
