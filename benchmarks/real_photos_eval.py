"""The real-photo benchmark (issue 18, section 5): models scored on held-out photographs of real hands.

The photos have no ground truth; the references are MediaPipe Hands' keypoints (the *teacher*,
``mobrecon label``) and OpenHand pseudo-meshes fitted to them (``mobrecon fit``). Per set (the
held-out split: close-ups ``test`` list, signer frames ``test``, all 40 HaGRID photos):

* 2D: each of the model's 21 joints against the teacher's keypoint, the distance divided by the
  hand's box, i.e. **the longer side of the tight box of the teacher's 21 keypoints**
  (:mod:`mobrecon.eval.box_errors`): mean over all joints, over the fingertips only, and PCK
  (share of joints within 0.1 / 0.2 of the box);
* handedness: the predictor deciding itself (``hand=None``: the shipped handedness head where one
  fits the model's encoder, else it says "right") against the teacher's left/right;
* 3D: PA-MPJPE (mm) of the model's root-relative joints against the pseudo-mesh's joints, over
  the hands whose fit was kept: **agreement with a fitted pseudo-label, not ground truth**.

Protocol (main figures): the teacher's handedness is given to the predictor; close-ups: the whole
photo is the crop (no box, what a user does with such a photo); signer frames and HaGRID: the
teacher's keypoint box is given as the hand box (small hands in big frames).

Rows: the teacher itself (0 in 2D by definition: it *is* the reference; its 3D figure compares
its world landmarks with the fit), the shipped GhostStack and DenseStack, any ``--model`` file,
and the always-the-average-hand baseline (:mod:`mobrecon.eval.average_hand`: the training
split's mean keypoints in box units placed in each test hand's teacher box; the mean pseudo-mesh
joints of the training split in 3D).

    OMP_NUM_THREADS=1 python benchmarks/real_photos_eval.py --labels /work/labels \\
        --json benchmarks/results/real_photos/test.json --png docs/real_photo_benchmark.png
    python benchmarks/real_photos_eval.py --labels /work/labels --sets closeups --split all  # the issue's check
    python benchmarks/real_photos_eval.py --labels /work/labels --no-shipped --model new=runs/x/model.pt

``--labels DIR`` holds ``closeups.npz``, ``signers.npz``, ``hagrid.npz`` (teacher labels) and,
where made, ``closeups_fits.npz`` etc. (pseudo-meshes; a set without one gets no 3D figure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from mobrecon.data.pseudo_mesh import FITS_FORMAT
from mobrecon.data.real_photos import FOLDERS, READERS, default_realdata
from mobrecon.data.teacher_labels import TeacherLabels, load_labels
from mobrecon.eval.average_hand import ANCHORS, average_hand_2d, average_hand_3d, keypoint_boxes, place_in_boxes
from mobrecon.eval.box_errors import box_errors, box_side, summarise_box_errors
from mobrecon.eval.metrics import pa_mpjpe
from mobrecon.infer.outputs import overlay
from mobrecon.infer.predictor import load
from mobrecon.io_utils import atomic_write_png, atomic_write_text
from mobrecon.viz.joints import draw_joints
from mobrecon.viz.render import MeshRenderer

FITS_KEYS = ("files", "image", "joints3d", "keep", "mirrored")
PROTOCOLS = {"closeups": "whole photo", "signers": "teacher box", "hagrid": "teacher box"}
# where the average hand of each set is learnt (HaGRID has no training split)
TRAIN_SETS = {"closeups": ("closeups",), "signers": ("signers",), "hagrid": ("closeups", "signers")}
SHIPPED = (("GhostStack (shipped)", "mobrecon_ghoststack"), ("DenseStack (shipped)", "mobrecon_densestack"))
BOX_DEFINITION = "the longer side of the tight box of the teacher's 21 keypoints"
TEACHER_NOTE = "the teacher is the 2D reference, so its 2D error is 0 and its handedness agreement 1 by definition"
PSEUDO_NOTE = "3D: agreement with a fitted pseudo-label (OpenHand fitted to the teacher), not ground truth"


class BenchError(Exception):
    """Bad input: one line for stderr, exit code 2."""


@dataclass
class HeldOut:
    """The held-out hands of one set. B hands; images per hand (H, W, 3) uint8 RGB."""

    name: str
    split: str
    protocol: str
    images: list
    files: list
    keypoints2d: np.ndarray  # (B, 21, 2) teacher, pixels
    left: np.ndarray  # (B,) bool teacher's handedness
    world: np.ndarray  # (B, 21, 3) teacher's world landmarks, metres
    fit_joints: np.ndarray  # (B, 21, 3) pseudo-mesh joints, right-hand form (NaN: no fit)
    fit_kept: np.ndarray  # (B,) bool
    has_fits: bool
    mean2d: dict  # {anchor: (21, 2) average hand, box units}
    mean3d: np.ndarray | None  # (21, 3) average pseudo-mesh joints, or None

    @property
    def boxes(self) -> np.ndarray:
        return keypoint_boxes(self.keypoints2d)

    @property
    def hands(self) -> list[str]:
        return ["left" if x else "right" for x in self.left]


# ----------------------------------------------------------------------------------- data
def labels_rows(ds, labels: TeacherLabels) -> dict[int, int]:
    """{image index in ``ds``: row in ``labels``} by path relative to the labels' root."""
    row_of = labels.row_of()
    out = {}
    for i, f in enumerate(ds.files):
        p = ds.root / f
        try:
            rel = p.relative_to(labels.root).as_posix()
        except ValueError:
            rel = f
        if rel in row_of:
            out[i] = row_of[rel]
    return out


