"""MediaPipe Hands' raw output -> the project's conventions (keypoint order, pixels, true handedness).

The teacher worker (:mod:`mobrecon.data.teacher_worker`, run in its own environment) reports each
hand as MediaPipe gives it; this module converts, without importing MediaPipe:

- **Order.** MediaPipe's 21 landmarks (``HandLandmark``) are wrist, then thumb CMC, MCP, IP, tip,
  then index, middle, ring, pinky with MCP, PIP, DIP, tip each. The project's FreiHAND order
  (:mod:`mobrecon.hand.skeleton`) names the thumb's four points mcp, pip, dip, tip but means the
  same chain from the palm out, so the permutation is the identity; it is derived here by name
  (:data:`MEDIAPIPE_TO_FREIHAND_NAMES`) and the worker's own list of names is checked against it
  on every run.
- **Pixels.** MediaPipe's normalised x, y measure from the image's left/top edge in units of its
  width/height; with pixel centres at integer coordinates, ``x_px = x * W - 0.5``.
- **Handedness.** MediaPipe labels hands as if the image were a mirrored selfie: on unmirrored
  photos of left hands (``samples/``) it says ``Right``. :func:`true_hand` swaps the label.
"""

from __future__ import annotations

import numpy as np

from mobrecon.hand.skeleton import JOINT_NAMES

# MediaPipe landmark name (HandLandmark, lower case) -> project joint name
MEDIAPIPE_TO_FREIHAND_NAMES = {
    "wrist": "wrist",
    "thumb_cmc": "thumb_mcp", "thumb_mcp": "thumb_pip", "thumb_ip": "thumb_dip", "thumb_tip": "thumb_tip",
    **{f"{mp}_{s}": f"{ours}_{s}" for mp, ours in (("index_finger", "index"), ("middle_finger", "middle"),
                                                     ("ring_finger", "ring"), ("pinky", "pinky"))
       for s in ("mcp", "pip", "dip", "tip")},
}

# MediaPipe's landmark names in its own index order (HandLandmark 0..20)
MEDIAPIPE_LANDMARKS = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip") + tuple(
    f"{f}_{s}" for f in ("index_finger", "middle_finger", "ring_finger", "pinky") for s in ("mcp", "pip", "dip", "tip"))


def freihand_from_mediapipe(names=MEDIAPIPE_LANDMARKS) -> np.ndarray:
    """(21,) int64 ``perm`` with ``ours = theirs[perm]``, given MediaPipe's landmark names in its order."""
    names = [str(n).lower() for n in names]
    if sorted(names) != sorted(MEDIAPIPE_TO_FREIHAND_NAMES):
        raise ValueError(f"unexpected MediaPipe landmark names: {names}")
    index = {MEDIAPIPE_TO_FREIHAND_NAMES[n]: i for i, n in enumerate(names)}
    return np.array([index[j] for j in JOINT_NAMES], np.int64)


def true_hand(mediapipe_label: str) -> str:
    """``"left"``/``"right"``: the anatomical hand in an unmirrored photo, from MediaPipe's label
    (which assumes a mirrored selfie image, so it is swapped)."""
    label = mediapipe_label.strip().lower()
    if label not in ("left", "right"):
        raise ValueError(f"unexpected MediaPipe handedness label {mediapipe_label!r}")
    return "right" if label == "left" else "left"


