"""The hand detector: composites, the CenterNet, its loss, decoding, AP, shipped weights, and
its wiring into the predictor and the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from mobrecon.detect.ap import average_precision, box_iou
from mobrecon.detect.centernet import CenterNet
from mobrecon.detect.composites import CompositeConfig, CompositeWorker, generate_composites
from mobrecon.detect.decode import decode
from mobrecon.detect.detector import Detection, HandDetector, letterbox
from mobrecon.detect.losses import focal_loss
from mobrecon.detect.targets import encode_targets
from mobrecon.detect.weights import shipped_detector

PLAIN = dict(p_zero=0.0, p_two=0.0, forearm_prob=0.0, distractor_prob=0.0, occluder_prob=0.0, photometric=False)


@pytest.fixture(scope="module")
def worker():
    w = CompositeWorker(CompositeConfig(count=8, seed=5, **PLAIN))
    yield w
    w.close()


def _drawn_box(image, background):
    """Tight box of the pixels that differ from the background."""
    ys, xs = np.nonzero(np.abs(image.astype(int) - background.astype(int)).max(-1) > 0)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], float)


def test_composite_boxes_fit_the_drawn_hand(worker):
    from mobrecon.synth.appearance import make_background

    sides = []
    for i in range(6):
        rng = np.random.default_rng([worker.cfg.seed, i])
        v, j = worker.hands(1, i, np.random.default_rng(i))
        out = worker.compose(rng, v, j)
        if len(out["boxes"]) == 0:
            continue
        bg, _ = make_background(np.random.default_rng([worker.cfg.seed, i]), worker.cfg.size)
        drawn = _drawn_box(out["image"], bg)
        box = out["boxes"][0]
        # the box is the projected mesh's extent (clipped); the drawn pixels lie within a pixel of it
        assert np.abs(drawn - box).max() < 2.0, (i, drawn, box, out["left"])
        sides.append(max(box[2] - box[0], box[3] - box[1]))
    assert len(sides) >= 4 and min(sides) >= 4


def test_composite_sets_are_deterministic_and_readable(tmp_path):
    from mobrecon.detect.dataset import CompositeDataset

    cfg = CompositeConfig(count=4, seed=2, shard_size=2, p_zero=0.25, p_two=0.5)
    for d in ("a", "b"):
        generate_composites(tmp_path / d, cfg, workers=1, progress=False)
    for s in ("shard_00000", "shard_00001"):
        for f in ("rgb.bin", "annotations.npz"):
            assert (tmp_path / "a" / s / f).read_bytes() == (tmp_path / "b" / s / f).read_bytes()
    ds = CompositeDataset(tmp_path / "a")
    assert len(ds) == 4
    item = ds.raw(1)
    assert item["image"].shape == (256, 256, 3) and item["boxes"].shape[1] == 4
    assert len(item["boxes"]) == len(item["left"]) <= 2
    aug = CompositeDataset(tmp_path / "a", augment=True)
    a, b = aug[4 + 1], aug[4 + 1]  # epoch 1, item 1: the same draw twice
    assert a["input"].shape == (3, 256, 256) and a["heatmap"].shape == (2, 64, 64)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="other settings"):
        generate_composites(tmp_path / "a", CompositeConfig(count=4, seed=3, shard_size=2), progress=False)


def test_composites_with_hands_near_the_image_size(tmp_path):
    """Hands drawn close to the image's size: one that would not fit is skipped, never an error."""
    from mobrecon.detect.dataset import CompositeDataset

    cfg = CompositeConfig(count=3, seed=5, min_box=200.0, max_box=256.0, p_zero=0.0, p_two=0.0)
    generate_composites(tmp_path, cfg, workers=1, progress=False)
    for i in range(3):
        boxes = CompositeDataset(tmp_path).raw(i)["boxes"]
        assert all(b[2] - b[0] <= 256 and b[3] - b[1] <= 256 for b in boxes)


def test_centernet_shapes_and_size():
    model = CenterNet().eval()
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 256, 256))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "heatmap": (2, 2, 64, 64), "size": (2, 2, 64, 64), "offset": (2, 2, 64, 64)}
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 250, 256))


