"""Handedness: is the hand in a crop a left or a right hand?

The reconstruction network knows right hands only, so a left hand must be mirrored before it
goes in (:mod:`mobrecon.infer.predictor`), and something has to say which hands are left. The
detector's two heatmap classes cannot: at its 256-pixel whole-image input a hand is a few dozen
pixels, and its handedness stayed at chance. What tells the two apart is subtle -- a right palm
and a left back of the hand put the thumb on the same side, so it takes where the thumb is
*and* whether the palm or the back faces the camera -- and a small network trained on the label
alone learnt it slowly (66 % after 36 CPU minutes).

The reconstruction network's encoder already knows hands well (it places the joints of a right
hand to a few pixels). So the classifier is a linear read-out of that encoder's features, made
mirror-antisymmetric::

    f(x)     = [latent (B, C, 4, 4) flattened, the 2D map (B, M, 16, 16) averaged]   (B, D)
    logit(x) = w . (s * (f(x) - f(mirror(x))))              P(left) = sigmoid(logit)

``mirror`` flips the crop left-right; ``s`` (D,) is a fixed per-feature scale and ``w`` (D,) the
learnt weights. By construction ``logit(mirror(x)) = -logit(x)``: a crop and its mirror image
always get opposite answers, and no bias can make every hand "right". It costs one encoder pass
over the crop and its mirror (a batch of two).

:class:`HandednessHead` holds ``s`` and ``w`` (a few kB; :mod:`mobrecon.detect.handedness_train`
fits them on generated hands). A head is tied to the encoder weights it was fitted on: its file
records their fingerprint (:func:`encoder_fingerprint`), and loading it against another encoder
is a clear error. :class:`HandednessClassifier` pairs an encoder with its head and takes crops.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from mobrecon.data.crop import CropBox, crop_for, crop_image, to_tensor_image
from mobrecon.models.weights import read_blob, write_weights

FORMAT = "mobrecon-handedness-2"


def encoded_features(encoded) -> torch.Tensor:
    """An encoder's output (``(latent, map)`` or ``latent``) -> (B, D) features: the latent map
    flattened and, where there is one, the 2D map averaged over space."""
    latent, fmap = encoded if isinstance(encoded, tuple) else (encoded, None)
    parts = [latent.flatten(1)] + ([fmap.mean(dim=(2, 3))] if fmap is not None else [])
    return torch.cat(parts, dim=1)


def encoded_features_np(encoded: tuple[np.ndarray, ...]) -> np.ndarray:
    """:func:`encoded_features` on numpy arrays (an ONNX encoder's outputs): (latent[, map]) -> (B, D)."""
    latent = encoded[0]
    parts = [latent.reshape(len(latent), -1)] + [m.mean(axis=(2, 3)) for m in encoded[1:2]]
    return np.concatenate(parts, axis=1)


def encoder_features(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) normalised crops -> (B, D) features (:func:`encoded_features`)."""
    return encoded_features(encoder(x))


def encoder_fingerprint(encoder: nn.Module) -> str:
    """A short hash of the encoder's weights (as float16, so a model read from its float16 file
    and the network it was saved from agree)."""
    h = hashlib.sha1()
    for k, v in sorted(encoder.state_dict().items()):
        h.update(k.encode())
        t = v.detach().cpu()
        h.update((t.to(torch.float16) if t.is_floating_point() else t).numpy().tobytes())
    return h.hexdigest()[:16]


class HandednessHead(nn.Module):
    """(B, D) features of crops and (B, D) of their mirror images -> (B,) logits of "left":
    ``weight . (scale * (fa - fb))``."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(dim))
        self.weight = nn.Parameter(torch.zeros(dim))

    @property
    def dim(self) -> int:
        return int(self.weight.numel())

    def forward(self, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        return ((fa - fb) * self.scale) @ self.weight


def shipped_handedness(model_name: str = "mobrecon_ghoststack") -> Path:
    """Where the package keeps the handedness head fitted on a registered model's shipped weights."""
    return Path(__file__).resolve().parents[1] / "weights" / f"handedness_{model_name}.pt"


def shipped_heads() -> list[Path]:
    """Every handedness head the package ships."""
    return sorted(shipped_handedness().parent.glob("handedness_*.pt"))


def write_encoder_head(path: str | os.PathLike, head: nn.Module, fmt: str, fingerprint: str,
                       meta: dict | None = None) -> Path:
    """Write a read-out head of an encoder (``head.dim`` features; float32: a few kB), its file
    format and the fingerprint of its encoder, atomically (handedness and presence heads)."""
    return write_weights(path, head, {"format": fmt, "dim": head.dim, "fingerprint": fingerprint,
                                      "meta": meta or {}}, torch.float32)


def read_encoder_head(path: str | os.PathLike, fmt: str, make, what: str) -> tuple[nn.Module, str, dict]:
    """(head, encoder fingerprint, meta) from a file written by :func:`write_encoder_head` in
    format ``fmt``; ``make(dim)`` builds the empty head; ``what`` names the kind in errors."""
    path = Path(path)
    blob = read_blob(path, what)
    if not (isinstance(blob, dict) and blob.get("format") == fmt):
        raise ValueError(f"{path}: not a mobrecon {what} file")
    try:
        head = make(int(blob["dim"]))
        head.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: {what} head missing or invalid ({str(e).splitlines()[0]})") from None
    return head.eval(), str(blob.get("fingerprint", "")), dict(blob.get("meta") or {})


def save_head(path: str | os.PathLike, head: HandednessHead, fingerprint: str, meta: dict | None = None) -> Path:
    """Write the head and the fingerprint of its encoder, atomically."""
    return write_encoder_head(path, head, FORMAT, fingerprint, meta)


def load_head(path: str | os.PathLike) -> tuple[HandednessHead, str, dict]:
    """(head, encoder fingerprint, meta) from a handedness file."""
    return read_encoder_head(path, FORMAT, HandednessHead, "handedness")


class HandednessClassifier:
    """A reconstruction encoder and the head fitted on it: crops -> P(left hand).

    ``encoder``: the encoder of a :class:`~mobrecon.models.mobrecon_net.MobRecon` (used in eval
    mode, not modified); ``head``: a :class:`HandednessHead` of matching feature size.
    """

    def __init__(self, encoder: nn.Module, head: HandednessHead, input_size: int = 128, meta: dict | None = None,
                 batch_size: int = 32):
        self.encoder, self.head = encoder, head.eval()
        self.input_size, self.batch_size = int(input_size), int(batch_size)
        self.meta = meta or {}

    @classmethod
    def load(cls, path: str | os.PathLike, model) -> "HandednessClassifier":
        """The head in ``path`` on ``model``'s encoder (a MobRecon); a head fitted on other
        encoder weights is a one-line ValueError."""
        head, fingerprint, meta = load_head(path)
        mine = encoder_fingerprint(model.encoder)
        if fingerprint != mine:
            made_for = meta.get("model", "another model")
            raise ValueError(f"{path}: this handedness head was fitted on the encoder of {made_for} "
                             f"(fingerprint {fingerprint}), not on this model's ({mine})")
        return cls(model.encoder, head, input_size=model.cfg.input_size, meta=meta)

    def features(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, S, S) -> features of the crops and of their mirror images, (N, D) each."""
        was_training = self.encoder.training
        self.encoder.eval()
        fa, fb = [], []
        with torch.no_grad():
            for s in range(0, len(crops), self.batch_size):
                x = crops[s:s + self.batch_size]
                f = encoder_features(self.encoder, torch.cat([x, x.flip(-1)]))
                fa.append(f[:len(x)])
                fb.append(f[len(x):])
        self.encoder.train(was_training)
        return torch.cat(fa), torch.cat(fb)

    def prob_left_features(self, fa: torch.Tensor, fb: torch.Tensor) -> np.ndarray:
        """(N, D) features of crops and (N, D) of their mirror images -> (N,) P(left)."""
        with torch.no_grad():
            return torch.sigmoid(self.head(fa, fb)).numpy().astype(np.float64)

    def prob_left_arrays(self, fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
        """:meth:`prob_left_features` in numpy: (N, D) and (N, D) float arrays -> (N,) P(left)."""
        if not hasattr(self, "_np_head"):
            self._np_head = (self.head.scale.detach().double().numpy(), self.head.weight.detach().double().numpy())
        scale, weight = self._np_head
        logit = ((np.asarray(fa, np.float64) - fb) * scale) @ weight
        return 1.0 / (1.0 + np.exp(-logit))

    def prob_left_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) normalised crops -> (N,) probabilities of a left hand."""
        return self.prob_left_features(*self.features(torch.from_numpy(np.ascontiguousarray(crops, np.float32))))

    def prob_left(self, rgb: np.ndarray, crops: Sequence[CropBox]) -> np.ndarray:
        """(H, W, 3) uint8 image and N crop windows -> (N,) probabilities of a left hand."""
        if not len(crops):
            return np.zeros(0)
        x = np.stack([to_tensor_image(crop_image(rgb, c, self.input_size)) for c in crops])
        return self.prob_left_crops(x)

    def classify(self, rgb: np.ndarray, box: Sequence[float] | None = None) -> tuple[str, float]:
        """The hand in the (x0, y0, x1, y1) ``box`` of ``rgb`` (None: the whole image is the
        crop, for a close-up) -> ('left' | 'right', P(left)); the crop is the predictor's."""
        h, w = rgb.shape[:2]
        p = float(self.prob_left(rgb, [crop_for(w, h, box)[0]])[0])
        return ("left" if p >= 0.5 else "right"), p
