"""``HandDetector``: a photo in, the hands' boxes, scores and handedness out.

The image is letterboxed (scaled so its longer side is the network's input size, 256, and
padded with mid-grey to a square), run through the CenterNet (:mod:`mobrecon.detect.centernet`),
and the heatmap peaks above ``threshold`` (3x3 max-pool suppression, :mod:`mobrecon.detect.decode`)
are mapped back to image pixels. Pixel centres sit at integer coordinates throughout, as in
:mod:`mobrecon.data.crop`.

``HandDetector.load()`` reads the shipped weights (``mobrecon/weights/hand_detector.pt``);
nothing is ever downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from mobrecon.data.crop import to_tensor_image
from mobrecon.detect.centernet import CLASS_NAMES, CenterNet
from mobrecon.detect.decode import decode, merge_mirrored
from mobrecon.detect.weights import load_detector_model, shipped_detector
from mobrecon.image import read_image

DEFAULT_THRESHOLD = 0.2  # chosen on a validation composite set (seed 2): precision 0.65, recall 0.48 (0.3: 0.89, 0.18)
PAD_VALUE = 127


@dataclass(frozen=True)
class Detection:
    """One hand: ``box`` (x0, y0, x1, y1) image pixels, ``score`` in [0, 1], ``handedness``
    'right' or 'left'."""

    box: tuple[float, float, float, float]
    score: float
    handedness: str

    @property
    def left(self) -> bool:
        return self.handedness == "left"

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4),
                "handedness": self.handedness}


def detection_array(found: Sequence[Detection]) -> np.ndarray:
    """Detections -> an (n, 5) float64 array of [x0, y0, x1, y1, score] (what the AP functions of
    :mod:`mobrecon.detect.ap` take)."""
    return np.array([[*d.box, d.score] for d in found], np.float64).reshape(-1, 5)


@dataclass(frozen=True)
class Letterbox:
    """How an image maps into the square network input: ``x_in = (u + 0.5) * scale_x - 0.5 + pad_x``
    (and likewise for y)."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """(n, 4) input-pixel boxes -> image-pixel boxes, clipped to the image."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] + 0.5 - self.pad_x) / self.scale_x - 0.5
        b[:, [1, 3]] = (b[:, [1, 3]] + 0.5 - self.pad_y) / self.scale_y - 0.5
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], -0.5, self.width - 0.5)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], -0.5, self.height - 0.5)
        return b


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 -> ((size, size, 3) uint8 scaled to fit and padded centred, the mapping)."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py:py + nh, px:px + nw] = small
    # the resize maps the image's extent [-0.5, W - 0.5] onto [-0.5, nw - 0.5]
    return out, Letterbox(nw / w, nh / h, px, py, w, h)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' (or None): CUDA when available, else the CPU; 'cpu', 'cuda', 'cuda:N' as given
    (a one-line error when CUDA is asked for but absent)."""
    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available here")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")


class HandDetector:
    """A CenterNet hand detector behind ``detect(image)``.

    ``model``: a :class:`~mobrecon.detect.centernet.CenterNet` (put in eval mode here);
    ``threshold``: the default minimum score; ``max_hands``: peaks considered per image;
    ``flip_test``: also run the network on the mirrored image and average the two views
    (:func:`~mobrecon.detect.decode.merge_mirrored`; twice the network's time). The scores
    change with it, so a detector file's calibrated threshold goes with its ``flip_test``.
    """

    def __init__(self, model: CenterNet, threshold: float = DEFAULT_THRESHOLD, max_hands: int = 10,
                 meta: dict | None = None, flip_test: bool = False):
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        self.model = model.eval()
        self.input_size = int(model.cfg.input_size)
        self.threshold = float(threshold)
        self.max_hands = int(max_hands)
        self.meta = meta or {}
        self.flip_test = bool(flip_test)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **kw) -> "HandDetector":
        """The shipped detector (``path`` None) or one from a detector file / training checkpoint;
        the score threshold is the file's calibrated one when it has one (``meta["threshold"]``),
        else :data:`DEFAULT_THRESHOLD`, unless ``threshold=`` is given; likewise ``flip_test``
        (``meta["flip_test"]``, the setting the threshold was calibrated with; off when absent)."""
        p = Path(path) if path is not None else shipped_detector()
        if path is None and not p.is_file():
            raise FileNotFoundError(f"no hand detector weights are shipped (expected {p}); "
                                    "train one with mobrecon detect-train")
        model, meta = load_detector_model(p)
        if "threshold" in meta:  # calibrated for these weights (mobrecon detect-calibrate)
            kw.setdefault("threshold", float(meta["threshold"]))
        kw.setdefault("flip_test", bool(meta.get("flip_test", False)))
        return cls(model, meta=meta, **kw)

    @property
    def device(self) -> torch.device:
        """Where the network runs (the CPU unless moved with :meth:`to`)."""
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> "HandDetector":
        """Run the network on ``device`` ('cpu', 'cuda', or 'auto': CUDA when available)."""
        self.model.to(resolve_device(device))
        return self

    @staticmethod
    def available() -> bool:
        """Whether the package ships detector weights."""
        return shipped_detector().is_file()

    def prepare(self, image) -> tuple[np.ndarray, Letterbox]:
        """An image (path, array or PIL) -> ((3, S, S) float32 network input, its letterbox)."""
        rgb = read_image(image)
        boxed, lb = letterbox(rgb, self.input_size)
        return to_tensor_image(boxed), lb

    def _network(self, x: np.ndarray) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) float32 inputs -> the heads' outputs (float32 CPU tensors; a subclass
        may return numpy arrays, see :mod:`mobrecon.detect.decode`)."""
        with torch.no_grad():
            out = self.model(torch.from_numpy(x).to(self.device))
        return {k: v.float().cpu() for k, v in out.items()}

    def detect(self, image, threshold: float | None = None) -> list[Detection]:
        """The hands in one image, best first (empty when there is none above ``threshold``)."""
        return self.detect_batch([image], threshold)[0]

    def detect_batch(self, images: Sequence, threshold: float | None = None) -> list[list[Detection]]:
        thr = self.threshold if threshold is None else float(threshold)
        prepared = [self.prepare(im) for im in images]
        if not prepared:
            return []
        x = np.stack([p[0] for p in prepared])
        if self.flip_test:  # one network call on the images and their mirror images
            out = merge_mirrored(self._network(np.concatenate([x, x[..., ::-1]])), len(x))
        else:
            out = self._network(x)
        results = []
        for dets, (_, lb) in zip(decode(out, thr, k=self.max_hands), prepared):
            boxes = lb.to_image(dets[:, :4])
            keep = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
            results.append([Detection(tuple(float(v) for v in b), float(d[4]), CLASS_NAMES[int(d[5])])
                            for b, d, k in zip(boxes, dets, keep) if k])
        return results