def test_focal_loss_closed_form():
    target = torch.zeros(1, 1, 1, 2)
    target[0, 0, 0, 0] = 1.0
    # logit 0 everywhere: p = 1/2; positive -log(1/2) (1/2)^2, negative -log(1/2) (1/2)^2 (1 - 0)^4
    expected = 2 * np.log(2) * 0.25
    assert abs(float(focal_loss(torch.zeros(1, 1, 1, 2), target)) - expected) < 1e-6
    good = torch.tensor([[[[12.0, -12.0]]]])
    assert float(focal_loss(good, target)) < 1e-6
    assert float(focal_loss(-good, target)) > 5
    # a negative next to the centre (target 0.9) is barely penalised: (1 - 0.9)^4
    soft = torch.tensor([[[[1.0, 0.9]]]])
    logits = torch.tensor([[[[12.0, 0.0]]]])
    assert abs(float(focal_loss(logits, soft)) - np.log(2) * 0.25 * 1e-4) < 1e-6


def test_average_precision_closed_form():
    gt = [np.array([[0, 0, 10, 10]]), np.array([[20, 20, 40, 40]])]
    perfect = [np.array([[0, 0, 10, 10, 0.9]]), np.array([[20, 20, 40, 40, 0.8]])]
    assert average_precision(perfect, gt)["ap"] == pytest.approx(1.0)
    # a false positive ranked below both hits does not lower AP; ranked first it does
    fp_low = [np.array([[0, 0, 10, 10, 0.9], [50, 50, 60, 60, 0.1]]), perfect[1]]
    assert average_precision(fp_low, gt)["ap"] == pytest.approx(1.0)
    fp_high = [np.array([[0, 0, 10, 10, 0.5], [50, 50, 60, 60, 0.95]]), np.array([[20, 20, 40, 40, 0.4]])]
    # ranks FP, TP, TP: precision 0, 1/2, 2/3 at recall 0, 1/2, 1; interpolated (the best precision
    # at any higher recall) it is 2/3 over the whole recall range
    assert average_precision(fp_high, gt)["ap"] == pytest.approx(2 / 3)
    # one hand missed: recall stops at 1/2
    assert average_precision([perfect[0], np.zeros((0, 5))], gt)["ap"] == pytest.approx(0.5)
    # IoU 0.25 < 0.5 is a miss; a duplicate of a matched box is a false positive
    shifted = [np.array([[5, 0, 15, 10, 0.9]]), np.zeros((0, 5))]
    assert box_iou(shifted[0][:, :4], gt[0])[0, 0] == pytest.approx(50 / 150)
    assert average_precision(shifted, gt)["ap"] == 0.0
    dup = [np.array([[0, 0, 10, 10, 0.9], [0, 0, 10, 10, 0.8]]), perfect[1]]
    assert average_precision(dup, gt)["tp"] == 2
    assert average_precision([np.zeros((0, 5))] * 2, gt)["ap"] == 0.0


def test_decoding_a_synthetic_peak_gives_its_box():
    box = np.array([[101.0, 37.0, 161.0, 133.0]])  # centre (131, 85): cell ((131.5) / 4, (85.5) / 4)
    t = encode_targets(box, np.array([1]), 256)
    assert t["mask"].sum() == 1 and t["heatmap"][1].max() == 1.0 and t["heatmap"][0].max() == 0.0
    out = {"heatmap": torch.logit(torch.from_numpy(t["heatmap"]).clamp(1e-4, 1 - 1e-4))[None],
           "size": torch.from_numpy(t["size"])[None], "offset": torch.from_numpy(t["offset"])[None]}
    (det,) = decode(out, threshold=0.5)
    assert det.shape == (1, 6) and det[0, 5] == 1 and det[0, 4] > 0.99
    assert np.abs(det[0, :4] - box[0]).max() < 1e-4
    # letterboxing a 512 x 256 image: scale 1/2, 64 rows of padding on top; x_in = (u + 0.5) / 2 - 0.5 + pad
    lb = letterbox(np.zeros((256, 512, 3), np.uint8), 256)[1]
    assert (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y) == (0.5, 0.5, 0, 64)
    assert np.allclose(lb.to_image(np.array([[63.75, 95.75, 127.75, 127.75]])), [[128, 64, 256, 128]])


