"""Scoring a hand detector on real photographs.

* Signer frames (:class:`~mobrecon.data.real_photos.SignerFrames`): AP at IoU 0.5,
  class-agnostic (:func:`signer_ap`), against the set's own boxes or against the whole-hand
  boxes of the teacher's hands. The set's boxes are the annotators' *gesture* boxes -- often
  both hands and part of the forearm, median 2.3x the hand -- not hand boxes, so a detector of
  whole hands cannot match them; the teacher's boxes are what it is trained to find.
* Close-ups (:class:`~mobrecon.data.real_photos.CloseUps` with teacher labels): per photo the
  detector's best box against the teacher's whole-hand box (:func:`whole_hand_box` of its
  keypoint box), and the predictor's crop from that box against the crop the reconstruction
  network was trained on (1.3 x the keypoint box); handedness of the detector's own call and of
  an encoder handedness head looking at the predictor's crop, both against the teacher
  (:func:`closeup_scores`).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from mobrecon.data.crop import CropBox, hand_box
from mobrecon.detect.ap import average_precision, box_iou, precision_recall_at
from mobrecon.detect.detector import detection_array

# A whole hand's box (its skin) over the box of its 21 keypoints, longer side: 1.19 median
# (1.11-1.28 for 10-90 %) over random OpenHand poses and rotations; the centre moves 7 % of
# the side at most typically, ignored here.
WHOLE_HAND_WIDEN = 1.2
TRAIN_CROP_MARGIN = 1.3  # the reconstruction network's crops: 1.3 x the keypoint box


def whole_hand_box(kp_box: np.ndarray, widen: float = WHOLE_HAND_WIDEN) -> np.ndarray:
    """(n, 4) or (4,) keypoint boxes x0, y0, x1, y1 -> the whole-hand boxes: each side
    ``widen`` times as long about the same centre."""
    b = np.asarray(kp_box, np.float64)
    c = (b[..., :2] + b[..., 2:]) / 2
    half = (b[..., 2:] - b[..., :2]) * widen / 2
    return np.concatenate([c - half, c + half], -1)


def joints_hand_box(joints2d: np.ndarray) -> np.ndarray:
    """(21, 2) 2D joints -> the whole-hand box (4,) around them (:func:`whole_hand_box` of
    their box)."""
    j = np.asarray(joints2d, np.float64)
    return whole_hand_box(np.concatenate([j.min(0), j.max(0)]))


ALL_HANDS_LABELS = "signers_allhands.npz"  # the signer frames labelled as plain images: every hand


def teacher_hands(labels) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every hand of a teacher labels file made by ``mobrecon label`` on the images themselves
    (not through ``--set signers``, which keeps only the hand nearest each gesture box, though
    the teacher sees two hands in 58 % of the frames): ``{file: ((n, 4) keypoint boxes,
    (n,) left)}`` over the files with at least one hand. ``labels``: a path or a loaded npz."""
    z = np.load(labels, allow_pickle=False) if not hasattr(labels, "files") else labels
    files, image, box, hand = z["files"], z["image"], z["box"], z["hand"]
    return {str(files[k]): (box[image == k].astype(np.float64), hand[image == k] == "left")
            for k in np.unique(image)}


def teacher_boxes(labels) -> dict[str, np.ndarray]:
    """:func:`teacher_hands`' keypoint boxes only: ``{file: (n, 4)}``."""
    return {f: b for f, (b, _) in teacher_hands(labels).items()}


