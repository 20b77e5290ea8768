"""Fitting and scoring a handedness head (:mod:`mobrecon.detect.handedness`) on a
reconstruction model's encoder.

1. Features: ``views`` augmented crops of every hand of the training sets
   (:class:`~mobrecon.detect.handedness_data.HandCrops`: right-hand stills mirrored half the
   time, composite hands as stored or mirrored), each with its mirror image, through the frozen
   encoder. They are written in parts of ``part_size`` crops (``DIR/features/part_NNNNN.npz``,
   atomically); a re-run skips the parts that exist, so an interrupted run resumes.
2. Fit: the scale ``s`` is 1 / the standard deviation of ``f(x) - f(mirror(x))`` per feature;
   ``w`` minimises the logistic loss of ``w . (s * (f(x) - f(mirror(x))))`` plus ``l2 |w|^2``
   (L-BFGS, full batch).
3. ``DIR/handedness.pt`` (the head, the encoder's fingerprint, meta with the training counts and
   the ``val`` sets' scores) and ``DIR/config.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mobrecon.detect.handedness import (HandednessClassifier, HandednessHead, encoder_fingerprint,
                                        save_head)
from mobrecon.detect.handedness_data import HandCrops
from mobrecon.io_utils import atomic_save_npz, atomic_write_text
from mobrecon.models.weights import resolve_model


@dataclass
class HandednessTrainConfig:
    """A handedness head fit."""

    data: str | list = "data/hand/train"   # still and/or composite sets: a list or "dir1,dir2"
    model: str = "mobrecon_ghoststack"     # a registered name (its shipped weights) or a model file
    val: str | None = None                 # sets scored at the end (comma-separated), kept in the meta
    views: int = 1                         # augmented crops per hand
    l2: float = 1e-3
    seed: int = 0
    batch_size: int = 32
    part_size: int = 2048
    threads: int | None = None
    max_iter: int = 500                    # L-BFGS iterations

    def check(self) -> None:
        if self.views < 1 or self.batch_size < 1 or self.part_size < 1 or self.l2 < 0 or self.max_iter < 1:
            raise ValueError("views, batch_size, part_size and max_iter must be positive and l2 >= 0")


def _crops_features(clf: HandednessClassifier, crops: HandCrops, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of the given crops and of their mirror images (N, D) float32 each, and labels (N,)."""
    items = [crops[int(i)] for i in indices]
    x = torch.from_numpy(np.stack([it["input"] for it in items]))
    fa, fb = clf.features(x)
    return fa.numpy(), fb.numpy(), np.array([it["left"] for it in items], np.float32)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float, max_iter: int,
                 bias: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """L2-regularised logistic regression by L-BFGS, full batch, in ``x``'s dtype: (N, D)
    inputs and (N,) 0 / 1 labels -> weights (D,) and, with ``bias``, the bias (else None),
    minimising the mean logistic loss of ``x @ w (+ b)`` plus ``l2 |w|^2``."""
    w = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, requires_grad=True) if bias else None
    opt = torch.optim.LBFGS([w] + ([b] if bias else []), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logit = x @ w + b if bias else x @ w
        loss = F.binary_cross_entropy_with_logits(logit, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), (b.detach() if bias else None)


def fit_head(fa: np.ndarray, fb: np.ndarray, left: np.ndarray, l2: float = 1e-3, max_iter: int = 500) -> HandednessHead:
    """The antisymmetric logistic read-out of (N, D) features of crops, (N, D) of their mirror
    images and (N,) 0 / 1 labels (see the module docstring)."""
    d = torch.from_numpy(np.asarray(fa, np.float32) - np.asarray(fb, np.float32))
    y = torch.from_numpy(np.asarray(left, np.float32))
    head = HandednessHead(d.shape[1])
    with torch.no_grad():
        head.scale.copy_(1.0 / (d.std(dim=0) + 1e-6))
    w, _ = fit_logistic(d * head.scale, y, l2, max_iter)
    with torch.no_grad():
        head.weight.copy_(w)
    return head.eval()


def evaluate_handedness(classifier: HandednessClassifier, data, progress: bool = False) -> dict:
    """Accuracy on every hand of ``data`` (set directories, or a :class:`HandCrops` without
    augmentation) in its plain window, as stored and mirrored: ``accuracy`` over both,
    ``accuracy_stored`` / ``accuracy_mirrored``, ``log_loss`` (nats), ``hands``. (The head is
    antisymmetric, so a hand and its mirror image are right or wrong together.)"""
    crops = data if isinstance(data, HandCrops) else HandCrops(data, size=classifier.input_size)
    if crops.augment:
        raise ValueError("score on a set without augmentation")
    n = crops.n_hands
    p, y = [], []
    for s in tqdm(range(0, n, 256), disable=not progress, unit="part", desc="handedness eval"):
        items = [crops[i] for i in range(s, min(n, s + 256))]
        p.append(classifier.prob_left_crops(np.stack([it["input"] for it in items])))
        y.append([it["left"] for it in items])
    p1, y1 = np.concatenate(p), np.concatenate(y) > 0.5
    p_all, y_all = np.concatenate([p1, 1.0 - p1]), np.concatenate([y1, ~y1])  # the mirror: exactly 1 - p
    right = (p_all >= 0.5) == y_all
    eps = 1e-7
    loss = -np.mean(np.where(y_all, np.log(p_all + eps), np.log(1 - p_all + eps)))
    return {"accuracy": round(float(right.mean()), 4), "accuracy_stored": round(float(right[:n].mean()), 4),
            "accuracy_mirrored": round(float(right[n:].mean()), 4), "log_loss": round(float(loss), 4),
            "hands": int(n)}


def train_handedness(cfg: HandednessTrainConfig, out: str | Path, progress: bool = True) -> dict:
    """Extract features (resuming from the parts in ``out``), fit the head, score it on ``val``
    and write ``out/handedness.pt``; returns a status dict (``model``, ``crops``, ``seconds``,
    ``train_accuracy``, ``val``)."""
    cfg.check()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = Path(out)
    t0 = time.perf_counter()
    model = resolve_model(cfg.model)
    fingerprint = encoder_fingerprint(model.encoder)
    clf = HandednessClassifier(model.encoder, HandednessHead(1), input_size=model.cfg.input_size,
                               batch_size=cfg.batch_size)
    crops = HandCrops(cfg.data, size=model.cfg.input_size, augment=True, seed=cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    setting = {**dataclasses.asdict(cfg), "fingerprint": fingerprint, "hands": crops.n_hands}
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        before = json.loads(cfg_path.read_text())
        keep = ("data", "model", "views", "seed", "part_size", "fingerprint", "hands")
        if any(before.get(k) != setting[k] for k in keep):
            raise ValueError(f"{out} holds features of other settings ({cfg_path}); use another output directory")
    atomic_write_text(cfg_path, json.dumps(setting, indent=2) + "\n")

    total = crops.n_hands * cfg.views
    parts = range(0, total, cfg.part_size)
    feat_dir = out / "features"
    feat_dir.mkdir(exist_ok=True)
    for k, start in enumerate(tqdm(parts, disable=not progress, unit="part", desc="features")):
        path = feat_dir / f"part_{k:05d}.npz"
        if path.is_file():
            continue
        fa, fb, y = _crops_features(clf, crops, range(start, min(total, start + cfg.part_size)))
        atomic_save_npz(path, {"fa": fa, "fb": fb, "left": y}, compressed=False)
    fa, fb, y = [], [], []
    for k in range(len(parts)):
        with np.load(feat_dir / f"part_{k:05d}.npz") as z:
            fa.append(z["fa"])
            fb.append(z["fb"])
            y.append(z["left"])
    fa, fb, y = np.concatenate(fa), np.concatenate(fb), np.concatenate(y)
    head = fit_head(fa, fb, y, cfg.l2, cfg.max_iter)
    with torch.no_grad():
        train_acc = float(((head(torch.from_numpy(fa), torch.from_numpy(fb)) > 0).numpy() == (y > 0.5)).mean())
    clf.head = head
    meta = {"model": cfg.model, "data": cfg.data if isinstance(cfg.data, str) else ",".join(map(str, cfg.data)),
            "hands": crops.n_hands, "crops": int(total), "views": cfg.views, "l2": cfg.l2,
            "train_accuracy": round(train_acc, 4)}
    if cfg.val:
        meta["val"] = {v: evaluate_handedness(clf, v, progress=progress) for v in str(cfg.val).split(",") if v}
    path = save_head(out / "handedness.pt", head, fingerprint, meta)
    return {"model": str(path), "crops": int(total), "seconds": round(time.perf_counter() - t0, 1),
            "train_accuracy": meta["train_accuracy"], "val": meta.get("val", {})}
