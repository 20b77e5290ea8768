"""Hand presence: is there a hand in this crop at all? A read-out of the reconstruction encoder
that re-scores the detector's candidates (:meth:`~mobrecon.infer.predictor.Predictor.predict_hands`).

The detector is small and sees a whole photo at 256 pixels, so faces, forearms and door knobs
make some of its confident peaks. The reconstruction encoder looks at each candidate's crop at
128 pixels and knows hands well; a linear read-out of its features, made mirror-symmetric (a
hand's mirror image is a hand too), tells hands from the rest::

    g(x)       = (f(x) + f(mirror(x))) / 2                     (B, D), f: handedness.encoded_features
    P(hand | x) = sigmoid(w . ((g(x) - m) * s) + b)

``m`` and ``s`` standardise the features (their mean and 1 / standard deviation over the fit's
crops), ``w`` and ``b`` are fitted by L2-regularised logistic regression (:func:`fit_presence`).
The predictor has f(x) and f(mirror(x)) already (the handedness head's pass), so the read-out
costs a dot product. A candidate's score becomes ``detector_score ** (1 - mix) * P(hand) ** mix``
(:func:`combined_score`); the file's meta holds ``mix`` and the score threshold calibrated for the
combination. Like a handedness head, a presence head belongs to the encoder weights it was
fitted on (their fingerprint is in the file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobrecon.detect.handedness import read_encoder_head, write_encoder_head
from mobrecon.detect.handedness_train import fit_logistic

FORMAT = "mobrecon-presence-1"
DEFAULT_MIX = 0.75


class PresenceHead(nn.Module):
    """(B, D) features of crops and (B, D) of their mirror images -> (B,) logits of "a hand"."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(()))

    @property
    def dim(self) -> int:
        return int(self.weight.numel())

    def forward(self, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        return (((fa + fb) / 2 - self.mean) * self.scale) @ self.weight + self.bias

    def prob_arrays(self, fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
        """:meth:`forward` in numpy, as probabilities: (N, D), (N, D) -> (N,) P(hand)."""
        if not hasattr(self, "_np"):
            self._np = tuple(t.detach().double().numpy() for t in (self.mean, self.scale, self.weight, self.bias))
        mean, scale, weight, bias = self._np
        logit = (((np.asarray(fa, np.float64) + fb) / 2 - mean) * scale) @ weight + bias
        return 1.0 / (1.0 + np.exp(-logit))


def combined_score(detector_score, presence, mix: float = DEFAULT_MIX):
    """A candidate's score from the detector's and P(hand): ``det ** (1 - mix) * p ** mix``."""
    return np.asarray(detector_score, np.float64) ** (1 - mix) * np.asarray(presence, np.float64) ** mix


def fit_presence(fa: np.ndarray, fb: np.ndarray, is_hand: np.ndarray, l2: float = 1e-2,
                 max_iter: int = 300) -> PresenceHead:
    """A head fitted on (N, D) features of crops, (N, D) of their mirror images and (N,) labels
    (1: a hand, 0: not): standardisation from the data, then logistic regression with
    ``l2 |w|^2`` (L-BFGS, full batch)."""
    g = (np.asarray(fa, np.float64) + fb) / 2
    y = np.asarray(is_hand, np.float64)
    if g.ndim != 2 or len(g) != len(y) or not (0 < y.sum() < len(y)):
        raise ValueError("fit_presence needs (N, D) features and labels with both hands and non-hands")
    head = PresenceHead(g.shape[1])
    mean, scale = g.mean(0), 1.0 / (g.std(0) + 1e-6)
    w, b = fit_logistic(torch.from_numpy((g - mean) * scale), torch.from_numpy(y), l2, max_iter, bias=True)
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(mean))
        head.scale.copy_(torch.from_numpy(scale))
        head.weight.copy_(w)
        head.bias.copy_(b)
    return head.eval()


def shipped_presence(model_name: str = "mobrecon_ghoststack") -> Path:
    """Where the package keeps the presence head fitted on a registered model's shipped weights."""
    return Path(__file__).resolve().parents[1] / "weights" / f"presence_{model_name}.pt"


def shipped_presence_heads() -> list[Path]:
    """Every presence head the package ships."""
    return sorted(shipped_presence().parent.glob("presence_*.pt"))


def save_presence(path: str | os.PathLike, head: PresenceHead, fingerprint: str, meta: dict | None = None) -> Path:
    """Write the head and the fingerprint of its encoder, atomically."""
    return write_encoder_head(path, head, FORMAT, fingerprint, meta)


def load_presence(path: str | os.PathLike) -> tuple[PresenceHead, str, dict]:
    """(head, encoder fingerprint, meta) from a presence file."""
    return read_encoder_head(path, FORMAT, PresenceHead, "hand presence")
