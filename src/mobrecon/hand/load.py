"""Pick a hand model by name or file, and get its (cached) mesh hierarchy."""

from __future__ import annotations

import argparse
import os
from importlib import resources
from pathlib import Path

from mobrecon.hand.base import HandModel
from mobrecon.hand.mano import MANO
from mobrecon.hand.openhand import OpenHand
from mobrecon.mesh.hierarchy import cache_path, load_or_build


def load_hand(name_or_path: str | os.PathLike = "openhand") -> HandModel:
    """``"openhand"`` (built in), an OpenHand ``.npz`` asset, or a user's ``MANO_RIGHT.pkl``."""
    s = str(name_or_path)
    if s == "openhand":
        return OpenHand()
    path = Path(s)
    if not path.is_file():
        raise FileNotFoundError(f"hand model {s!r}: not 'openhand' and no such file")
    if path.suffix == ".pkl":
        return MANO(path)
    if path.suffix == ".npz":
        return OpenHand(path)
    raise ValueError(f"hand model {s!r}: expected 'openhand', a .npz OpenHand asset or a MANO .pkl")


def cache_dir() -> Path:
    """Where computed hierarchies go: $MOBRECON_CACHE, else ~/.cache/mobrecon."""
    env = os.environ.get("MOBRECON_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mobrecon"


def hand_hierarchy(hand: HandModel, **kw):
    """The mesh hierarchy (4 x factor-2 QEM levels, spirals) of a hand's template.

    The built-in hand's hierarchy ships in the package; any other template's is computed once
    and cached under :func:`cache_dir`, keyed by the template's hash.
    """
    verts = hand.v_template.detach().cpu().numpy()
    faces = hand.faces.cpu().numpy()
    shipped = shipped_dir()
    where = shipped if cache_path(verts, faces, shipped, **kw).exists() else cache_dir()
    return load_or_build(verts, faces, where, **kw)


def shipped_dir() -> Path:
    return Path(str(resources.files("mobrecon") / "assets"))


def main(argv=None):
    p = argparse.ArgumentParser(description="Maintenance of the built-in hand's shipped files.")
    p.add_argument("--write-shipped-hierarchy", action="store_true",
                   help="(re)compute the built-in hand's mesh hierarchy into the package's assets")
    args = p.parse_args(argv)
    if args.write_shipped_hierarchy:
        hand = OpenHand()
        verts, faces = hand.v_template.numpy(), hand.faces.numpy()
        for old in shipped_dir().glob("mesh_hierarchy_*.npz"):
            if old != cache_path(verts, faces, shipped_dir()):
                old.unlink()
        h = load_or_build(verts, faces, shipped_dir())
        print(f"hierarchy levels {h.counts} in {cache_path(verts, faces, shipped_dir())}")


if __name__ == "__main__":
    main()