def signer_ap(detector, signers, threshold: float = 0.01, iou: float = 0.5, progress: bool = False,
              boxes: str | dict = "set") -> dict:
    """AP@``iou`` (class-agnostic) of ``detector`` on the images of ``signers`` against the
    set's own boxes (``boxes="set"``, every image), the whole-hand boxes of the teacher's hand
    per gesture box (``"teacher"``; teacher labels attached, frames without a teacher hand left
    out), or of every hand the teacher found (a :func:`teacher_boxes` mapping; frames not in it
    left out); also precision / recall at the detector's default threshold."""
    if not isinstance(boxes, dict) and boxes not in ("teacher", "set"):
        raise ValueError(f"boxes={boxes!r}: expected 'teacher', 'set' or a teacher_boxes mapping")
    dets, gts = [], []
    for i in tqdm(range(len(signers)), disable=not progress, unit="img", desc="signers"):
        if isinstance(boxes, dict) and signers.files[i] not in boxes:
            continue  # (checked before the frame is read)
        it = signers[i]
        if boxes == "set":
            ref = it["boxes"]
        else:
            kp = boxes[signers.files[i]] if isinstance(boxes, dict) else it["box"]
            if not len(kp):
                continue
            ref = whole_hand_box(kp).reshape(-1, 4)
        dets.append(detection_array(detector.detect(it["image"], threshold=threshold)))
        gts.append(ref)
    res = average_precision(dets, gts, iou)
    at = precision_recall_at(dets, gts, detector.threshold, iou)
    return {"images": len(gts), "boxes": res["n_gt"], f"ap{int(iou * 100)}": round(res["ap"], 4),
            "precision": round(at["precision"], 4), "recall": round(at["recall"], 4)}


def closeup_scores(detector, closeups, crop_margin: float, handedness=None, progress: bool = False) -> dict:
    """Every teacher hand of ``closeups`` (one per photo): the detector's best box (any score,
    none counts as a miss) against the teacher's whole-hand box, ``box_iou50`` the share with
    IoU >= 0.5; ``crop_iou50`` likewise for the square crop the predictor makes from the box
    (``crop_margin`` x its longer side) against the training crop of the teacher's keypoints.
    ``detector_hand``: share where the detector's class is the teacher's hand (of photos with a
    box); ``head_hand``: share where ``handedness`` (a HandednessClassifier, optional) on the
    predictor's crop agrees, and ``head_hand_teacher_crop`` on the teacher's own crop."""
    box_ious, crop_ious, det_ok, head_ok, head_t_ok = [], [], [], [], []
    for j in tqdm(range(closeups.num_hands), disable=not progress, unit="hand", desc="close-ups"):
        s = closeups.hand_sample(j)
        left = s["hand"] == "left"
        target = whole_hand_box(s["box"])
        true_crop = hand_box(s["keypoints2d"], margin=TRAIN_CROP_MARGIN)
        found = detector.detect(s["image"], threshold=0.0)
        if not found:
            box_ious.append(0.0)
            crop_ious.append(0.0)
            continue
        d = found[0]
        box_ious.append(float(box_iou(np.array(d.box), target)[0, 0]))
        x0, y0, x1, y1 = d.box
        crop = CropBox.from_corners(x0, y0, x1, y1, margin=crop_margin)
        crop_ious.append(float(box_iou(np.array(crop.corners()), np.array(true_crop.corners()))[0, 0]))
        det_ok.append(d.left == left)
        if handedness is not None:
            p = handedness.prob_left(s["image"], [crop, true_crop])
            head_ok.append(bool(p[0] >= 0.5) == left)
            head_t_ok.append(bool(p[1] >= 0.5) == left)
    box_ious, crop_ious = np.array(box_ious), np.array(crop_ious)
    out = {"hands": int(len(box_ious)), "box_iou50": round(float((box_ious >= 0.5).mean()), 4),
           "box_iou_median": round(float(np.median(box_ious)), 4),
           "crop_iou50": round(float((crop_ious >= 0.5).mean()), 4),
           "crop_iou_median": round(float(np.median(crop_ious)), 4),
           "detector_hand": round(float(np.mean(det_ok)), 4) if det_ok else None}
    if handedness is not None:
        out["head_hand"] = round(float(np.mean(head_ok)), 4) if head_ok else None
        out["head_hand_teacher_crop"] = round(float(np.mean(head_t_ok)), 4) if head_t_ok else None
    return out
