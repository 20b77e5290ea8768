"""Hand presence head (issue 20): a mirror-symmetric read-out of the encoder, and the
predictor's two-stage hand finding (candidates re-boxed from their 2D joints, re-scored,
duplicates dropped)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobrecon.detect.detector import Detection
from mobrecon.detect.handedness import HandednessClassifier, HandednessHead, encoder_features, encoder_fingerprint
from mobrecon.detect.presence import (PresenceHead, combined_score, fit_presence, load_presence,
                                      save_presence)
from mobrecon.detect.real_eval import whole_hand_box
from mobrecon.infer.hand_finder import HandFinder
from mobrecon.infer.predictor import Predictor, load_presence_head


def test_fit_presence_separates_hands_and_is_mirror_symmetric(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 400, 12
    y = (np.arange(n) % 2).astype(float)
    fa = rng.normal(size=(n, d)) + 2.0 * y[:, None] * np.eye(d)[0]  # hands: feature 0 is high
    fb = fa + rng.normal(scale=0.1, size=(n, d))
    head = fit_presence(fa, fb, y)
    p = head.prob_arrays(fa, fb)
    assert ((p >= 0.5) == (y == 1)).mean() > 0.8
    assert np.allclose(p, head.prob_arrays(fb, fa))          # a crop and its mirror image alike
    with torch.no_grad():                                    # numpy and torch agree
        assert np.allclose(p, torch.sigmoid(head(torch.from_numpy(fa).float(), torch.from_numpy(fb).float())).numpy(),
                           atol=1e-4)
    save_presence(tmp_path / "p.pt", head, "abc", {"threshold": 0.3, "mix": 0.5})
    back, fingerprint, meta = load_presence(tmp_path / "p.pt")
    assert fingerprint == "abc" and meta["threshold"] == 0.3 and np.allclose(back.prob_arrays(fa, fb), p, atol=1e-6)
    (tmp_path / "bad.pt").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="bad.pt"):
        load_presence(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="both hands and non-hands"):
        fit_presence(fa, fb, np.ones(n))
    assert combined_score(0.5, 0.5) == pytest.approx(0.5) and combined_score(0.64, 1.0, 0.5) == pytest.approx(0.8)


@pytest.fixture(scope="module")
def random_model():
    from mobrecon.models import build

    torch.manual_seed(0)
    return build("mobrecon_ghoststack").eval()


class _Stub:
    def __init__(self, found, threshold=0.3):
        self.found, self.threshold, self.asked = found, threshold, []

    def detect(self, image, threshold=None):
        self.asked.append(threshold)
        return [d for d in self.found if d.score >= (self.threshold if threshold is None else threshold)]


def _predictor(model, found, p_hand: float, threshold: float, **kw):
    with torch.no_grad():
        dim = encoder_features(model.encoder, torch.zeros(1, 3, 128, 128)).shape[1]
    presence = PresenceHead(dim)
    with torch.no_grad():
        presence.bias.fill_(float(np.log(p_hand / (1 - p_hand))))  # weight 0: P(hand) = p_hand everywhere
    presence.meta = {"threshold": threshold, "mix": 0.5}
    hands = HandednessClassifier(model.encoder, HandednessHead(dim))
    return Predictor(model, detector=_Stub(found), handedness=hands, presence=presence, **kw)


def test_candidates_are_reboxed_rescored_and_deduplicated(random_model):
    img = np.random.default_rng(3).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    box = (100.0, 60.0, 200.0, 180.0)
    twin = box                                          # a second peak on the same hand
    far = (5.0, 5.0, 45.0, 55.0)
    found = [Detection(box, 0.9, "right"), Detection(twin, 0.6, "right"), Detection(far, 0.25, "left")]
    pred = _predictor(random_model, found, p_hand=0.64, threshold=0.3, refine=True)
    hands = pred.predict_hands(img)
    assert pred.detector.asked == [0.15]                # candidates down to half the threshold
    # the twin's refined box is the first one's: one hand; far scores sqrt(.25 * .64) = 0.4
    assert [h.extra["detector_score"] for h in hands] == [0.9, 0.25]
    assert hands[0].extra["detection_score"] == pytest.approx(np.sqrt(0.9 * 0.64), abs=1e-4)
    assert hands[0].extra["p_hand"] == pytest.approx(0.64, abs=1e-4) and np.allclose(hands[0].box, box)
    j2 = hands[0].joints2d.astype(np.float64)
    joints_box = whole_hand_box(np.r_[j2.min(0), j2.max(0)])
    assert np.allclose(hands[0].extra["hand_box"], (np.array(box) + joints_box) / 2, atol=0.01)
    # the candidates' floor is on the detector's scale: a combined threshold above the detector's
    # does not lift it (0.5 x the detector's 0.3)
    high = _predictor(random_model, found, p_hand=0.99, threshold=0.8, refine=True)
    assert [h.extra["detector_score"] for h in high.predict_hands(img)] == [0.9] and high.detector.asked == [0.15]
    # a low P(hand) takes the scores under the threshold: nothing found
    assert _predictor(random_model, found, p_hand=0.05, threshold=0.3, refine=True).predict_hands(img) == []
    # refining off: the detector's hands above its threshold, as they come
    plain = _predictor(random_model, found, p_hand=0.64, threshold=0.3, refine=False)
    assert [h.extra["detection_score"] for h in plain.predict_hands(img)] == [0.9, 0.6]
    assert plain.detector.asked == [None] and plain.hand_threshold == 0.3
    # one hand (predict): candidates one by one until none could beat the best (the far one's
    # bound sqrt(0.25) = 0.5 is under sqrt(0.9 * 0.64)); the same hand as predict_hands' first
    calls = []
    run = pred._run_prepared
    pred._run_prepared = lambda chunk: calls.append(len(chunk)) or run(chunk)
    one = pred.predict(img)
    assert calls == [1, 1] and one.extra["detection_score"] == hands[0].extra["detection_score"]
    assert np.allclose(one.vertices, hands[0].vertices, atol=1e-5) and one.extra["hand_box"] == hands[0].extra["hand_box"]
    del pred._run_prepared
    # the same hands seen as a detector
    finder = HandFinder(pred)
    dets = finder.detect(img)
    assert finder.threshold == 0.3 and [d.score for d in dets] == [h.extra["detection_score"] for h in hands]
    assert np.allclose(dets[0].box, hands[0].extra["hand_box"], atol=0.01)



def test_refining_is_the_default_and_without_presence_keeps_the_detectors_scores(random_model):
    img = np.random.default_rng(4).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    box, far = (100.0, 60.0, 200.0, 180.0), (5.0, 5.0, 45.0, 55.0)
    found = [Detection(box, 0.9, "right"), Detection(box, 0.6, "right"), Detection(far, 0.35, "left"),
             Detection(far, 0.1, "left")]
    hands = HandednessClassifier(random_model.encoder, HandednessHead(
        encoder_features(random_model.encoder, torch.zeros(1, 3, 128, 128)).shape[1]))
    pred = Predictor(random_model, detector=_Stub(found), handedness=hands)
    assert pred.refine and pred.presence is None
    res = pred.predict_hands(img)
    # the detector's own threshold (0.3), its scores; the twin is dropped, boxes are refined
    assert pred.detector.asked == [None]
    assert [h.extra["detection_score"] for h in res] == [0.9, 0.35]
    assert all("hand_box" in h.extra and "p_hand" not in h.extra for h in res)
    # one hand (predict): only the best candidate is reconstructed, and it is the same hand
    calls = []
    run = pred._run_prepared
    pred._run_prepared = lambda chunk: calls.append(len(chunk)) or run(chunk)
    one = pred.predict(img)
    assert calls == [1] and one.extra["hand_box"] == res[0].extra["hand_box"]
    assert np.allclose(one.vertices, res[0].vertices, atol=1e-5)
    # a caller's threshold is the detector's threshold
    assert [h.extra["detection_score"] for h in pred.predict_hands(img, threshold=0.05)] == [0.9, 0.35]
    assert pred.detector.asked[-1] == 0.05

def test_presence_heads_belong_to_their_encoder(random_model, tmp_path):
    from mobrecon.models import build

    head = PresenceHead(4)
    save_presence(tmp_path / "mine.pt", head, encoder_fingerprint(random_model.encoder), {"threshold": 0.2})
    got = load_presence_head(tmp_path / "mine.pt", random_model)
    assert isinstance(got, PresenceHead) and got.meta["threshold"] == 0.2
    torch.manual_seed(1)
    other = build("mobrecon_ghoststack").eval()
    with pytest.raises(ValueError, match="fitted on the encoder"):
        load_presence_head(tmp_path / "mine.pt", other)
    assert load_presence_head(None, random_model) is None
