"""Pack the real photos' training hands small enough to travel to a lent GPU machine, and unpack them there.

A device call carries at most 64 MiB with the repository, and ``../shared/realdata`` does not
travel. The pseudo-labelled training mixture needs the close-ups' and the signer frames'
*training* photos and their fits files (``mobrecon fit``), which together are ~90 MB. Packing:

* keeps only the hands :class:`~mobrecon.data.pseudo_labelled.PseudoLabelledSet` trains on (the
  set's own training split, kept fits, big enough), and only their photos, under the same relative
  paths (so the committed split lists still apply);
* re-encodes the photos as JPEG (``--quality``) and cuts each signer frame to a square around
  its trained hands (``--keep`` times the hand's keypoint box, about what a training crop
  reaches after augmentation), moving their keypoints, projected joints and camera centre with it;
* drops the fits' ``vertices`` and ``joints3d``: ``unpack`` recomputes them as
  ``OpenHand(pose, shape, transl)``, which is how the fit made them (checked by ``--check``).

    python tools/device/pack_real.py pack --labels data/labels --out .gpu       # here
    python tools/device/pack_real.py unpack --out .gpu                          # there
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from mobrecon.data.pseudo_labelled import PseudoLabelledSet, read_fits
from mobrecon.hand.load import load_hand
from mobrecon.io_utils import atomic_save_npz

SETS = {"closeups": "sign-language-digits", "signers": "rf100-hand-gestures"}
DROPPED = ("vertices", "joints3d")


def crop_around(bgr: np.ndarray, fits: dict, hands: np.ndarray, keep: float):
    """The photo cut to the box holding a square of side ``keep`` x each hand's keypoint box
    around its centre (clipped to the photo) -> (crop, (x0, y0, (width, height)))."""
    h, w = bgr.shape[:2]
    lo, hi = np.array([w, h], float), np.zeros(2)
    for j in hands:
        kp = fits["keypoints2d"][j].astype(float).copy()
        if fits["mirrored"][j]:  # keypoints are in the mirrored photo
            kp[:, 0] = (w - 1) - kp[:, 0]
        c, half = (kp.min(0) + kp.max(0)) / 2, keep * float((kp.max(0) - kp.min(0)).max()) / 2
        lo, hi = np.minimum(lo, c - half), np.maximum(hi, c + half)
    x0, y0 = np.floor(lo).astype(int).clip(0)
    x1, y1 = np.minimum(np.ceil(hi).astype(int), [w, h])
    return bgr[y0:y1, x0:x1], (int(x0), int(y0), np.array([x1 - x0, y1 - y0], np.int32))


def pack_set(name: str, fits_path: Path, out: Path, quality: int, keep: float) -> dict:
    """Write OUT/realdata/<set folder>/ (the trained hands' photos) and OUT/<name>_pack.npz (their
    fits without the 3D labels, root pointing there) -> the packed hands' rows in the fits file."""
    ds = PseudoLabelledSet(fits_path, split="train")
    fits = read_fits(fits_path)
    hands = ds.hands
    images = np.unique(fits["image"][hands])
    remap = {int(old): new for new, old in enumerate(images)}
    root = out / "realdata" / SETS[name]
    if root.exists():
        shutil.rmtree(root)
    shifts = {}
    for old in images:
        rel = str(fits["files"][old])
        bgr = cv2.imread(str(ds.root / rel), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"{ds.root / rel}: unreadable photo")
        if name == "signers":  # keep a square around the trained hands, shift their labels
            bgr, shifts[old] = crop_around(bgr, fits, hands[fits["image"][hands] == old], keep)
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(dest), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise SystemExit(f"{dest}: could not write")
    if name == "signers":  # the reader recognises the set by these
        shutil.copy(ds.root / "data.yaml", root / "data.yaml")
        (root / "train" / "labels").mkdir(parents=True, exist_ok=True)
    packed = {k: v[hands] for k, v in fits.items()
              if k not in DROPPED and getattr(v, "ndim", 0) and len(v) == len(fits["keep"])}
    packed["image"] = np.array([remap[int(i)] for i in fits["image"][hands]], np.int32)
    size = fits["size"][images].copy()
    for old, (x0, y0, wh) in shifts.items():
        size[remap[old]] = wh
        for j in np.flatnonzero(packed["image"] == remap[old]):
            # a mirrored hand's x is measured from the photo's right edge: it moves by what was cut there
            dx = fits["size"][old][0] - (x0 + wh[0]) if packed["mirrored"][j] else x0
            for k in ("keypoints2d", "joints2d"):
                packed[k][j] -= np.array([dx, y0], np.float32)
            packed["K"][j, 0, 2] -= dx
            packed["K"][j, 1, 2] -= y0
    packed.update(root=np.str_(root.as_posix()), files=fits["files"][images], size=size)
    for k in fits:  # the rest (format, teacher, ...) as they are
        if k not in packed and k not in DROPPED:
            packed[k] = fits[k]
    atomic_save_npz(out / f"{name}_pack.npz", packed)
    return hands


def unpack_set(name: str, out: Path, hand) -> Path:
    pack = dict(np.load(out / f"{name}_pack.npz"))
    with torch.no_grad():
        res = hand(torch.from_numpy(pack["pose"]).float(), torch.from_numpy(pack["shape"]).float(),
                   torch.from_numpy(pack["transl"]).float())
    pack["vertices"] = res.vertices.numpy().astype(np.float32)
    pack["joints3d"] = res.joints.numpy().astype(np.float32)
    dest = out / f"{name}_fits.npz"
    atomic_save_npz(dest, pack, compressed=False)
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("pack", "unpack"))
    ap.add_argument("--labels", type=Path, default=Path("data/labels"), help="folder of {set}_fits.npz (pack)")
    ap.add_argument("--out", type=Path, default=Path(".gpu"))
    ap.add_argument("--quality", type=int, default=92)
    ap.add_argument("--keep", type=float, default=2.6)
    ap.add_argument("--check", action="store_true", help="pack: unpack too and compare with the original fits")
    a = ap.parse_args(argv)
    hand = load_hand()
    for name in SETS:
        if a.mode == "pack":
            hands = pack_set(name, a.labels / f"{name}_fits.npz", a.out, a.quality, a.keep)
            print(f"{name}: {len(hands)} hands")
            if a.check:
                got = np.load(unpack_set(name, a.out, hand))
                ref = read_fits(a.labels / f"{name}_fits.npz")
                for k in DROPPED:
                    err = float(np.abs(got[k] - ref[k][hands]).max())
                    print(f"  {k}: max |recomputed - fitted| {err * 1000:.4f} mm")
                    if err > 1e-4:
                        raise SystemExit(f"{name}: recomputed {k} differ by {err} m")
                n = len(PseudoLabelledSet(a.out / f"{name}_fits.npz", split="train"))
                print(f"  the packed set reads back: {n} hands")
                if n != len(hands):
                    raise SystemExit(f"{name}: {n} hands read back, {len(hands)} packed")
        else:
            print(f"{name}: {unpack_set(name, a.out, hand)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