def read_fits(path: Path, labels: TeacherLabels) -> dict | None:
    """The pseudo-mesh file made from ``labels`` (None when absent); checked to match it."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            fits = {k: z[k] for k in z.files if k in FITS_KEYS + ("format",)}
    except (OSError, ValueError) as e:
        raise BenchError(f"{path}: not a readable fits file ({type(e).__name__})") from None
    if str(fits.get("format", "")) != FITS_FORMAT or any(k not in fits for k in FITS_KEYS):
        raise BenchError(f"{path}: not a {FITS_FORMAT} file")
    if not (np.array_equal(fits["files"], labels.files) and np.array_equal(fits["image"], labels.arrays["image"])):
        raise BenchError(f"{path}: made from another labels file (its images/hands differ)")
    return fits


def open_set(name: str, realdata: Path, labels_dir: Path, split: str):
    """(reader, labels, fits or None) of set ``name``."""
    lab_path = labels_dir / f"{name}.npz"
    try:
        labels = load_labels(lab_path)
        ds = READERS[name](realdata / FOLDERS[name], split, labels)
    except (FileNotFoundError, ValueError) as e:
        raise BenchError(str(e)) from None
    return ds, labels, read_fits(labels_dir / f"{name}_fits.npz", labels)


def split_hand_rows(ds, labels: TeacherLabels) -> np.ndarray:
    """(n,) labels hand rows of every teacher hand of ``ds``'s split, in ``ds.hand_index`` order."""
    rows = labels_rows(ds, labels)
    return np.array([labels.hand_rows(rows[int(i)])[int(k)] for i, k in ds.hand_index], np.int64)


def training_references(name: str, realdata: Path, labels_dir: Path) -> tuple[dict, np.ndarray | None]:
    """The average hand of set ``name``: {anchor: (21, 2) box units} from the training split(s)'
    teacher keypoints, and (21, 3) from their kept pseudo-meshes (None without fits)."""
    kps, lefts, joints = [], [], []
    for train in TRAIN_SETS[name]:
        ds, labels, fits = open_set(train, realdata, labels_dir, "train")
        rows = split_hand_rows(ds, labels)
        kps.append(labels.arrays["keypoints2d"][rows])
        lefts.append(labels.arrays["hand"][rows] == "left")
        if fits is not None:
            joints.append(fits["joints3d"][rows][fits["keep"][rows]])
    kps, lefts = np.concatenate(kps), np.concatenate(lefts)
    mean2d = {anchor: average_hand_2d(kps, lefts, anchor) for anchor in ANCHORS}
    mean3d = average_hand_3d(np.concatenate(joints)) if joints and sum(map(len, joints)) else None
    return mean2d, mean3d