def to_pixels(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(..., 21, >=2) normalised MediaPipe coordinates -> (..., 21, 2) float32 pixels (centres at integers)."""
    p = np.asarray(landmarks, np.float64)[..., :2]
    return (p * np.array([width, height]) - 0.5).astype(np.float32)


def tight_box(keypoints2d: np.ndarray) -> np.ndarray:
    """(..., 21, 2) -> (..., 4) float32 x0, y0, x1, y1."""
    k = np.asarray(keypoints2d, np.float32)
    return np.concatenate([k.min(-2), k.max(-2)], -1)


def convert_hands(raw: dict, names=MEDIAPIPE_LANDMARKS) -> dict:
    """One image's worker record -> per-hand arrays in the labels file's conventions.

    Args:
        raw: ``{"width": W, "height": H, "hands": [{"landmarks", "world", "label", "score"}, ...]}``.
        names: MediaPipe's landmark names as the worker reported them.

    Returns a dict of ``keypoints2d`` (h, 21, 2) f32 pixels, ``world`` (h, 21, 3) f32 metres,
    ``hand`` (h,) str (true hand), ``hand_score`` (h,) f32, ``score`` (h,) f32 (MediaPipe's
    solution API gives no separate presence score: the handedness score), ``box`` (h, 4) f32.
    """
    perm = freihand_from_mediapipe(names)
    hands = raw.get("hands", [])
    w, h = int(raw["width"]), int(raw["height"])
    if not hands:
        return empty_hands()
    lm = np.array([hd["landmarks"] for hd in hands], np.float64).reshape(-1, 21, 3)[:, perm]
    world = np.array([hd["world"] for hd in hands], np.float32).reshape(-1, 21, 3)[:, perm]
    k2 = to_pixels(lm, w, h)
    scores = np.array([hd["score"] for hd in hands], np.float32)
    return {"keypoints2d": k2, "world": world, "hand": np.array([true_hand(hd["label"]) for hd in hands], "<U5"),
            "hand_score": scores, "score": scores.copy(), "box": tight_box(k2)}


def empty_hands() -> dict:
    """The :func:`convert_hands` dict with no hands."""
    return {"keypoints2d": np.zeros((0, 21, 2), np.float32), "world": np.zeros((0, 21, 3), np.float32),
            "hand": np.zeros(0, "<U5"), "hand_score": np.zeros(0, np.float32), "score": np.zeros(0, np.float32),
            "box": np.zeros((0, 4), np.float32)}


def select(hands: dict, keep: np.ndarray) -> dict:
    """The hands of a :func:`convert_hands` dict chosen by a boolean mask or index array."""
    return {k: v[keep] for k, v in hands.items()}


# A set box is widened by this share of its width/height on each side before the centre test.
BOX_WIDEN = 0.25


def inside_set_boxes(hand_boxes: np.ndarray, set_boxes: np.ndarray, widen: float = BOX_WIDEN) -> np.ndarray:
    """(h,) int64 indices of the hands to keep given a set's own hand boxes.

    Rule: a hand is a candidate for a set box when the centre of its keypoint box lies inside
    that set box widened by ``widen`` of its size on each side; each set box keeps at most one
    hand, the candidate whose centre is nearest the set box's centre (in units of the set box's
    size), so a second hand beside a boxed one is dropped; the kept indices come back in
    increasing order.

    Args:
        hand_boxes: (h, 4) teacher keypoint boxes x0, y0, x1, y1.
        set_boxes: (b, 4) the set's boxes, same units.
    """
    hb = np.asarray(hand_boxes, np.float64).reshape(-1, 4)
    sb = np.asarray(set_boxes, np.float64).reshape(-1, 4)
    if not len(hb) or not len(sb):
        return np.zeros(0, np.int64)
    centre = (hb[:, :2] + hb[:, 2:]) / 2                                     # (h, 2)
    pad = (sb[:, 2:] - sb[:, :2]) * widen                                    # (b, 2)
    lo, hi = sb[:, :2] - pad, sb[:, 2:] + pad
    inside = ((centre[:, None] >= lo[None]) & (centre[:, None] <= hi[None])).all(-1)  # (h, b)
    size = np.maximum(sb[:, 2:] - sb[:, :2], 1e-6)
    dist = np.linalg.norm((centre[:, None] - (sb[None, :, :2] + sb[None, :, 2:]) / 2) / size[None], axis=-1)
    keep = set()
    for b in range(len(sb)):
        cand = np.flatnonzero(inside[:, b])
        if len(cand):
            keep.add(int(cand[np.argmin(dist[cand, b])]))
    return np.array(sorted(keep), np.int64)


def largest(hand_boxes: np.ndarray) -> np.ndarray:
    """(1,) int64 index of the hand with the largest keypoint box ((0,) when there is none): the rule
    for sets of one hand per photo, where a second teacher hand is a spurious detection."""
    hb = np.asarray(hand_boxes, np.float64).reshape(-1, 4)
    if not len(hb):
        return np.zeros(0, np.int64)
    return np.array([int(np.argmax(np.prod(hb[:, 2:] - hb[:, :2], axis=1)))], np.int64)
