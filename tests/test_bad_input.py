"""The bad-input contract, one test per defect of issue 21: a bad input is one line naming the
file and what is wrong (exit code 2 at the end), the other images are still done, nothing is
half-written, and two runs never overwrite each other silently. The bad inputs are made here
(tiny images, truncated files, hostile pickles); the network is a random GhostStack."""

from __future__ import annotations

import errno
import io
import json
import pickle
import sys
import time
import types

import cv2
import numpy as np
import pytest
import torch

from mobrecon import cli
from mobrecon.infer import predictor as predictor_mod
from mobrecon.data.crop import check_box
from mobrecon.image import read_image
from mobrecon.infer.predictor import HandResult, Predictor, check_K


@pytest.fixture(scope="module")
def predictor():
    from mobrecon.models import build

    torch.manual_seed(0)
    torch.set_num_threads(1)
    return Predictor(build("mobrecon_ghoststack").eval(), name="random")


def _photo(w=96, h=72, seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (40, 90, 140), np.uint8)
    cv2.circle(img, (w // 2, h // 2), min(w, h) // 3, (220, 170, 140), -1)
    return np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)


def _write(path, rgb):
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path


def _reconstruct(monkeypatch, capsys, predictor, *args):
    """``mobrecon reconstruct`` in this process with ``predictor`` as the loaded model;
    returns (exit code, stdout, the stderr lines)."""
    monkeypatch.setattr(predictor_mod, "load", lambda *a, **k: predictor)
    code = cli.main(["reconstruct", "--no-detect", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def _set(out, name):
    return sorted(p.name for p in out.glob(f"{name}*")) + sorted(p.name for p in out.glob(f".{name}*"))


SET = ["{}.json", "{}.obj", "{}_overlay.png", "{}_side.png"]


# 1. images over the renderer's 8192 px: the overlay is drawn downscaled, the renderer refuses clearly

def test_1_huge_image_gets_a_downscaled_overlay_and_the_renderer_a_clear_limit(predictor, tmp_path):
    from mobrecon.infer.outputs import MAX_OVERLAY_SIDE, overlay, write_outputs
    from mobrecon.viz.render import MeshRenderer

    img = _photo(9000, 48)  # wider than the renderer's 8192 px (16384 supersampled twice)
    r = predictor.predict(img, K=(4000, 4000, 4499.5, 23.5))
    with MeshRenderer() as renderer:
        try:
            renderer.max_size
        except RuntimeError as e:
            pytest.skip(f"no EGL here: {e}")
        with pytest.raises(ValueError, match="limit"):
            renderer.render(r.vertices, r.faces, r.K, renderer.max_size, 8)
        pic = overlay(img, r, renderer)
        assert max(pic.shape[:2]) == MAX_OVERLAY_SIDE and pic.shape[0] == round(48 * MAX_OVERLAY_SIDE / 9000)
        paths = write_outputs(tmp_path, "wide", img, r, renderer)
    assert sorted(p.name for p in paths) == sorted(s.format("wide") for s in SET)


# 2. a box far larger than the image: refused at once, a ValueError, and crop_image stays fast

def test_2_huge_boxes_are_refused_and_crops_stay_bounded(predictor):
    from mobrecon.data.crop import CropBox, crop_image

    img = _photo()
    for box in ((0, 0, 1e7, 1e7), (0, 0, 1e9, 1e9)):
        with pytest.raises(ValueError, match="more than 10 times"):
            check_box(box, 96, 72)
        with pytest.raises(ValueError, match="more than 10 times"):
            predictor.predict(img, box=box)
    t = time.perf_counter()
    for side in (1.3e7, 1.3e9):  # the window itself, bypassing the box check: black, not a hang or cv2.error
        assert crop_image(img, CropBox(5e6, 5e6, side), 64).max() == 0
    assert crop_image(img, CropBox(47.5, 35.5, 960), 32).mean() > 0  # 10x the image: still the image, small
    assert time.perf_counter() - t < 5  # generous: the old blur took minutes
    # a normal window is the same as blurring the whole image (within one grey level)
    big = np.random.default_rng(1).integers(0, 255, (200, 300, 3), np.uint8)
    box = CropBox(120, 90, 180, 0.4)
    sigma = 0.5 / (64 / 180) * 0.6
    from mobrecon.data.crop import crop_matrix

    ref = cv2.warpAffine(cv2.GaussianBlur(big, (0, 0), sigma), crop_matrix(box, 64), (64, 64),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    assert np.abs(crop_image(big, box, 64).astype(int) - ref).max() <= 1


# 3. K: overflow, a bad last row, negative focal, a far principal point, NaN; never inf/NaN outputs

@pytest.mark.parametrize("K,needle", [
    ((1e-300, 1e-300, 100, 100), "focal length"),
    ((-500, 500, 48, 36), "focal length"),
    ((500, 500, -1e9, 36), "principal point"),
    ([[500, 0, 48], [0, 500, 36], [0, 0, 0]], "must be"),
    ((float("nan"), 500, 48, 36), "non-finite"),
])
def test_3_bad_intrinsics_are_refused_clearly(K, needle):
    with pytest.raises(ValueError, match=needle) as e:
        check_K(K, 96, 72)
    assert "shape" not in str(e.value) and "\n" not in str(e.value)


def test_3_non_finite_results_are_never_returned_or_written(predictor, tmp_path):
    from mobrecon.infer.outputs import write_outputs

    nan_net = Predictor(lambda batch: {k: v * np.nan for k, v in predictor._run(batch).items()},
                        faces=predictor.faces, input_size=predictor.input_size)
    with pytest.raises(ValueError, match="non-finite"):
        nan_net.predict(_photo())
    r = predictor.predict(_photo())
    bad = HandResult(**{**r.__dict__, "vertices": r.vertices * np.inf})
    with pytest.raises(ValueError, match="not finite"):
        write_outputs(tmp_path, "x", _photo(), bad)
    assert not list(tmp_path.iterdir())


def test_3_cli_overflowing_K_is_one_line_and_the_next_image_is_done(monkeypatch, capsys, predictor, tmp_path):
    a = _write(tmp_path / "a.png", _photo())
    out = tmp_path / "out"
    code, _, err = _reconstruct(monkeypatch, capsys, predictor, a, "--out", out, "--K", "1e-300,1e-300,100,100",
                                "--quiet")
    assert code == 2 and len(err) == 1 and "a.png" in err[0] and "focal length" in err[0]
    assert not list(out.glob("a*"))


# 4. output folder: checked before the model loads; a full disk leaves no partial set

def test_4_unusable_out_is_one_line_before_the_model_loads(monkeypatch, capsys, tmp_path):
    a = _write(tmp_path / "a.png", _photo())
    (tmp_path / "file").write_text("x")

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(predictor_mod, "load", no_load)
    assert cli.main(["reconstruct", str(a), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists and is not a folder" in err[0]

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    import mobrecon.io_utils as io_utils

    monkeypatch.setattr(io_utils.tempfile, "mkstemp", denied)  # as a read-only or immutable folder answers
    assert cli.main(["reconstruct", str(a), "--out", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write into this folder (Permission denied)" in err[0]


def test_4_full_disk_leaves_no_partial_set(monkeypatch, capsys, predictor, tmp_path):
    from PIL import Image

    imgs = [_write(tmp_path / f"{n}.png", _photo(seed=i)) for i, n in enumerate("abc")]
    out = tmp_path / "out"
    save, calls = Image.Image.save, []

    def full_disk_on_b(self, fp, *a, **k):
        calls.append(fp)
        if len(calls) == 4:  # the second image's side view: three of its four files already on disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", full_disk_on_b)
    code, stdout, err = _reconstruct(monkeypatch, capsys, predictor, *imgs, "--out", out, "--quiet")
    assert code == 2 and len(err) == 1 and "b.png" in err[0] and "No space left on device" in err[0]
    assert _set(out, "a") == sorted(s.format("a") for s in SET)
    assert _set(out, "c") == sorted(s.format("c") for s in SET)
    assert _set(out, "b") == []  # no file of b's set, no temp file either
    assert "reconstructed 2 of 3" in stdout


# 5. truncated JPEG (paths and PIL alike) and truncated video

def test_5_truncated_jpeg_is_a_bad_input_for_paths_pil_and_the_cli(monkeypatch, capsys, predictor, tmp_path):
    from PIL import Image

    data = cv2.imencode(".jpg", _photo(320, 240)[:, :, ::-1])[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) * 2 // 3])
    (tmp_path / "tail.jpg").write_bytes(data + b"appended video bytes")  # a motion photo: still fine
    assert read_image(tmp_path / "tail.jpg").shape == (240, 320, 3)
    with pytest.raises(ValueError, match="truncated"):
        read_image(tmp_path / "cut.jpg")
    with pytest.raises(ValueError, match="truncated"):
        read_image(Image.open(tmp_path / "cut.jpg"))
    with pytest.raises(ValueError, match="truncated"):
        predictor.predict(Image.open(tmp_path / "cut.jpg"))
    good = _write(tmp_path / "good.png", _photo())
    code, _, err = _reconstruct(monkeypatch, capsys, predictor, tmp_path / "cut.jpg", good, "--out",
                                tmp_path / "out", "--quiet")
    assert code == 2 and len(err) == 1 and "cut.jpg: truncated JPEG" in err[0]
    assert (tmp_path / "out" / "good.obj").is_file()


def test_5_truncated_video_reports_frames_read_of_listed(monkeypatch, capsys, predictor, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 72))
    if not writer.isOpened():
        pytest.skip("this OpenCV cannot write MJPG AVI")
    for i in range(10):
        writer.write(_photo(seed=i)[:, :, ::-1].copy())
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[:len(data) // 2])
    code, _, err = _reconstruct(monkeypatch, capsys, predictor, "--video", video, "--out", tmp_path / "out")
    assert code == 2 and len(err) == 1 and "of the 10 frames" in err[0] and "clip.avi" in err[0]
    report = json.loads((tmp_path / "out" / "video.json").read_text())
    assert 0 < report["frames"] < 10 and report["frames_listed"] == 10


# 6. two runs into one folder

def test_6_a_second_run_into_a_busy_folder_is_refused_and_reruns_say_so(monkeypatch, capsys, predictor, tmp_path):
    from mobrecon.io_utils import folder_lock

    a = _write(tmp_path / "a.png", _photo())
    out = tmp_path / "out"
    with folder_lock(out, "mobrecon run"):  # another run holds the folder
        code, _, err = _reconstruct(monkeypatch, capsys, predictor, a, "--out", out)
    assert code == 2 and len(err) == 1 and "in use by another mobrecon run" in err[0]
    assert not list(out.glob("a*"))
    code, stdout, _ = _reconstruct(monkeypatch, capsys, predictor, a, "--out", out)
    assert code == 0 and "replacing" not in stdout
    code, stdout, _ = _reconstruct(monkeypatch, capsys, predictor, a, "--out", out)
    assert code == 0 and "replacing an earlier run's files" in stdout and "replaced the earlier outputs of 1" in stdout


# 7. synth: the config check and write are one step; one generator run per folder

def test_7_synth_config_race_and_folder_lock(monkeypatch, tmp_path):
    from pathlib import Path

    from mobrecon.io_utils import FolderInUse, folder_lock
    from mobrecon.synth.generator import SynthConfig, check_config, generate

    root = tmp_path / "set"
    root.mkdir()
    check_config(root, SynthConfig(count=4, seed=1))
    is_file = Path.is_file
    # the other process looked before this one wrote: it sees no config.json
    monkeypatch.setattr(Path, "is_file", lambda p: False if p.name == "config.json" else is_file(p))
    with pytest.raises(ValueError, match="other settings \\(seed differ\\)"):
        check_config(root, SynthConfig(count=4, seed=2))
    monkeypatch.undo()
    assert json.loads((root / "config.json").read_text())["seed"] == 1
    assert sorted(p.name for p in root.iterdir()) == ["config.json"]  # no temp file left
    with folder_lock(root, "x"), pytest.raises(FolderInUse, match="in use by another mobrecon generator run"):
        generate(root, SynthConfig(count=4, seed=1), progress=False)


# 8. refused inputs without a traceback: unsafe pickle, YAML python tag, MANO memory bomb

class _Evil:
    def __reduce__(self):
        return (print, ("owned",))


def test_8_refused_files_are_one_line(capsys, tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil()))
    assert cli.main(["hand", "--model", str(evil), "--info"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to load global" in err[0]
    cfg = tmp_path / "evil.yaml"
    cfg.write_text("lr: !!python/object/apply:os.system ['echo owned']\n")
    assert cli.main(["detect-train", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "evil.yaml: not valid YAML" in err[0]


def test_8_mano_reader_checks_sizes_before_broadcasting(monkeypatch, tmp_path):
    import scipy.sparse

    from mobrecon.hand.mano import _to_numpy, load_mano_pickle

    ch = types.ModuleType("chumpy.ch")

    class add:  # pickled as chumpy.ch.add, as a MANO file's chumpy expressions are
        pass

    add.__module__, add.__qualname__ = "chumpy.ch", "add"
    ch.add = add
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch)
    bomb = add()
    bomb.__dict__.update(a=np.zeros((20000, 1)), b=np.zeros((1, 20000)))  # 320 kB asking for 3.2 GB
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": bomb}, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    with pytest.raises(ValueError, match="refusing to make a 4e\\+08-element array"):
        load_mano_pickle(path)
    with pytest.raises(ValueError, match="sparse matrix of shape"):
        _to_numpy(scipy.sparse.csc_matrix((100000, 100000)))


# 9. the smaller ones

def test_9_exif_orientation_is_honoured_for_pil_images(tmp_path):
    from PIL import Image

    img = Image.fromarray(_photo(96, 72))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "turned.jpg", exif=exif.tobytes())
    from_path = read_image(tmp_path / "turned.jpg")
    from_pil = read_image(Image.open(tmp_path / "turned.jpg"))
    assert from_path.shape == from_pil.shape == (96, 72, 3)
    assert np.abs(from_path.astype(int) - from_pil).mean() < 2


def test_9_predict_batch_keeps_going_past_a_bad_image(predictor):
    good, bad_k = _photo(), (500, 500, -1e9, 36)
    results = predictor.predict_batch([good, good, good], Ks=[None, bad_k, None], errors="keep")
    assert isinstance(results[0], HandResult) and isinstance(results[2], HandResult)
    assert isinstance(results[1], ValueError) and "principal point" in str(results[1])
    with pytest.raises(ValueError, match="image 1 of 3: .*principal point"):
        predictor.predict_batch([good, good, good], Ks=[None, bad_k, None])


def test_9_quiet_means_quiet_when_no_hand_is_found(monkeypatch, capsys, predictor, tmp_path):
    class NoHands:
        def detect(self, rgb, threshold=None):
            return []

    monkeypatch.setattr(predictor, "detector", NoHands())
    monkeypatch.setattr(predictor_mod, "load", lambda *a, **k: predictor)
    a = _write(tmp_path / "a.png", _photo())
    assert cli.main(["reconstruct", str(a), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no hand found in 1" in out[0]


def test_9_resume_trims_replayed_log_steps_and_stale_temps(tmp_path):
    from mobrecon.train.trainer import _drop_stale_temps, _trim_log

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in (0, 1, 2, 3, 4)) + '{"step": 5, "to')  # killed
    _trim_log(log, 2)  # last.pt was at step 2: steps 3 and 4 will be done again
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [0, 1, 2]
    (tmp_path / ".last.pt.x1y2.tmp").write_bytes(b"\0" * 100)  # a kill -9 during a checkpoint write
    (tmp_path / "last.pt").write_bytes(b"keep")
    _drop_stale_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "log.jsonl"]


def test_9_nan_K_message_names_the_values_not_the_shape():
    with pytest.raises(ValueError, match="non-finite values \\(nan"):
        check_K([float("nan"), 500, 48, 36], 96, 72)


def test_io_write_file_set_is_all_or_nothing(tmp_path):
    from mobrecon.io_utils import write_file_set

    (tmp_path / "old.txt").write_text("earlier")

    def fail(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_file_set({tmp_path / "new.txt": lambda t: t.write_text("x"), tmp_path / "new.bin": fail})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]
    paths = write_file_set({tmp_path / "a.txt": lambda t: t.write_text("a"),
                            tmp_path / "b.bin": lambda t: t.write_bytes(io.BytesIO(b"b").read())})
    assert [p.read_bytes() for p in paths] == [b"a", b"b"]
