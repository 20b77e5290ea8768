"""``predict`` on ONNX Runtime: the split encoder / decoder graphs and the fused one against
PyTorch (both pose-pooling conventions) and against each other, the export cache (hash key, atomic files, a corrupted file rebuilt),
the fallback to PyTorch without onnxruntime, the thread settings, the detector on ONNX Runtime
and the handedness head reusing the ONNX encoder pass."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch

from mobrecon.data.crop import to_tensor_image
from mobrecon.infer.backends import TorchRunner
from mobrecon.infer.predictor import Predictor
from mobrecon.models import build

pytest.importorskip("onnxruntime")

from mobrecon.infer.ort_net import OrtNet  # noqa: E402
from mobrecon.infer.threads import inference_threads, session_options  # noqa: E402


def _images(n=3, size=128, seed=0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        low = rng.uniform(0, 255, (5, 5, 3)).astype(np.float32)
        out.append(np.clip(cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8))
    return np.stack(out)


def _sensitive(model):
    """Weights redrawn He-normal so that the output depends on the image (and on where pose
    pooling reads F_e)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
    return model.eval()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBRECON_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return _sensitive(build("mobrecon_ghoststack"))


def test_ort_matches_eager_for_both_pooling_conventions(cache, model):
    x = np.stack([to_tensor_image(c) for c in _images()])
    outs = {}
    for centres in (True, False):
        net = build("mobrecon_ghoststack", pool_pixel_centres=centres)
        net.load_state_dict(model.state_dict())
        net.eval()
        ort, eager = OrtNet(net, threads=1), TorchRunner(net)
        got, want = ort(x), eager(x)
        for k in want:
            assert np.abs(got[k] - want[k]).max() <= (3e-3 if k == "joints2d" else 1e-5), (centres, k)
        enc_o, enc_e = ort.encode(x[:2]), eager.encode(x[:2])
        assert len(enc_o) == len(enc_e) == 2 and all(np.allclose(a, b, atol=1e-4) for a, b in zip(enc_o, enc_e))
        outs[centres] = got["vertices"]
    # the two conventions are two graphs (different cache entries), and they do differ
    assert len(list(cache.iterdir())) == 2
    assert np.abs(outs[True] - outs[False]).max() > 1e-6


def test_cache_is_keyed_by_weights_written_whole_and_rebuilt_when_corrupt(cache, model, caplog):
    first = OrtNet(model)
    assert first.info["built"] and sorted(p.name for p in (cache / first.info["key"]).iterdir()) == \
        ["decoder.onnx", "encoder.onnx", "full.onnx"]  # no temp files left beside them
    again = OrtNet(model)
    assert not again.info["built"] and again.info["key"] == first.info["key"]
    other = build("mobrecon_ghoststack").eval()
    with torch.no_grad():
        other.load_state_dict(model.state_dict())
        next(other.parameters()).add_(1e-3)
    assert OrtNet(other).info["key"] != first.info["key"]
    enc = cache / first.info["key"] / "encoder.onnx"
    enc.write_bytes(enc.read_bytes()[:1000])  # truncated
    with caplog.at_level(logging.WARNING, logger="mobrecon.ort_cache"):
        fixed = OrtNet(model)
    assert fixed.info["built"] and "rebuilding" in caplog.text
    x = np.stack([to_tensor_image(c) for c in _images(1)])
    assert np.allclose(fixed(x)["vertices"], TorchRunner(model)(x)["vertices"], atol=1e-5)


def test_fused_graph_equals_the_two_graphs(cache, model):
    net = OrtNet(model, threads=1)
    x = np.stack([to_tensor_image(c) for c in _images(2, seed=3)])
    fused, split = net(x), net.decode(net.encode(x))
    assert list(fused) == list(split)
    for k in fused:
        assert fused[k].shape == split[k].shape and fused[k].dtype == np.float32
        assert np.abs(fused[k] - split[k]).max() <= 1e-4, k
    one = net(x[:1])  # batch 1, the predictor's usual call
    assert np.abs(one["vertices"] - split["vertices"][:1]).max() <= 1e-4


def test_cache_key_changes_with_the_export_version(monkeypatch, model):
    import mobrecon.infer.ort_cache as ort_cache

    key = ort_cache.cache_key(model, "cfg")
    monkeypatch.setattr(ort_cache, "EXPORT_VERSION", ort_cache.EXPORT_VERSION + "-next")
    assert ort_cache.cache_key(model, "cfg") != key


def test_unwritable_cache_builds_in_a_temporary_folder(tmp_path, monkeypatch, model):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MOBRECON_CACHE", str(blocker))
    net = OrtNet(model)
    assert net.info["built"] and net.info["folder"] is None and "cache_error" in net.info


