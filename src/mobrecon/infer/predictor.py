"""The predictor: a photo (and optionally a hand box and intrinsics) in, a camera-space hand out.

``mobrecon.load(name_or_path)`` returns a :class:`Predictor`; ``predictor.predict(image)``
crops around the box (or, without one, around the best hand the attached hand detector finds,
or takes the whole image as the crop when no detector is attached), runs the network, maps the
2D joints back to image pixels and places the root-relative mesh in camera space by root
recovery (:mod:`mobrecon.data.root`) with ``K`` (given, or a typical phone camera's for the
image size). The crop is the one of training and evaluation (:mod:`mobrecon.data.crop`).

``predictor.predict_hands(image)`` reconstructs every hand the detector finds
(:mod:`mobrecon.detect.detector`). The network knows right hands only: a left hand is
reconstructed from the mirrored image (x -> W - 1 - x) with the mirrored camera and mirrored
back (camera-space x negated, 2D u -> W - 1 - u, face winding reversed). Which hands are left
is said by the caller (``hand``), else by the attached handedness classifier looking at the
crop (:mod:`mobrecon.detect.handedness`), else by the detector, else right.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Literal, Sequence, TypeAlias, overload

import numpy as np
import torch

from mobrecon.data.crop import (BOX_MARGIN, DETECTION_MARGIN, CropBox, crop_for, crop_image, crop_matrix, hand_box,
                                to_tensor_image)
from mobrecon.data.root import default_intrinsics, uncrop_hand
from mobrecon.detect.decode import suppress
from mobrecon.detect.detector import HandDetector
from mobrecon.detect.handedness import (HandednessClassifier, encoded_features_np, encoder_fingerprint, load_head,
                                        shipped_heads)
from mobrecon.detect.presence import (DEFAULT_MIX, PresenceHead, combined_score, load_presence,
                                      shipped_presence_heads)
from mobrecon.detect.real_eval import joints_hand_box
from mobrecon.eval.metrics import accel
from mobrecon.extras import require
from mobrecon.image import ImageLike, read_image
from mobrecon.infer.backends import TorchRunner, make_runner
from mobrecon.infer.ort_detector import OrtHandDetector
from mobrecon.infer.ort_net import OrtNet
from mobrecon.infer.threads import inference_threads
from mobrecon.models.registry import names
from mobrecon.models.weights import load_model, shipped_weights, weights_file

# What the public API takes (docs/API.md; images: mobrecon.image.ImageLike):
BoxLike: TypeAlias = "Sequence[float] | np.ndarray"  # (x0, y0, x1, y1) image pixels
KLike: TypeAlias = "Sequence[float] | np.ndarray"  # (3, 3), or (fx, fy, cx, cy) pixels
HandSide: TypeAlias = 'Literal["left", "right"]'

LOG = logging.getLogger("mobrecon.predictor")
NO_HAND = "no hand found by the detector"
# Finding hands (Predictor.predict_hands): the detector's best candidates down to CANDIDATE_SHARE
# of the detector's threshold (or of the caller's, if lower), at most REFINE_CANDIDATES per image,
# are each reconstructed; the hand's box is then the mean of the detector's box and the whole-hand
# box of the 2D joints (REFINE_BLEND: the joints' share; on the signer frames' validation split
# the joints' box alone finds as many hands, but on the composites it lost 0.2 AP, the mean lost
# none), the score is re-weighted by the presence head where one is attached, and boxes
# overlapping a better one by more than REFINE_NMS_IOU (or lying in it by more than REFINE_INSIDE
# of their area) are dropped: several peaks on one hand give one hand. Without a presence head
# the scores stay the detector's, so only candidates at the threshold are reconstructed, and for
# one hand (``predict``) only the best.
REFINE_CANDIDATES = 8
# For one hand (``predict``) with a presence head: at most this many candidates, best detector score
# first (each costs a reconstruction; on the validation sets 3 lose nothing on the signer frames,
# 0.025 AP on the many-hand composites, and 1 loses a third: the best hand is often not the
# detector's first).
ONE_HAND_CANDIDATES = 3
REFINE_BLEND = 0.5
CANDIDATE_SHARE = 0.5
REFINE_NMS_IOU = 0.5
REFINE_INSIDE = 0.8


@dataclass
class HandResult:
    """One reconstructed hand. Camera space: metres, OpenCV axes (x right, y down, z forward).

    ``vertices`` (V, 3) and ``joints3d`` (21, 3) camera space; ``faces`` (F, 3); ``joints2d``
    (21, 2) pixels of the original image; ``root`` (3,) the wrist's camera-space position;
    ``box`` (4,) the hand box used (x0, y0, x1, y1, image pixels); ``crop`` the square crop the
    network saw; ``K`` (3, 3) the intrinsics used; ``K_given`` whether K came from the caller;
    ``image_size`` (width, height); ``extra``: ``model``, ``handedness`` ('left' / 'right') and,
    where they apply, ``p_left``, ``detection_score``, ``detection``. Arrays are float32 but
    ``faces`` (int64) and ``K`` (float64).
    """

    vertices: np.ndarray
    faces: np.ndarray
    joints3d: np.ndarray
    joints2d: np.ndarray
    root: np.ndarray
    box: np.ndarray
    crop: CropBox
    K: np.ndarray
    K_given: bool
    image_size: tuple[int, int]  # (width, height) of the photo
    extra: dict[str, Any] = field(default_factory=dict)  # model, handedness, p_left, detection_score, ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (lists of floats; the mesh itself goes to a mesh file)."""
        r = lambda a, d=5: np.round(np.asarray(a, np.float64), d).tolist()  # noqa: E731
        return {"joints2d": r(self.joints2d, 2), "joints3d": r(self.joints3d, 5), "root": r(self.root, 5),
                "box": r(self.box, 2), "crop": {"cx": round(self.crop.cx, 2), "cy": round(self.crop.cy, 2),
                                                "side": round(self.crop.side, 2)},
                "K": r(self.K, 3), "K_given": self.K_given, "image_size": list(self.image_size),
                "num_vertices": int(len(self.vertices)), **self.extra}