def _hand_on_plain_background(left: bool = False):
    """The flat built-in hand rendered on grey: (image (240, 320, 3), its tight box)."""
    from mobrecon.hand.load import load_hand
    from mobrecon.data.root import default_intrinsics
    from mobrecon.viz.render import MeshRenderer

    hand = load_hand("openhand")
    pose = torch.zeros(1, 16, 3)
    pose[0, 0] = torch.tensor([0.0, 0.0, np.pi])  # fingers up in the image (y down)
    v = hand(pose).vertices[0].numpy().astype(np.float64) + [0.03, 0.07, 0.5]
    K = default_intrinsics(320, 240)
    with MeshRenderer() as r:
        res = r.render(v, hand.faces.numpy(), K, 320, 240, color=(0.8, 0.6, 0.5), background=(128, 128, 128))
    ys, xs = np.nonzero(res.mask)
    img = res.rgb
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], float)
    if left:
        img = np.ascontiguousarray(img[:, ::-1])
        box = np.array([319 - box[2], box[1], 319 - box[0], box[3]])
    return img, box


needs_weights = pytest.mark.skipif(not shipped_detector().is_file(),
                                   reason=f"no shipped detector weights at {shipped_detector()}")


@needs_weights
def test_shipped_detector_finds_a_hand_at_its_box():
    det = HandDetector.load()
    for left in (False, True):
        img, box = _hand_on_plain_background(left)
        found = det.detect(img)
        assert found, "no hand found"
        assert box_iou(np.array([found[0].box]), box[None])[0, 0] > 0.5, (found[0], box)
        # (handedness is not asserted: a flat right hand seen from the palm and a flat left hand
        # seen from the back have the same outline, and the synthetic skin has no palm creases)


@needs_weights
def test_no_hand_gives_an_empty_list():
    det = HandDetector.load()
    plain = np.full((240, 320, 3), 128, np.uint8)
    ramp = np.repeat(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], 240, 0).repeat(3, 2)
    assert det.detect(plain) == [] and det.detect(ramp) == []


class _StubDetector:
    """Always reports the given detections; counts its calls."""

    def __init__(self, found):
        self.found, self.calls, self.threshold = found, 0, 0.3

    def detect(self, image, threshold=None):
        self.calls += 1
        return list(self.found)


@pytest.fixture(scope="module")
def random_model():
    from mobrecon.models import build

    torch.manual_seed(0)
    return build("mobrecon_ghoststack").eval()


def _project(p, K):
    q = p @ K.T
    return q[:, :2] / q[:, 2:]


def _as_given_box(box):
    """The box a caller would pass to get the crop a detection of ``box`` gets: detected boxes
    are whole-hand boxes, widened by DETECTION_MARGIN instead of BOX_MARGIN."""
    from mobrecon.data.crop import BOX_MARGIN, DETECTION_MARGIN

    x0, y0, x1, y1 = box
    cx, cy, f = (x0 + x1) / 2, (y0 + y1) / 2, DETECTION_MARGIN / BOX_MARGIN
    return (cx - (cx - x0) * f, cy - (cy - y0) * f, cx + (x1 - cx) * f, cy + (y1 - cy) * f)


