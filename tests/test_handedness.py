"""The handedness head on the reconstruction encoder: its mirror antisymmetry and weight files,
the crops and fit it learns from, the shipped head on freshly generated hands, and the
predictor and CLI using it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mobrecon.cli import main
from mobrecon.detect.composites import CompositeConfig, generate_composites
from mobrecon.detect.handedness import (HandednessClassifier, HandednessHead, encoder_features,
                                        encoder_fingerprint, load_head, save_head)
from mobrecon.detect.handedness_data import HandCrops
from mobrecon.detect.handedness_train import HandednessTrainConfig, evaluate_handedness, fit_head, train_handedness
from mobrecon.io_utils import atomic_write_png
from mobrecon.synth.generator import SynthConfig, generate


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("hands")
    generate(root / "stills", SynthConfig(count=32, seed=71, shard_size=16, mode="random"), workers=1, progress=False)
    generate_composites(root / "comp", CompositeConfig(count=6, seed=72, p_zero=0.0, p_two=0.5, max_box=250.0),
                        progress=False)
    return root / "stills", root / "comp"


@pytest.fixture(scope="module")
def random_model():
    from mobrecon.models import build

    torch.manual_seed(0)
    return build("mobrecon_ghoststack").eval()


def test_head_is_mirror_antisymmetric_and_tied_to_its_encoder(random_model, tmp_path):
    torch.manual_seed(1)
    x = torch.randn(3, 3, 128, 128)
    f = encoder_features(random_model.encoder, x)
    head = HandednessHead(f.shape[1])
    with torch.no_grad():
        head.weight.normal_()
    clf = HandednessClassifier(random_model.encoder, head)
    p = clf.prob_left_crops(x.numpy())
    q = clf.prob_left_crops(x.flip(-1).numpy())
    assert p.shape == (3,) and np.allclose(p + q, 1.0, atol=1e-5)  # a crop and its mirror: opposite answers
    fingerprint = encoder_fingerprint(random_model.encoder)
    path = save_head(tmp_path / "h.pt", head, fingerprint, meta={"model": "test"})
    back = HandednessClassifier.load(path, random_model)
    assert np.allclose(back.prob_left_crops(x.numpy()), p, atol=1e-6) and back.meta == {"model": "test"}
    from mobrecon.models import build

    torch.manual_seed(5)
    other = build("mobrecon_ghoststack").eval()
    with pytest.raises(ValueError, match="fitted on the encoder of test"):
        HandednessClassifier.load(path, other)
    (tmp_path / "bad.pt").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="bad.pt: not a readable handedness file"):
        HandednessClassifier.load(tmp_path / "bad.pt", random_model)
    with pytest.raises(FileNotFoundError, match="none.pt"):
        HandednessClassifier.load(tmp_path / "none.pt", random_model)


def test_fit_recovers_an_antisymmetric_rule():
    rng = np.random.default_rng(0)
    fa, fb = rng.normal(size=(600, 20)), rng.normal(size=(600, 20))
    true_w = rng.normal(size=20)
    left = (((fa - fb) * np.linspace(0.5, 2, 20)) @ true_w > 0).astype(np.float32)
    head = fit_head(fa, fb, left, l2=1e-4)
    with torch.no_grad():
        said = head(torch.from_numpy(fa).float(), torch.from_numpy(fb).float()).numpy() > 0
    assert (said == (left > 0.5)).mean() > 0.95


def test_crops_label_stills_right_composites_as_stored_and_mirrors_left(sets):
    stills, comp = sets
    crops = HandCrops([stills, comp])
    with np.load(sorted(comp.glob("shard_*"))[0] / "annotations.npz") as z:
        comp_left = [bool(z["left"][j, h]) for j, n in enumerate(z["n_hands"]) for h in range(int(n))]
    n = crops.n_hands
    assert n == 32 + len(comp_left) and len(crops) == 2 * n
    labels = [crops[k]["left"] for k in range(n)]
    assert labels == [0.0] * 32 + [float(v) for v in comp_left]
    for k in (0, 5, n - 1):
        a, b = crops[k], crops[k + n]
        assert b["left"] == 1.0 - a["left"]
        assert np.array_equal(b["input"], a["input"][:, :, ::-1])  # the mirrored crop
    aug = HandCrops(stills, augment=True, seed=3)
    assert len(aug) == 32
    one, again, later = aug[4], aug[4], aug[4 + 32]  # same epoch: same crop; next epoch: another
    assert np.array_equal(one["input"], again["input"]) and not np.array_equal(one["input"], later["input"])
    with pytest.raises(FileNotFoundError, match="nope"):
        HandCrops(f"{stills},{stills.parent / 'nope'}")


def test_fitting_writes_a_scored_head_and_reuses_its_feature_parts(sets, tmp_path):
    stills, comp = sets
    cfg = HandednessTrainConfig(data=f"{stills},{comp}", val=str(stills), part_size=16, threads=1, max_iter=50)
    out = tmp_path / "run"
    done = train_handedness(cfg, out, progress=False)
    parts = sorted((out / "features").glob("part_*.npz"))
    meta = load_head(done["model"])[2]
    assert meta["hands"] == meta["crops"] > 32 and len(parts) == -(-meta["crops"] // 16)
    assert meta["val"][str(stills)]["hands"] == 32 and 0 <= meta["train_accuracy"] <= 1
    stamps = [p.stat().st_mtime_ns for p in parts]
    (out / "handedness.pt").unlink()
    again = train_handedness(cfg, out, progress=False)  # resumes: the parts are read, not made again
    assert [p.stat().st_mtime_ns for p in parts] == stamps and again["train_accuracy"] == done["train_accuracy"]
    cfg.views = 2
    with pytest.raises(ValueError, match="other settings"):
        train_handedness(cfg, out, progress=False)


def test_shipped_head_tells_left_from_right_on_new_hands(sets):
    """Hands it never saw (seed 71), as generated (right) and mirrored (left), in the plain
    window the predictor uses, read off the shipped GhostStack's encoder."""
    from mobrecon.infer.predictor import load_handedness
    from mobrecon.models.weights import resolve_model

    stills, _ = sets
    clf = load_handedness("auto", resolve_model("mobrecon_ghoststack"))
    assert clf is not None, "no shipped handedness head fits the shipped mobrecon_ghoststack weights"
    scores = evaluate_handedness(clf, stills)
    # the shipped head is fitted on real crops (2,078) as well as generated ones (3,000) and
    # favours photos: 97 % on held-out real close-ups, 72-85 % on generated hands (chance: 50 %)
    assert scores["accuracy"] >= 0.70, scores