def held_out(name: str, realdata: Path, labels_dir: Path, split: str, limit: int | None = None) -> HeldOut:
    """Every teacher hand of set ``name``'s ``split`` (at most ``limit``, evenly spread)."""
    ds, labels, fits = open_set(name, realdata, labels_dir, split)
    rows = split_hand_rows(ds, labels)
    picks = np.arange(len(rows))
    if limit is not None and limit < len(rows):
        picks = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    a = labels.arrays
    images, files = [], []
    for j in picks:
        s = ds.hand_sample(int(j))
        images.append(s["image"])
        files.append(s["file"])
    rows = rows[picks]
    left = a["hand"][rows] == "left"
    world = a["world"][rows].astype(np.float64)
    fit_joints = np.full((len(rows), 21, 3), np.nan)
    kept = np.zeros(len(rows), bool)
    if fits is not None:
        fit_joints = fits["joints3d"][rows].astype(np.float64)
        kept = fits["keep"][rows].astype(bool)
        if np.any(fits["mirrored"][rows] != left):
            raise BenchError(f"{labels_dir / (name + '_fits.npz')}: mirrored flags disagree with the labels' hands")
    mean2d, mean3d = training_references(name, realdata, labels_dir)
    return HeldOut(name, split, PROTOCOLS[name], images, files, a["keypoints2d"][rows].astype(np.float64), left,
                   world, fit_joints, kept, fits is not None, mean2d, mean3d)


# -------------------------------------------------------------------------------- scoring
def right_handed(points: np.ndarray, left: np.ndarray) -> np.ndarray:
    """(B, N, 3) with x negated where ``left`` (B,): the network's right-hand form."""
    out = np.array(points, np.float64, copy=True)
    out[np.asarray(left, bool), :, 0] *= -1
    return out


def score_3d(pred_rel: np.ndarray | None, data: HeldOut) -> dict:
    """PA-MPJPE (mm) of (B, 21, 3) right-hand-form joints against the kept pseudo-meshes."""
    if not data.has_fits or pred_rel is None:
        return {"pa_mpjpe_mm": None, "fits_kept": int(data.fit_kept.sum()) if data.has_fits else 0}
    k = data.fit_kept
    err = pa_mpjpe(pred_rel[k], data.fit_joints[k]) * 1000 if k.any() else np.array([np.nan])
    return {"pa_mpjpe_mm": float(np.mean(err)), "pa_mpjpe_median_mm": float(np.median(err)),
            "fits_kept": int(k.sum())}


def run_predictor(predictor, data: HeldOut, given: bool, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, list]:
    """(B, 21, 2) joints in image pixels, (B, 21, 3) root-relative camera-space joints (true side)
    and the handedness used per hand; ``given``: the teacher's handedness is passed."""
    boxes = [None] * len(data.images) if data.protocol == "whole photo" else list(data.boxes)
    hands = data.hands if given else None
    res = predictor.predict_batch(data.images, boxes, hands=hands, batch_size=batch_size)
    j2 = np.stack([r.joints2d for r in res]).astype(np.float64) if res else np.zeros((0, 21, 2))
    j3 = np.stack([r.joints3d - r.joints3d[:1] for r in res]).astype(np.float64) if res else np.zeros((0, 21, 3))
    return j2, j3, [r.extra["handedness"] for r in res]