def test_left_hands_are_mirrored_through_the_right_hand_network(random_model):
    from mobrecon.infer.predictor import Predictor

    img, box = _hand_on_plain_background(left=True)
    K = np.array([[300.0, 0, 170.0], [0, 300.0, 110.0], [0, 0, 1]])  # principal point off centre
    w = img.shape[1]
    pred = Predictor(random_model, detector=_StubDetector([Detection(tuple(box), 0.9, "left")]))
    (left,) = pred.predict_hands(img, K=K)
    assert left.extra["handedness"] == "left" and np.allclose(left.K, K) and np.allclose(left.box, box)
    # the same hand seen as a right hand in the mirrored image, with the mirrored camera
    mbox = (w - 1 - box[2], box[1], w - 1 - box[0], box[3])
    mK = K.copy()
    mK[0, 2] = w - 1 - K[0, 2]
    right = Predictor(random_model).predict(np.ascontiguousarray(img[:, ::-1]), box=_as_given_box(mbox), K=mK)
    flip = np.array([-1.0, 1, 1])
    assert np.allclose(left.vertices, right.vertices * flip, atol=1e-5)
    assert np.allclose(left.joints3d, right.joints3d * flip, atol=1e-5)
    assert np.allclose(left.joints2d[:, 0], w - 1 - right.joints2d[:, 0], atol=1e-3)
    assert np.array_equal(left.faces, right.faces[:, ::-1])
    # and it is consistent in the original camera: joints reproject as well as the right hand's do
    err_l = np.linalg.norm(_project(left.joints3d.astype(float), K) - left.joints2d, axis=1)
    err_r = np.linalg.norm(_project(right.joints3d.astype(float), mK) - right.joints2d, axis=1)
    assert np.allclose(err_l, err_r, atol=1e-2)
    # mirroring the mirror round-trips: the left result of a mirrored right hand is the right one
    pred.detector = _StubDetector([Detection(mbox, 0.9, "left")])
    (back,) = pred.predict_hands(img, K=K)
    assert np.isfinite(back.vertices).all()


def test_predictor_without_a_box_runs_the_detector(random_model):
    from mobrecon.infer.predictor import NO_HAND, Predictor

    img, box = _hand_on_plain_background()
    stub = _StubDetector([Detection(tuple(box), 0.8, "right"), Detection((10.0, 10.0, 60.0, 70.0), 0.5, "left")])
    pred = Predictor(random_model, detector=stub)
    hands = pred.predict_hands(img)
    assert [h.extra["handedness"] for h in hands] == ["right", "left"] and stub.calls == 1
    one = pred.predict(img)
    assert np.allclose(one.box, box) and stub.calls == 2
    assert np.allclose(pred.predict(img, box=(100, 60, 220, 180)).box, (100, 60, 220, 180)) and stub.calls == 2
    none = Predictor(random_model, detector=_StubDetector([]))
    assert none.predict_hands(img) == []
    assert none.predict(img).extra["detection"] == NO_HAND  # falls back to the whole image, no exception
    frames = [np.roll(img, 2 * i, axis=1) for i in range(4)]
    results, report = pred.predict_video(frames)
    assert len(results) == 4 and report["detector_runs"] == stub.calls - 2 >= 1
    # a video (re)finds its hand as a photo does: the first frame's hand is predict's
    assert "hand_box" in results[0].extra
    assert np.allclose(results[0].vertices, pred.predict(frames[0]).vertices, atol=1e-5)
    with pytest.raises(ValueError, match="no hand detector"):
        Predictor(random_model).predict_hands(img)


def test_cli_detect_missing_file_is_one_line_and_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mobrecon.cli", "detect", str(tmp_path / "none.jpg")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"mobrecon detect: error: {tmp_path / 'none.jpg'}: no such image file"]


def test_hand_argument_overrides_handedness(random_model):
    from mobrecon.infer.predictor import Predictor

    img, box = _hand_on_plain_background()
    w = img.shape[1]
    K = np.array([[300.0, 0, 170.0], [0, 300.0, 110.0], [0, 0, 1]])
    plain = Predictor(random_model)
    left = plain.predict(img, box=box, K=K, hand="left")
    assert left.extra["handedness"] == "left" and plain.predict(img, box=box, K=K).extra["handedness"] == "right"
    mbox = (w - 1 - box[2], box[1], w - 1 - box[0], box[3])
    mK = K.copy()
    mK[0, 2] = w - 1 - K[0, 2]
    right = plain.predict(np.ascontiguousarray(img[:, ::-1]), box=mbox, K=mK)
    assert np.allclose(left.vertices, right.vertices * np.array([-1.0, 1, 1]), atol=1e-5)
    # over a detector's call too, for still images and video
    pred = Predictor(random_model, detector=_StubDetector([Detection(tuple(box), 0.9, "left")]))
    (forced,) = pred.predict_hands(img, K=K, hand="right")
    assert forced.extra["handedness"] == "right"
    assert np.allclose(forced.vertices, plain.predict(img, box=_as_given_box(box), K=K).vertices, atol=1e-5)
    results, _ = pred.predict_video([img, img], hand="right")
    assert [r.extra["handedness"] for r in results] == ["right", "right"]
    with pytest.raises(ValueError, match="'left' or 'right'"):
        plain.predict(img, hand="both")