class _FixedClassifier:
    """Says P(left) = ``p`` for every crop; counts its calls."""

    def __init__(self, p):
        self.p, self.calls = p, 0

    def prob_left(self, rgb, crops):
        self.calls += 1
        return np.full(len(crops), self.p)


def test_predictor_asks_the_classifier_unless_told(random_model, sets):
    from mobrecon.detect.detector import Detection
    from mobrecon.infer.predictor import Predictor
    from mobrecon.synth.dataset import SynthDataset

    img = SynthDataset(sets[0])[0]["image"]
    box = (20.0, 20.0, 100.0, 110.0)
    clf = _FixedClassifier(0.9)
    pred = Predictor(random_model, handedness=clf)
    r = pred.predict(img, box=box)
    assert r.extra["handedness"] == "left" and r.extra["p_left"] == 0.9 and clf.calls == 1
    mirrored = Predictor(random_model).predict(img, box=box, hand="left")
    assert np.allclose(r.vertices, mirrored.vertices, atol=1e-5)  # the same left-hand reconstruction
    told = pred.predict(img, box=box, hand="right")
    assert told.extra["handedness"] == "right" and "p_left" not in told.extra and clf.calls == 1
    whole = pred.predict(img)  # no box, no detector: the whole image is the crop, still classified
    assert whole.extra["handedness"] == "left" and clf.calls == 2

    class _Det:
        def detect(self, image, threshold=None):
            return [Detection(box, 0.9, "right")]

    pred.detector = _Det()
    (found,) = pred.predict_hands(img)
    assert found.extra["handedness"] == "left" and found.extra["detection_score"] == 0.9  # the classifier wins
    results, report = pred.predict_video([img] * 3)
    assert [x.extra["handedness"] for x in results] == ["left"] * 3
    without = Predictor(random_model, detector=_Det()).predict_hands(img)
    assert without[0].extra["handedness"] == "right" and "p_left" not in without[0].extra  # the detector's call


def test_head_reuses_its_encoder_pass_for_the_reconstruction(sets):
    """With the head on the predictor's own encoder, the pass over the crop and its mirror image
    is the reconstruction's encoder pass too: one encoder call per hand, same result as being told."""
    from mobrecon.infer.predictor import Predictor
    from mobrecon.models.weights import resolve_model
    from mobrecon.synth.dataset import SynthDataset

    model = resolve_model("mobrecon_ghoststack")  # trained features (a random encoder's are flat)
    img = SynthDataset(sets[0])[2]["image"]
    box = (15.0, 20.0, 110.0, 115.0)
    f = encoder_features(model.encoder, torch.zeros(1, 3, 128, 128))
    calls = []
    hook = model.encoder.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    try:
        for sign in (1.0, -1.0):  # a head that says right, then one that says left, for this crop
            head = HandednessHead(f.shape[1])
            with torch.no_grad():
                head.weight.normal_(generator=torch.Generator().manual_seed(3))
            clf = HandednessClassifier(model.encoder, head)
            p_left = clf.classify(img, box)[1]
            with torch.no_grad():
                head.weight.mul_(sign if p_left < 0.5 else -sign)  # sign 1: right, sign -1: left
            calls.clear()
            r = Predictor(model, handedness=clf).predict(img, box=box)
            assert calls == [2], calls  # one batch of two: the crop and its mirror image
            side = "right" if sign > 0 else "left"
            told = Predictor(model).predict(img, box=box, hand=side)
            assert r.extra["handedness"] == side and (r.extra["p_left"] < 0.5) == (side == "right")
            assert np.allclose(r.vertices, told.vertices, atol=1e-5) and np.allclose(r.joints2d, told.joints2d, atol=1e-3)
    finally:
        hook.remove()


def test_cli_handedness(sets, tmp_path, capsys):
    from mobrecon.synth.dataset import SynthDataset

    stills, _ = sets
    img = SynthDataset(stills)[1]["image"]
    atomic_write_png(tmp_path / "hand.png", img)
    atomic_write_png(tmp_path / "mirrored.png", np.ascontiguousarray(img[:, ::-1]))
    assert main(["handedness", str(tmp_path / "hand.png"), str(tmp_path / "mirrored.png"), "--json"]) == 0
    a, b = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert abs(a["p_left"] + b["p_left"] - 1) < 1e-3  # a photo and its mirror image: opposite answers
    assert {a["handedness"], b["handedness"]} == {"left", "right"} or a["p_left"] == 0.5
    assert main(["handedness", str(tmp_path / "hand.png"), "--box", "10,10,100,120"]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'hand.png'}: ")
    assert main(["handedness-eval", str(stills), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hands"] == 32
    assert main(["handedness", str(tmp_path / "none.png")]) == 2
    assert capsys.readouterr().err.strip() == f"mobrecon handedness: error: {tmp_path / 'none.png'}: no such image file"
    assert main(["handedness-train"]) == 2
    assert "give --data" in capsys.readouterr().err
