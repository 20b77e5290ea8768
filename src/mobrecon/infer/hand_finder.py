"""``HandFinder``: a :class:`~mobrecon.infer.predictor.Predictor`'s way of finding hands, seen
as a detector.

:meth:`Predictor.predict_hands` finds hands in two stages: the detector proposes candidates,
then each is reconstructed, re-boxed from its 2D joints and re-scored by the presence head. A
``HandFinder`` gives that result the detector's interface (``detect(image, threshold)`` ->
:class:`~mobrecon.detect.detector.Detection` list, best first, and ``threshold``), so the
detector benchmarks and the threshold calibration (:mod:`mobrecon.detect.calibrate`,
:mod:`mobrecon.detect.real_eval`) score the whole thing as it runs for a user.
"""

from __future__ import annotations

from mobrecon.detect.detector import Detection
from mobrecon.image import ImageLike


class HandFinder:
    """``predictor``'s hands as detections: the refined whole-hand boxes (``extra["hand_box"]``;
    the detector's box when refining is off), the scores compared with the threshold, and the
    handedness the predictor settled on."""

    def __init__(self, predictor):
        if predictor.detector is None:
            raise ValueError("HandFinder needs a predictor with a hand detector attached")
        self.predictor = predictor

    @property
    def threshold(self) -> float:
        return self.predictor.hand_threshold

    @property
    def device(self):
        """Where the detector's network runs."""
        return self.predictor.detector.device

    def detect(self, image: ImageLike, threshold: float | None = None) -> list[Detection]:
        hands = self.predictor.predict_hands(image, threshold=threshold)
        return [Detection(tuple(float(v) for v in h.extra.get("hand_box", h.box)), float(h.extra["detection_score"]),
                          h.extra["handedness"]) for h in hands]