def test_a_box_inside_a_better_one_is_suppressed():
    from mobrecon.detect.decode import suppress

    hand = [10, 10, 110, 160, 0.9, 0]
    thumb = [15, 100, 45, 150, 0.5, 0]        # all inside the hand's box, IoU with it only 0.1
    other = [100, 20, 200, 170, 0.4, 1]       # a second hand overlapping the first at its edge
    dets = np.array([hand, thumb, other], float)
    assert box_iou(dets[1:2, :4], dets[:1, :4])[0, 0] < 0.6
    assert len(suppress(dets, 0.6)) == 3                      # IoU alone keeps the thumb
    kept = suppress(dets, 0.6, inside=0.8)
    assert kept[:, 4].tolist() == [0.9, 0.4]


def test_merging_a_mirrored_view_swaps_classes_and_lines_up_the_cells():
    from mobrecon.detect.decode import merge_mirrored

    rng = np.random.default_rng(0)
    plain = {k: rng.normal(size=(1, 2, 8, 8)).astype(np.float32) for k in ("heatmap", "size", "offset")}
    # the network's view of the mirrored image, if it saw exactly the mirror of the plain view
    mirrored = {"heatmap": plain["heatmap"][:, ::-1, :, ::-1], "size": plain["size"][..., ::-1],
                "offset": rng.normal(size=(1, 2, 8, 8)).astype(np.float32)}
    out = merge_mirrored({k: np.concatenate([plain[k], mirrored[k]]) for k in plain}, 1)
    for k in plain:  # agreeing views merge to the plain one (offsets: always the plain view's)
        assert out[k].shape == (1, 2, 8, 8)
        assert np.allclose(out[k], plain[k], atol=1e-5), k
    # a right-hand peak in column 6 of the mirrored view is a left-hand vote in column 1
    heat = np.full((2, 2, 8, 8), -10.0, np.float32)
    heat[1, 0, 3, 6] = 10.0
    zeros = np.zeros_like(heat)
    out = merge_mirrored({"heatmap": heat, "size": zeros, "offset": zeros}, 1)
    prob = 1 / (1 + np.exp(-out["heatmap"][0]))
    assert np.unravel_index(prob.argmax(), prob.shape) == (1, 3, 1) and abs(prob.max() - 0.5) < 1e-3
    with pytest.raises(ValueError, match="plain, then mirrored"):
        merge_mirrored({"heatmap": heat, "size": zeros, "offset": zeros}, 2)


def test_flip_test_finds_mirrored_hands_alike():
    torch.manual_seed(0)
    net = CenterNet().eval()
    with torch.no_grad():  # untrained: give it distinct peaks and boxes of some size
        net.heatmap.out.weight.normal_(0, 1.0)
        net.size.out.bias.fill_(8.0)
    det = HandDetector(net, threshold=0.0, flip_test=True)
    img = np.random.default_rng(1).integers(0, 255, (200, 256, 3), dtype=np.uint8)
    a, b = det.detect(img), det.detect(np.ascontiguousarray(img[:, ::-1]))
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):  # the same peaks mirrored: same scores and widths, the other hand
        assert abs(x.score - y.score) < 1e-5 and x.handedness != y.handedness
        assert abs((x.box[2] - x.box[0]) - (y.box[2] - y.box[0])) < 1e-3
        assert abs((x.box[0] + x.box[2]) / 2 - (255 - (y.box[0] + y.box[2]) / 2)) < 2 * 4  # offsets: plain view's
    plain = HandDetector(net, threshold=0.0)
    assert [d.score for d in plain.detect(img)] != [d.score for d in a]