K_FOCAL_RANGE = (0.01, 100.0)  # focal lengths, times the image's longer side (fields of view ~178 to ~0.6 deg)
K_CENTRE_RANGE = (-1.0, 2.0)  # principal point, in image widths / heights (up to one image outside it)


def check_K(K, width: int, height: int) -> np.ndarray:
    """(3, 3) intrinsics from a 3x3 array or (fx, fy, cx, cy), checked: finite, last row
    (0, 0, 1) and no lower-triangle terms, focal lengths within ``K_FOCAL_RANGE`` times the
    image's longer side, principal point within ``K_CENTRE_RANGE`` of the image's size."""
    try:
        a = np.asarray(K, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"K must be fx,fy,cx,cy or a 3x3 matrix of numbers, got {K!r}") from None
    if a.shape == (4,):
        fx, fy, cx, cy = a
        a = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    if a.shape != (3, 3):
        raise ValueError(f"K must be fx,fy,cx,cy or a 3x3 matrix, got shape {np.shape(K)}")
    if not np.isfinite(a).all():
        raise ValueError(f"K has non-finite values ({', '.join(f'{v:g}' for v in a.ravel())})")
    if a[1, 0] != 0 or a[2, 0] != 0 or a[2, 1] != 0 or a[2, 2] != 1:
        raise ValueError(f"K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]]; got rows {a[1].tolist()}, {a[2].tolist()}")
    side = float(max(width, height))
    lo, hi = K_FOCAL_RANGE
    for f in (a[0, 0], a[1, 1]):
        if not lo * side <= f <= hi * side:
            raise ValueError(f"K's focal length {f:g} px is outside {lo * side:g}..{hi * side:g} px (from "
                             f"{lo:g} to {hi:g} times the {width}x{height} image's longer side)")
    lo, hi = K_CENTRE_RANGE
    if not (lo * width <= a[0, 2] <= hi * width and lo * height <= a[1, 2] <= hi * height):
        raise ValueError(f"K's principal point ({a[0, 2]:g}, {a[1, 2]:g}) lies more than one image size outside "
                         f"the {width}x{height} image")
    return a


def check_hand(hand) -> None:
    """``hand`` must be None, 'left' or 'right'."""
    if hand not in (None, "left", "right"):
        raise ValueError(f"hand must be 'left' or 'right', got {hand!r}")


def mirror_K(K: np.ndarray, width: int) -> np.ndarray:
    """Intrinsics of the horizontally mirrored image (u -> W - 1 - u) seeing the scene mirrored
    in x: principal point ``cx -> W - 1 - cx`` and skew negated."""
    M = np.array(K, np.float64, copy=True)
    M[0, 2] = width - 1 - M[0, 2]
    M[0, 1] = -M[0, 1]
    return M


def mirror_crop(crop: CropBox, width: int) -> CropBox:
    """The same window in the horizontally mirrored image."""
    return CropBox(width - 1 - crop.cx, crop.cy, crop.side, -crop.rot)