def score_model(predictor, data: HeldOut) -> dict:
    """A model's row: the main protocol, plus its own handedness calls (and 2D with them)."""
    t = time.perf_counter()
    j2, j3, _ = run_predictor(predictor, data, given=True)
    row = {**summarise_box_errors(box_errors(j2, data.keypoints2d)), **score_3d(right_handed(j3, data.left), data)}
    own2, _, sides = run_predictor(predictor, data, given=False)
    agree = np.array([s == h for s, h in zip(sides, data.hands)])
    row["handedness_agreement"] = float(agree.mean()) if len(agree) else float("nan")
    row["handedness_source"] = "head" if predictor.handedness is not None else "none: always right"
    row["own_handedness_2d"] = summarise_box_errors(box_errors(own2, data.keypoints2d))
    row["seconds"] = round(time.perf_counter() - t, 1)
    return row


def score_teacher(data: HeldOut) -> dict:
    row = summarise_box_errors(box_errors(data.keypoints2d, data.keypoints2d))
    row.update(score_3d(right_handed(data.world, data.left), data), handedness_agreement=1.0,
               handedness_source="the reference", note=TEACHER_NOTE)
    return row


def score_average(data: HeldOut) -> dict:
    """The average hand's row: centred in the teacher's box (and, as ``corner_anchored``, hung
    from its top-left corner as in the issue's figures)."""
    j2 = {a: place_in_boxes(data.mean2d[a], data.boxes, data.left, a) for a in ANCHORS}
    j3 = None if data.mean3d is None else np.repeat(data.mean3d[None], len(data.left), 0)
    return {**summarise_box_errors(box_errors(j2["centre"], data.keypoints2d)), **score_3d(j3, data),
            "handedness_agreement": None, "handedness_source": "n/a (given)",
            "corner_anchored": summarise_box_errors(box_errors(j2["corner"], data.keypoints2d))}


# --------------------------------------------------------------------------------- output
def fmt(v, pattern: str) -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else pattern.format(v)