def test_load_falls_back_to_torch_without_onnxruntime(tmp_path, monkeypatch, model, cache, caplog):
    import mobrecon
    from mobrecon.models.weights import save_model

    path = save_model(tmp_path / "m.pt", model, "mobrecon_ghoststack")
    on_ort = mobrecon.load(path, detector=None, handedness=None)
    assert on_ort.backend == "onnx"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with caplog.at_level(logging.WARNING, logger="mobrecon.predictor"):
        p = mobrecon.load(path, detector=None, handedness=None)
    assert p.backend == "torch" and "onnxruntime is not installed" in caplog.text
    img = _images(1, 200)[0]
    a, b = p.predict(img, box=(40, 40, 160, 160)), on_ort.predict(img, box=(40, 40, 160, 160))
    # root-relative (this random network's hand is nearly flat, its placement in depth ill-posed)
    assert np.abs((a.vertices - a.root) - (b.vertices - b.root)).max() < 1e-4
    assert np.abs(a.joints2d - b.joints2d).max() < 1e-2
    assert mobrecon.load(path, backend="torch", detector=None, handedness=None).backend == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        mobrecon.load(path, backend="tensorrt", detector=None, handedness=None)


def test_thread_settings_are_applied(monkeypatch, cache, model):
    monkeypatch.delenv("MOBRECON_THREADS", raising=False)
    monkeypatch.delenv("MOBRECON_SPIN", raising=False)
    import os

    assert inference_threads() == min(2, os.cpu_count()) and inference_threads(3) == 3
    assert inference_threads(None, "torch") == 1
    so = session_options(2)
    assert so.intra_op_num_threads == 2 and so.inter_op_num_threads == 1
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    monkeypatch.setenv("MOBRECON_THREADS", "2")
    monkeypatch.setenv("MOBRECON_SPIN", "1")
    assert inference_threads() == 2
    assert session_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"
    net = OrtNet(model)
    assert net.threads == 2 and net.enc.get_session_options().intra_op_num_threads == 2
    monkeypatch.setenv("MOBRECON_THREADS", "many")
    with pytest.raises(ValueError, match="MOBRECON_THREADS"):
        inference_threads()
    with pytest.raises(ValueError, match="threads must be >= 1"):
        inference_threads(0)


def test_handedness_head_reuses_the_ort_encoder_pass(cache, model):
    from mobrecon.detect.handedness import HandednessClassifier, HandednessHead

    head = HandednessHead(256 * 16 + 24)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.dim, generator=torch.Generator().manual_seed(0)))
    clf = HandednessClassifier(model.encoder, head)
    img = _images(1, 200, seed=3)[0]
    box = (30, 40, 150, 170)
    eager = Predictor(model, handedness=clf).predict(img, box=box)
    ort = Predictor(model, handedness=clf, net=OrtNet(model))
    calls = []
    ort.net.enc.run, real = (lambda *a, **k: calls.append(1) or real(*a, **k)), ort.net.enc.run
    r = ort.predict(img, box=box)
    assert len(calls) == 1  # one encoder pass (crop and mirror at batch 2), not a second for the mesh
    assert abs(r.extra["p_left"] - eager.extra["p_left"]) < 1e-3 and r.extra["handedness"] == eager.extra["handedness"]
    assert np.abs((r.vertices - r.root) - (eager.vertices - eager.root)).max() < 1e-4


def test_detector_on_ort_finds_what_torch_finds(cache):
    from mobrecon.detect.centernet import CenterNet
    from mobrecon.detect.detector import HandDetector
    from mobrecon.infer.ort_detector import OrtHandDetector

    torch.manual_seed(0)
    det = HandDetector(_sensitive(CenterNet()), threshold=0.0, max_hands=5)
    ort = OrtHandDetector.from_detector(det)
    img = _images(1, 300, seed=5)[0][:, :240]
    x = det.prepare(img)[0][None]
    want, got = det._network(x), ort._network(x)
    assert all(np.abs(got[k] - want[k].numpy()).max() < 1e-3 for k in want)
    if HandDetector.available():  # the shipped weights find boxes to compare
        det = HandDetector.load(threshold=0.05)
        ort = OrtHandDetector.from_detector(det)
    else:  # the flip test: a batch of the image and its mirror image through the graph
        det.flip_test = True
        ort = OrtHandDetector.from_detector(det)
    assert ort.flip_test == det.flip_test
    a, b = det.detect(img), ort.detect(img)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.allclose(x.box, y.box, atol=1e-2) and abs(x.score - y.score) < 1e-4 and x.handedness == y.handedness