def mirror_result(r: HandResult, K: np.ndarray, crop: CropBox, box: np.ndarray) -> HandResult:
    """A hand reconstructed in the mirrored image, mirrored back: camera-space x negated, 2D
    u -> W - 1 - u, faces' winding reversed (so normals still point outwards); ``K``, ``crop``
    and ``box`` are the original image's."""
    w = r.image_size[0]
    flip = np.array([-1.0, 1.0, 1.0], np.float32)
    j2 = r.joints2d.copy()
    j2[:, 0] = w - 1 - j2[:, 0]
    return replace(r, vertices=r.vertices * flip, joints3d=r.joints3d * flip, root=r.root * flip, joints2d=j2,
                   faces=np.ascontiguousarray(r.faces[:, ::-1]), K=K, crop=crop, box=np.asarray(box, np.float32))


class Predictor:
    """A network (or any runner with its output dict) behind ``predict``.

    ``model``: a :class:`~mobrecon.models.mobrecon_net.MobRecon` (eval mode, torch) or a runner
    from :func:`mobrecon.infer.backends.make_runner`; ``faces`` (F, 3) of the hand model;
    ``input_size`` the crop size; ``name`` for the outputs' provenance; ``detector`` an optional
    :class:`~mobrecon.detect.detector.HandDetector` that places the crop when no box is given;
    ``handedness`` an optional :class:`~mobrecon.detect.handedness.HandednessClassifier` that
    says, crop by crop, whether a hand is left when the caller does not; ``presence`` an
    optional :class:`~mobrecon.detect.presence.PresenceHead` on the same encoder that re-scores
    the detector's candidates; ``refine``: whether :meth:`predict_hands` re-boxes candidates
    from their reconstructed 2D joints and re-weights them by ``presence`` (see
    ``REFINE_CANDIDATES``; on by default: on the signer frames' test split AP@0.5 against every
    hand goes from 0.73 to 0.81 re-boxed, 0.84 with the shipped presence head; docs/DETECTION.md).
    """

    def __init__(self, model: Any, faces: np.ndarray | None = None, input_size: int | None = None, name: str = "",
                 detector: HandDetector | None = None, handedness: HandednessClassifier | None = None,
                 net: Any = None, presence: PresenceHead | None = None, refine: bool = True) -> None:
        self.model = model
        if faces is None:
            faces = model.faces.cpu().numpy()
        self.faces = np.asarray(faces, np.int64)
        self.input_size = int(input_size or model.cfg.input_size)
        self.name = name
        self.detector = detector
        self.handedness = handedness
        self.presence = presence
        self.refine = bool(refine)
        if net is None:
            net = TorchRunner(model) if isinstance(model, torch.nn.Module) else model
        self.net = net  # numpy in, numpy out (see mobrecon.infer.backends / ort_net)

    @property
    def backend(self) -> str:
        """Where the network runs: 'onnx', 'onnx-int8' or 'torch' (or a custom runner's name)."""
        return str(getattr(self.net, "backend", "custom"))

    # -- the network -----------------------------------------------------------------------

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, 3, S, S) float32 -> numpy outputs (uv, joints2d, vertices, joints3d)."""
        return self.net(batch)

    def _run_prepared(self, chunk: list[dict]) -> dict[str, np.ndarray]:
        """The network on prepared hands; when every one was already encoded (the handedness
        head's pass, see :meth:`_prepare`), only the rest of the network runs."""
        if chunk and all("encoded" in p for p in chunk):
            parts = [p["encoded"] for p in chunk]
            enc = parts[0] if len(parts) == 1 else tuple(np.concatenate(t) for t in zip(*parts))
            return self.net.decode(enc)
        return self._run(np.stack([p["input"] for p in chunk]))

    def _shares_encoder(self) -> bool:
        """Whether the handedness head reads this very network's encoder, so that one encoder
        pass over a crop and its mirror image serves both the head and the reconstruction."""
        enc = getattr(self.handedness, "encoder", None)
        return enc is not None and hasattr(self.net, "decode") and getattr(self.net, "encoder_ref", None) is enc

    # -- crops -----------------------------------------------------------------------------

    def crop_for(self, width: int, height: int, box=None, margin: float = BOX_MARGIN) -> tuple[CropBox, np.ndarray]:
        return crop_for(width, height, box, margin)

    def predict(self, image: ImageLike, box: BoxLike | None = None, K: KLike | None = None,
                hand: HandSide | None = None) -> HandResult:
        """One hand from one image. ``box`` (x0, y0, x1, y1) pixels around the hand (None: the
        best hand the attached detector finds; with no detector, or no hand found, the whole
        image is the crop and ``extra['detection']`` says so); ``K`` (3, 3) or (fx, fy, cx, cy)
        (None: a typical camera); ``hand``: ``'left'`` or ``'right'``, else (None) the
        handedness classifier's call on the crop, else the detector's, else right."""
        check_hand(hand)
        if box is None and self.detector is not None:
            rgb = read_image(image)
            hands = self.predict_hands(rgb, K=K, max_hands=1, hand=hand)
            if hands:
                return hands[0]
            result = self.predict_batch([rgb], [None], [K], hands=[hand])[0]
            result.extra["detection"] = NO_HAND
            return result
        return self.predict_batch([image], [box], [K], hands=[hand])[0]

    @property
    def hand_threshold(self) -> float:
        """The score a hand needs in :meth:`predict_hands`: the presence head's calibrated
        threshold for the combined score when one is attached (and refining is on), else the
        detector's."""
        if self.refine and self.presence is not None and "threshold" in getattr(self.presence, "meta", {}):
            return float(self.presence.meta["threshold"])
        return float(getattr(self.detector, "threshold", 0.0) or 0.0)

    def predict_hands(self, image: ImageLike, K: KLike | None = None, threshold: float | None = None,
                      max_hands: int | None = None, hand: HandSide | None = None) -> list[HandResult]:
        """Every hand found in ``image`` with a score of at least ``threshold`` (default:
        :attr:`hand_threshold`), best first, at most ``max_hands``; left hands go through the
        right-hand network mirrored (``hand``: ``'left'``/``'right'`` for every hand, else the
        handedness classifier's call per hand, else the detector's). With ``refine`` (on by
        default) the detector's candidates are reconstructed first: each hand's box moves half-way
        to the whole-hand box of its 2D joints, its score is the detector's re-weighted by the
        presence head where one is attached, and duplicates are dropped (for one hand, at most
        ``ONE_HAND_CANDIDATES`` are weighed). Each result's ``extra`` holds ``handedness``,
        ``detection_score`` (the score compared with the threshold) and, where they apply,
        ``p_left``, ``p_hand``, ``detector_score`` and ``hand_box`` (the refined box; ``box``
        stays the detector's box that placed the crop). An image without a hand gives an empty
        list (and an INFO log line), not an exception."""
        check_hand(hand)
        if self.detector is None:
            raise ValueError("this predictor has no hand detector attached; pass a box, or load one "
                             "(mobrecon.detect.detector.HandDetector.load())")
        rgb = read_image(image)
        if self.refine:
            if self.presence is None:  # the scores stay the detector's (None: its own threshold): nothing
                # under the threshold can pass, and the best candidate is never a duplicate of a better one
                thr = None
                found = self.detector.detect(rgb, threshold=threshold)[:1 if max_hands == 1 else REFINE_CANDIDATES]
            else:
                thr = self.hand_threshold if threshold is None else float(threshold)
                # candidates on the detector's own scale (the threshold is the combined score's)
                floor = min(thr, float(getattr(self.detector, "threshold", thr) or thr))
                found = self.detector.detect(rgb, threshold=CANDIDATE_SHARE * floor)[:REFINE_CANDIDATES]
                # a candidate whose score would stay under thr even with P(hand) = 1 is left out
                found = [d for d in found if self._score_bound(d.score) >= thr]
        else:  # the detector as it is (None: its own threshold)
            found = self.detector.detect(rgb, threshold=threshold)[:max_hands]
        if self.refine and self.presence is not None and max_hands == 1:
            results = self._best_candidates(rgb, found[:ONE_HAND_CANDIDATES], K, hand)
        else:
            results = self._hands_from(rgb, found, K, hand) if found else []
        if self.refine:
            results = [r for r in self._refined(results) if thr is None or r.extra["detection_score"] >= thr]
            results = results[:max_hands]
        if not results:
            LOG.info("%s (%dx%d image)", NO_HAND, rgb.shape[1], rgb.shape[0])
        return results

    @property
    def _mix(self) -> float:
        """The presence head's share of the combined score."""
        return float(getattr(self.presence, "meta", {}).get("mix", DEFAULT_MIX))

    def _score_bound(self, detector_score: float) -> float:
        """The most a candidate can score once re-weighted by the presence head (P(hand) = 1)."""
        return float(combined_score(detector_score, 1.0, self._mix))

    def _hand_score(self, r: HandResult) -> float:
        """A reconstructed candidate's score: the detector's, re-weighted by P(hand) where the
        presence head gave one (before :meth:`_refined` stores it as ``detection_score``)."""
        det = r.extra["detection_score"]
        return float(combined_score(det, r.extra["p_hand"], self._mix)) if "p_hand" in r.extra else det

    def _best_candidates(self, rgb: np.ndarray, found: list, K, hand: HandSide | None) -> list[HandResult]:
        """For one hand: candidates reconstructed one by one, best detector score first, until the
        next one could not beat the best re-weighted score so far (exact: the best hand is the
        one that reconstructing them all would give)."""
        results: list[HandResult] = []
        best = -1.0
        for d in found:
            if self._score_bound(d.score) <= best:
                break
            r = self._hands_from(rgb, [d], K, hand)[0]
            best = max(best, self._hand_score(r))
            results.append(r)
        return results

    def _hands_from(self, rgb: np.ndarray, found: list, K, hand: HandSide | None) -> list[HandResult]:
        """Each detection's hand, reconstructed (one batch) from the detector's box."""
        lefts = [self._given_left(hand, d.left) for d in found]
        features = self.refine and self.presence is not None
        prepared = [self._prepare(rgb, d.box, K, left=left, margin=DETECTION_MARGIN, features=features)
                    for d, left in zip(found, lefts)]
        out = self._run_prepared(prepared)
        results = []
        for i, (p, d) in enumerate(zip(prepared, found)):
            r = self._finish(p, {k: v[i] for k, v in out.items()})
            r.extra["detection_score"] = round(float(d.score), 4)
            if "features" in p:
                r.extra["p_hand"] = round(float(self.presence.prob_arrays(*p["features"])[0]), 4)
            results.append(r)
        return results

    def _refined(self, results: list[HandResult]) -> list[HandResult]:
        """Candidates -> hands: each one's box moved towards its 2D joints' whole-hand box, its
        score re-weighted by P(hand), best first, duplicates (by the refined boxes) dropped."""
        if not results:
            return []
        rows = []
        for i, r in enumerate(results):
            det, score = r.extra["detection_score"], self._hand_score(r)
            box = (1 - REFINE_BLEND) * r.box.astype(np.float64) + REFINE_BLEND * joints_hand_box(r.joints2d)
            r.extra.update(detector_score=det, detection_score=round(score, 4), hand_box=np.round(box, 2).tolist())
            rows.append([*box, score, i])
        rows = np.array(rows, np.float64)
        rows = suppress(rows[np.argsort(-rows[:, 4], kind="stable")], REFINE_NMS_IOU, REFINE_INSIDE)
        return [results[int(i)] for i in rows[:, 5]]

    @overload
    def predict_batch(self, images: Sequence[ImageLike], boxes: Sequence[BoxLike | None] | None = ...,
                      Ks: Sequence[KLike | None] | None = ..., batch_size: int = ...,
                      hands: Sequence[HandSide | None] | None = ...,
                      errors: Literal["raise"] = ...) -> list[HandResult]: ...

    @overload
    def predict_batch(self, images: Sequence[ImageLike], boxes: Sequence[BoxLike | None] | None = ...,
                      Ks: Sequence[KLike | None] | None = ..., batch_size: int = ...,
                      hands: Sequence[HandSide | None] | None = ...,
                      *, errors: Literal["keep"]) -> list[HandResult | Exception]: ...

    def predict_batch(self, images: Sequence[ImageLike], boxes: Sequence[BoxLike | None] | None = None,
                      Ks: Sequence[KLike | None] | None = None, batch_size: int = 32,
                      hands: Sequence[HandSide | None] | None = None,
                      errors: Literal["raise", "keep"] = "raise") -> list[Any]:
        """Many images at once (batched through the network, ``batch_size`` crops at a time);
        ``hands``: per image ``'left'``, ``'right'`` or None (the handedness classifier's call,
        else right). A bad image (unreadable, a bad box or K, a non-finite result) raises its
        ValueError / FileNotFoundError naming the image's index (``errors="raise"``), or with
        ``errors="keep"`` that exception takes the image's place in the list and the other
        images are still done."""
        if errors not in ("raise", "keep"):
            raise ValueError(f"errors must be 'raise' or 'keep', got {errors!r}")
        n = len(images)
        boxes = list(boxes) if boxes is not None else [None] * n
        Ks = list(Ks) if Ks is not None else [None] * n
        hands = list(hands) if hands is not None else [None] * n
        if len(boxes) != n or len(Ks) != n or len(hands) != n:
            raise ValueError(f"got {n} images but {len(boxes)} boxes, {len(Ks)} intrinsics and {len(hands)} hands")
        for h in hands:
            check_hand(h)
        results: list = [None] * n

        def failed(i: int, e: Exception) -> None:
            if errors == "raise":
                if n == 1:
                    raise e
                raise type(e)(f"image {i} of {n}: {e}") from None
            results[i] = e

        prepared = []
        for i, (img, b, k, h) in enumerate(zip(images, boxes, Ks, hands)):
            try:
                prepared.append((i, self._prepare(img, b, k, left=self._given_left(h))))
            except (ValueError, FileNotFoundError) as e:
                failed(i, e)
        for s in range(0, len(prepared), batch_size):
            chunk = prepared[s:s + batch_size]
            out = self._run_prepared([p for _, p in chunk])
            for j, (i, p) in enumerate(chunk):
                try:
                    results[i] = self._finish(p, {k: v[j] for k, v in out.items()})
                except ValueError as e:
                    failed(i, e)
        return results

    def _given_left(self, hand: str | None, detector_left: bool = False) -> bool | None:
        """Whether a hand is left as far as known before its crop is seen: as ``hand`` says; None
        (the classifier decides in :meth:`_prepare`) when a classifier is attached; else the
        detector's call (``detector_left``; False without one)."""
        if hand is not None:
            return hand == "left"
        return None if self.handedness is not None else bool(detector_left)

    def _prepare(self, image, box, K, crop: CropBox | None = None, left: bool | None = False,
                 margin: float = BOX_MARGIN, features: bool = False) -> dict:
        """The network input and bookkeeping for one hand; ``left``: the crop is taken from the
        mirrored image (and :meth:`_finish` mirrors the result back); None: the attached
        handedness classifier decides from the crop (``p_left`` records its probability).
        ``features``: keep the encoder features of the crop and its mirror image
        (``p["features"]``, for the presence head) where that pass can be shared."""
        rgb = read_image(image)
        h, w = rgb.shape[:2]
        if crop is None:
            crop, used_box = self.crop_for(w, h, box, margin)
        else:
            used_box = np.array(crop.corners())
        K_used = check_K(K, w, h) if K is not None else default_intrinsics(w, h)
        p = {"crop": crop, "box": used_box, "K": K_used, "K_given": K is not None, "size": (w, h),
             "p_left": None, "net_crop": crop, "net_K": K_used}
        if (left is None or features) and self.handedness is not None and self._shares_encoder():
            # one encoder pass over the crop and the mirrored one: the head decides, and the
            # chosen half's encoding goes on through the rest of the network
            pair = np.stack([to_tensor_image(crop_image(rgb, crop, self.input_size)),
                             to_tensor_image(crop_image(rgb[:, ::-1], mirror_crop(crop, w), self.input_size))])
            enc = self.net.encode(pair)
            f = encoded_features_np(enc)
            if features:
                p["features"] = (f[:1], f[1:])
            if left is None:
                p["p_left"] = float(self.handedness.prob_left_arrays(f[:1], f[1:])[0])
            k = int(p["p_left"] >= 0.5) if left is None else int(bool(left))
            p["encoded"] = tuple(t[k:k + 1] for t in enc)
            p["input"] = pair[k]
            left = bool(k)
        elif left is None and self.handedness is not None:
            p["p_left"] = float(self.handedness.prob_left(rgb, [crop])[0])
            left = p["p_left"] >= 0.5
        p["left"] = left = bool(left)
        if left:
            p["net_crop"], p["net_K"] = mirror_crop(crop, w), mirror_K(K_used, w)
            rgb = rgb[:, ::-1]
        if "input" not in p:
            p["input"] = to_tensor_image(crop_image(rgb, p["net_crop"], self.input_size))
        return p

    def _finish(self, p: dict, out: dict) -> HandResult:
        if not all(np.isfinite(out[k]).all() for k in ("joints2d", "joints3d", "vertices")):
            raise ValueError("the network's outputs are non-finite (inf or NaN); nothing to place in the camera")
        h = uncrop_hand(out["joints2d"], out["joints3d"], out["vertices"],
                        crop_matrix(p["net_crop"], self.input_size), p["net_K"])
        j2, rel_j, rel_v, root = h["joints2d"], h["joints3d_rel"], h["vertices_rel"], h["root"]
        r = HandResult(vertices=(rel_v + root).astype(np.float32), faces=self.faces,
                       joints3d=(rel_j + root).astype(np.float32), joints2d=j2.astype(np.float32),
                       root=root.astype(np.float32), box=p["box"].astype(np.float32), crop=p["net_crop"],
                       K=p["net_K"], K_given=p["K_given"], image_size=p["size"],
                       extra={"model": self.name, "handedness": "left" if p["left"] else "right"})
        if p["p_left"] is not None:
            r.extra["p_left"] = round(p["p_left"], 4)
        if not all(np.isfinite(a).all() for a in (r.vertices, r.joints3d, r.joints2d, r.root)):
            raise ValueError("the reconstruction came out non-finite (inf or NaN); check K "
                             f"(fx={p['K'][0, 0]:g}, fy={p['K'][1, 1]:g}, cx={p['K'][0, 2]:g}, cy={p['K'][1, 2]:g})")
        return mirror_result(r, p["K"], p["crop"], p["box"]) if p["left"] else r

    # -- video -----------------------------------------------------------------------------

    def predict_video(self, frames: Iterable[ImageLike], box: BoxLike | None = None, K: KLike | None = None,
                      fps: float = 30.0, margin: float = BOX_MARGIN,
                      hand: HandSide | None = None) -> tuple[list[HandResult], dict[str, Any]]:
        """Frame by frame, each frame's crop placed around the previous frame's 2D joints (the
        first frame: ``box``, else the best hand :meth:`predict_hands` finds, else the whole frame).
        With a detector, tracking counts as lost when the hand leaves the frame or the 2D joints
        no longer look like a hand in the crop (their box under 15 % or over 150 % of the crop's
        side); the detector then runs on the next frame. Handedness (``hand``, else the
        classifier's, else the detector's call) is decided when the hand is (re)found and kept
        while it is tracked.
        Returns the per-frame results and a report with the outputs' mean acceleration:
        ``accel2d_px_s2`` and ``accel3d_mm_s2`` (wrist-relative joints) at ``fps``, and
        ``detector_runs``. ``hand``: 'left' or 'right' for every frame.
        """
        check_hand(hand)
        results: list[HandResult] = []
        detector_runs = 0
        left, lost = False, True
        for frame in frames:
            crop = None
            if results and not lost:  # track: the crop around the previous frame's 2D joints
                prev = results[-1]
                crop = hand_box(prev.joints2d, margin=margin)
                x0, y0, x1, y1 = crop.corners()
                w, h = prev.image_size
                if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                    crop = None  # the hand left the frame: start over
            frame_box = box if not results or self.detector is None else None
            found = []
            if crop is None and frame_box is None and self.detector is not None:
                # (re)finding the hand: as predict does (candidates weighed, handedness decided)
                frame = read_image(frame)
                detector_runs += 1
                found = self.predict_hands(frame, K, max_hands=1, hand=hand)
            if found:
                r = found[0]
                left = r.extra["handedness"] == "left"
            else:
                if crop is None:
                    left = self._given_left(hand)
                p = self._prepare(frame, frame_box if crop is None else None, K, crop, left=left, margin=BOX_MARGIN)
                left = p["left"]  # a tracked hand keeps the handedness found when it was (re)found
                out = self._run_prepared([p])
                r = self._finish(p, {k: v[0] for k, v in out.items()})
            results.append(r)
            spread = float(np.max(r.joints2d.max(0) - r.joints2d.min(0)))
            lost = self.detector is not None and not (0.15 <= spread / r.crop.side <= 1.5)
        report = {"frames": len(results), "fps": fps, "detector_runs": detector_runs}
        if len(results) >= 3:
            j2 = np.stack([r.joints2d for r in results])
            j3 = np.stack([r.joints3d - r.joints3d[:1] for r in results]) * 1000.0
            report.update(accel2d_px_s2=round(accel(j2, fps), 3), accel3d_mm_s2=round(accel(j3, fps), 3))
        return results, report


def load_detector(detector="auto"):
    """``"auto"``: the shipped hand detector where the package has its weights, else None;
    None / False: none; a path: that detector file; a HandDetector: itself."""
    if detector is None or detector is False:
        return None
    if isinstance(detector, HandDetector):
        return detector
    if isinstance(detector, str) and detector == "auto":
        return HandDetector.load() if HandDetector.available() else None
    return HandDetector.load(detector)


def load_handedness(handedness, model):
    """A handedness classifier on ``model``'s encoder (a MobRecon). ``"auto"``: the shipped head
    fitted on these very encoder weights (matched by fingerprint), else None; None / False:
    none; a path: that head file (a one-line error if it was fitted on another encoder); a
    HandednessClassifier: itself."""
    if handedness is None or handedness is False:
        return None
    if isinstance(handedness, HandednessClassifier):
        return handedness
    if isinstance(handedness, str) and handedness == "auto":
        found = _head_for(shipped_heads(), load_head, encoder_fingerprint(model.encoder))
        return None if found is None else HandednessClassifier(model.encoder, found[0], input_size=model.cfg.input_size,
                                                               meta=found[1])
    return HandednessClassifier.load(handedness, model)


def _head_for(paths, loader, fingerprint: str):
    """(head, meta) of the first head file in ``paths`` (read by ``loader``) fitted on the encoder
    with this ``fingerprint``, else None."""
    for path in paths:
        head, theirs, meta = loader(path)
        if theirs == fingerprint:
            return head, meta
    return None


def load_presence_head(presence, model) -> PresenceHead | None:
    """A presence head for ``model``'s encoder (a MobRecon): ``"auto"``: the shipped head fitted
    on these very encoder weights (matched by fingerprint), else None; None / False: none; a
    path: that head file (a one-line error if it was fitted on another encoder); a
    PresenceHead: itself. The file's meta (``mix``, ``threshold``) rides along as ``head.meta``."""
    if presence is None or presence is False:
        return None
    if isinstance(presence, PresenceHead):
        return presence
    mine = encoder_fingerprint(model.encoder)
    if isinstance(presence, str) and presence == "auto":
        found = _head_for(shipped_presence_heads(), load_presence, mine)
        if found is None:
            return None
        head, meta = found
    else:
        head, fingerprint, meta = load_presence(presence)
        if fingerprint != mine:
            raise ValueError(f"{presence}: this presence head was fitted on the encoder of "
                             f"{meta.get('model', 'another model')} (fingerprint {fingerprint}), "
                             f"not on this model's ({mine})")
    head.meta = meta
    return head


BACKEND_CHOICES = ("auto", "onnx", "torch", "onnx-int8")


def ort_available() -> bool:
    """Whether ONNX Runtime can be imported here."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _on_ort(model, det, threads: int | None, backend: str):
    """(the network's runner, the detector) on ONNX Runtime, or None when ``backend`` is
    'auto' and ONNX Runtime is missing or the export fails (a warning says why)."""
    if backend == "auto" and not ort_available():
        LOG.warning("onnxruntime is not installed: predicting with PyTorch eager (slower)")
        return None
    if backend == "onnx":  # asked for by name: a missing package is a one-line MissingExtraError
        require("onnxruntime", "The onnx backend", extra="export")
        require("onnx", "Exporting the network for the onnx backend", extra="export")
    try:
        return OrtNet(model, threads), (OrtHandDetector.from_detector(det, threads) if det is not None else None)
    except (RuntimeError, ValueError, OSError, ImportError) as e:
        if backend != "auto":
            raise
        LOG.warning("ONNX export failed, predicting with PyTorch eager instead (%s)", str(e).splitlines()[0][:200])
        return None


def load(name_or_path: str | os.PathLike[str] = "mobrecon_ghoststack",
         backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto", threads: int | None = None,
         detector: str | os.PathLike[str] | HandDetector | None = "auto",
         handedness: str | os.PathLike[str] | HandednessClassifier | None = "auto",
         presence: str | os.PathLike[str] | PresenceHead | None = "auto", refine: bool = True) -> Predictor:
    """A :class:`Predictor` from a registered model name (its shipped weights), a model file
    or a stage-2 checkpoint, with the shipped hand detector and the shipped handedness head for
    its encoder attached where they exist (``detector``: see :func:`load_detector`;
    ``handedness``: see :func:`load_handedness`; ``presence``: see :func:`load_presence_head`;
    ``refine``: see :meth:`Predictor.predict_hands`). Never downloads anything.

    ``backend``: 'auto' (default): ONNX Runtime where it is installed (network, detector and
    the handedness head's encoder pass; the graphs are exported at first use and cached, see
    :mod:`mobrecon.infer.ort_cache`), else PyTorch eager; 'onnx': ONNX Runtime or an error;
    'torch': PyTorch eager; 'onnx-int8': an int8 graph quantised now (slow to make, see the
    README: fp32 is the one to use). ``threads``: CPU threads (None: ``$MOBRECON_THREADS``,
    else 2 on ONNX Runtime, without spinning, and 1 for PyTorch; see :mod:`mobrecon.infer.threads`)."""
    if backend not in BACKEND_CHOICES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_CHOICES)}, got {backend!r}")
    key = str(name_or_path)
    path = weights_file(key)
    if path is None:
        raise FileNotFoundError(f"{key}: no trained weights are shipped for this model "
                                f"(expected {shipped_weights(key)}); pass a model file or checkpoint instead")
    model = load_model(path)
    name = key if key in names() else path.stem
    det, hands = load_detector(detector), load_handedness(handedness, model)
    extra = {"presence": load_presence_head(presence, model), "refine": refine}
    faces, size = model.faces.cpu().numpy(), model.cfg.input_size
    if backend in ("auto", "onnx"):
        on_ort = _on_ort(model, det, inference_threads(threads), backend)
        if on_ort is not None:
            net, ort_det = on_ort
            return Predictor(model, faces=faces, input_size=size, name=name, detector=ort_det, handedness=hands,
                             net=net, **extra)
    if backend == "onnx-int8":
        net = make_runner(model, backend=backend, threads=inference_threads(threads))
    else:
        net = TorchRunner(model, inference_threads(threads, "torch"))
    return Predictor(model, faces=faces, input_size=size, name=name, detector=det, handedness=hands, net=net,
                     **extra)