def markdown_table(record: dict) -> str:
    """The results as one markdown table (rows: set x model)."""
    lines = ["| set (protocol) | model | hands | mean 2D | fingertips | PCK@0.1 | PCK@0.2 | handedness | "
             "PA-MPJPE vs pseudo-mesh (kept fits) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in record["sets"].items():
        for model, r in s["rows"].items():
            hand = fmt(r.get("handedness_agreement"), "{:.3f}")
            if r.get("handedness_source", "").startswith("none"):
                hand += " (no head: always right)"
            pa = fmt(r.get("pa_mpjpe_mm"), "{:.1f} mm") + (f" ({r['fits_kept']})" if r.get("pa_mpjpe_mm") else "")
            lines.append(f"| {name} {s['split']} ({s['protocol']}) | {model} | {r['hands']} | "
                         f"{fmt(100 * r['mean'], '{:.1f} %')} | {fmt(100 * r['tips'], '{:.1f} %')} | "
                         f"{fmt(r['pck@0.1'], '{:.3f}')} | {fmt(r['pck@0.2'], '{:.3f}')} | {hand} | {pa} |")
    notes = [f"2D errors are shares of the hand's box = {BOX_DEFINITION}; PCK counts joints within 0.1 / 0.2 "
             "of it.", f"Teacher row: {TEACHER_NOTE}; its 3D figure compares its world landmarks with the fit.",
             f"{PSEUDO_NOTE}.", "Handedness: the predictor deciding itself (hand=None); every other figure is "
             "with the teacher's handedness given."]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def display_window(data: HeldOut, j: int, cell: int) -> np.ndarray:
    """(3, 3) affine from image pixels to a ``cell`` x ``cell`` view of hand ``j``: the whole
    photo for close-ups, else the teacher box widened 1.6 times, square."""
    h, w = data.images[j].shape[:2]
    if data.protocol == "whole photo":
        cx, cy, side = (w - 1) / 2, (h - 1) / 2, max(w, h)
    else:
        x0, y0, x1, y1 = data.boxes[j]
        cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 1.6 * max(x1 - x0, y1 - y0)
    s = cell / side
    return np.array([[s, 0, cell / 2 - s * cx], [0, s, cell / 2 - s * cy], [0, 0, 1]])


def draw_points(image: np.ndarray, points: np.ndarray, colour=(255, 255, 255)) -> np.ndarray:
    out = image.copy()
    for x, y in np.asarray(points):
        cv2.drawMarker(out, (int(round(x)), int(round(y))), colour, cv2.MARKER_CROSS, 7, 1, cv2.LINE_AA)
    return out


def overlay_grid(sets: list[HeldOut], predictors: dict, per_set: int = 4, cell: int = 160) -> np.ndarray:
    """Rows: the teacher's keypoints, then each model's mesh and joints (teacher given handedness)
    with the teacher's keypoints as white crosses; columns: ``per_set`` held-out hands of each set."""
    picks = [(d, int(j)) for d in sets for j in np.unique(np.linspace(0, len(d.images) - 1, per_set).round())
             if len(d.images)]
    label_w = 150
    rows = []
    with MeshRenderer() as renderer:
        for label, predictor in [("teacher", None), *predictors.items()]:
            cells = []
            for d, j in picks:
                M = display_window(d, j, cell)
                view = cv2.warpAffine(d.images[j], M[:2], (cell, cell), flags=cv2.INTER_LINEAR,
                                      borderValue=(0, 0, 0))
                teacher = d.keypoints2d[j] @ M[:2, :2].T + M[:2, 2]
                if predictor is None:
                    cells.append(draw_joints(view, teacher, radius=2))
                    continue
                box = None if d.protocol == "whole photo" else d.boxes[j]
                r = predictor.predict(d.images[j], box=box, hand=d.hands[j])
                r = replace(r, K=M @ r.K, joints2d=r.joints2d @ M[:2, :2].T + M[:2, 2])
                cells.append(draw_points(overlay(view, r, renderer), teacher))
            strip = np.concatenate(cells, 1)
            tag = np.full((cell, label_w, 3), 255, np.uint8)
            for k, text in enumerate(label.replace(" (", "\n(").split("\n")):
                cv2.putText(tag, text, (6, 24 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            rows.append(np.concatenate([tag, strip], 1))
    return np.concatenate(rows, 0)


# ----------------------------------------------------------------------------------- main
def parse_models(args) -> list[tuple[str, str]]:
    models = [] if args.no_shipped else list(SHIPPED)
    for m in args.model or []:
        label, _, path = m.rpartition("=")
        if not Path(path).is_file():
            raise BenchError(f"--model {path}: no such model file")
        models.append((label or Path(path).stem, path))
    return models


def check_out(path: str | None, force: bool, what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not force:
        raise BenchError(f"{what} {p}: exists (another run's?); pass --force to replace it")
    return p


def run(args) -> dict:
    realdata = Path(args.realdata) if args.realdata else default_realdata()
    labels_dir = Path(args.labels)
    if not labels_dir.is_dir():
        raise BenchError(f"--labels {labels_dir}: no such folder (it holds closeups.npz, signers.npz, hagrid.npz)")
    models = parse_models(args)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    bad = [s for s in sets if s not in READERS]
    if bad:
        raise BenchError(f"--sets: unknown set {bad[0]!r} (choose from {', '.join(READERS)})")
    split = args.split
    if split == "valid" and sets != ["signers"]:
        raise BenchError("--split valid: only the signer frames have a validation split (pass --sets signers)")
    predictors = {}
    for label, path in models:
        try:
            predictors[label] = load(path, detector=None)
        except (FileNotFoundError, ValueError) as e:
            raise BenchError(str(e)) from None
    record = {"benchmark": "real photos (issue 18)", "split": split, "box": BOX_DEFINITION, "pck": [0.1, 0.2],
              "protocol": {k: v for k, v in PROTOCOLS.items() if k in sets} | {"hand": "teacher's handedness given"},
              "notes": [TEACHER_NOTE, PSEUDO_NOTE, "2D figures are shares of the box (0.136 = 13.6 %)"],
              "labels": str(labels_dir.resolve()), "realdata": str(realdata),
              "models": {label: str(path) for label, path in models}, "torch_threads": torch.get_num_threads(),
              "sets": {}}
    data = []
    for name in sets:
        d = held_out(name, realdata, labels_dir, split, args.limit)
        data.append(d)
        print(f"[{name}] {len(d.images)} hands ({split}, {d.protocol}), fits: "
              f"{int(d.fit_kept.sum()) if d.has_fits else 'none'} kept", file=sys.stderr)
        rows = {"teacher (MediaPipe Hands)": score_teacher(d)}
        for label, predictor in predictors.items():
            rows[label] = score_model(predictor, d)
            print(f"[{name}] {label}: mean {100 * rows[label]['mean']:.1f} % ({rows[label]['seconds']} s)",
                  file=sys.stderr)
        rows["average hand"] = score_average(d)
        record["sets"][name] = {"split": split, "protocol": d.protocol, "images": len(set(d.files)),
                                "hands": len(d.images), "left_hands": int(d.left.sum()),
                                "fits": d.has_fits, "box_side_px_median": float(np.median(box_side(d.keypoints2d)))
                                if len(d.images) else None, "rows": rows}
    record["table"] = markdown_table(record)
    record["_data"] = data
    record["_predictors"] = predictors
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", default=os.environ.get("MOBRECON_LABELS"),
                    help="folder of the teacher labels (closeups.npz, ...) and fits (closeups_fits.npz, ...); "
                         "default $MOBRECON_LABELS")
    ap.add_argument("--realdata", default=None, help="the real photo sets' folder (default: ../shared/realdata)")
    ap.add_argument("--sets", default="closeups,signers,hagrid")
    ap.add_argument("--split", choices=("test", "valid", "train", "all"), default="test",
                    help="test: the held-out photos (default); valid: the signer frames' own validation split "
                    "(no reconstruction model trains on it: choose between trained models there, not on test); "
                    "train: the training photos, a validation set "
                    "only for models that never trained on real photos (the look comparisons of issue 19); "
                    "all: every photo (the issue's check; not held out)")
    ap.add_argument("--model", action="append", metavar="[LABEL=]PATH", help="a model file to score (repeatable)")
    ap.add_argument("--no-shipped", action="store_true", help="leave out the shipped GhostStack and DenseStack")
    ap.add_argument("--limit", type=int, default=None, help="at most this many hands per set (quick looks)")
    ap.add_argument("--json", default=None, help="write the record here")
    ap.add_argument("--png", default=None, help="write a grid of overlays on held-out photos here")
    ap.add_argument("--per-set", type=int, default=4, help="photos per set in the grid")
    ap.add_argument("--png-sets", default="closeups,signers",
                    help="sets shown in the grid (HaGRID's photos are left out by default: their licence "
                         "is a CC BY-SA variant, look-only)")
    ap.add_argument("--force", action="store_true", help="replace existing --json / --png files")
    args = ap.parse_args(argv)
    try:
        if not args.labels:
            raise BenchError("--labels DIR is needed (or $MOBRECON_LABELS)")
        json_path, png_path = check_out(args.json, args.force, "--json"), check_out(args.png, args.force, "--png")
        if png_path is not None and not set(args.png_sets.split(",")) & set(args.sets.split(",")):
            raise BenchError(f"--png-sets {args.png_sets}: none of them is evaluated (--sets {args.sets})")
        record = run(args)
    except BenchError as e:
        print(f"real_photos_eval: {e}", file=sys.stderr)
        return 2
    data, predictors = record.pop("_data"), record.pop("_predictors")
    print(record["table"])
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(record, indent=1) + "\n")
        print(f"wrote {json_path}", file=sys.stderr)
    if png_path is not None:
        shown = [d for d in data if d.name in args.png_sets.split(",")]
        atomic_write_png(png_path, overlay_grid(shown, predictors, args.per_set))
        print(f"wrote {png_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
