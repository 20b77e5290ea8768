"""Closed-form checks of the evaluation metrics and of the FreiHAND submission file."""

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from mobrecon.eval import (
    MetricAccumulator,
    accel,
    accel_error,
    f_score,
    mpjpe,
    mpvpe,
    pa_mpjpe,
    pa_mpvpe,
    pck_auc,
    pck_curve,
    procrustes_align,
    procrustes_align_batch,
    read_freihand_json,
    root_align,
    write_freihand_json,
)


def _hand(seed=0, n=21):
    """(n, 3) points of hand size (about 10 cm), metres."""
    return np.random.default_rng(seed).normal(scale=0.04, size=(n, 3))


def _grid(spacing=0.1):
    """27 points on a 3x3x3 grid: nearest neighbours ``spacing`` apart."""
    ax = np.arange(3) * spacing
    return np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)


def _similar_copy(x, seed=1):
    rot = Rotation.random(random_state=seed).as_matrix()
    return 1.7 * x @ rot.T + np.array([0.3, -0.2, 0.5])


# --- Procrustes ---------------------------------------------------------------------------------


def test_similar_copy_aligns_exactly_but_mpjpe_does_not():
    gt = _hand()
    pred = _similar_copy(gt)
    assert np.abs(procrustes_align(pred, gt, eps=0.0) - gt).max() < 1e-12
    assert pa_mpjpe(pred[None], gt[None], eps=0.0)[0] < 1e-12
    assert pa_mpvpe(pred[None], gt[None], eps=0.0)[0] < 1e-12
    # FreiHAND's 1e-8 on the norms leaves a few nanometres (1e-6 mm)
    assert np.abs(procrustes_align(pred, gt) - gt).max() < 1e-8
    assert mpjpe(root_align(pred[None]), root_align(gt[None]))[0] > 1e-3


def test_matches_freihand_formula():
    """FreiHAND: R, s = orthogonal_procrustes(gt_n, pred_n); aligned = pred_n @ R.T * s * |gt| + mean(gt)."""
    rng = np.random.default_rng(3)
    gt, pred = _hand(3), _hand(3) + rng.normal(scale=0.01, size=(21, 3))
    gc, pc = gt - gt.mean(0), pred - pred.mean(0)
    gn, pn = np.linalg.norm(gc) + 1e-8, np.linalg.norm(pc) + 1e-8
    rot, s = orthogonal_procrustes(gc / gn, pc / pn)
    expected = (pc / pn) @ rot.T * s * gn + gt.mean(0)
    np.testing.assert_allclose(procrustes_align(pred, gt), expected, atol=1e-12)


def test_reflection_is_allowed_like_freihand():
    gt = _hand(4)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert pa_mpjpe(mirrored[None], gt[None], eps=0.0)[0] < 1e-12


def test_batched_alignment_matches_single_and_masks():
    gt = np.stack([_hand(s) for s in range(3)])
    pred = np.stack([_similar_copy(g, s) for s, g in enumerate(gt)])
    pred[1, 5] += 0.05  # an outlier, excluded from the fit by the mask
    valid = np.ones((3, 21), bool)
    valid[1, 5] = False
    batch = procrustes_align_batch(pred, gt, valid)
    for b in range(3):
        np.testing.assert_allclose(batch[b], procrustes_align(pred[b], gt[b], valid[b]), atol=1e-12)
    assert pa_mpjpe(pred, gt, valid, eps=0.0).max() < 1e-12
    assert pa_mpjpe(pred, gt)[1] > 1e-4


# --- MPJPE / MPVPE ------------------------------------------------------------------------------


def test_known_offset():
    gt = _hand()[None]
    d = np.array([0.003, 0.004, 0.0])  # |d| = 5 mm
    assert mpjpe(gt + d, gt)[0] == pytest.approx(0.005)
    assert mpvpe(gt + d, gt)[0] == pytest.approx(0.005)
    # root-relative: a constant offset vanishes; an offset on all but the wrist gives 20/21 |d|
    assert mpjpe(root_align(gt + d), root_align(gt))[0] == pytest.approx(0.0, abs=1e-15)
    pred = gt.copy()
    pred[:, 1:] += d
    assert mpjpe(root_align(pred), root_align(gt))[0] == pytest.approx(20 / 21 * 0.005)
    # a mask leaves joints out of the mean
    valid = np.zeros((1, 21), bool)
    valid[0, :3] = True
    assert mpjpe(pred, gt, valid)[0] == pytest.approx(2 / 3 * 0.005)


# --- PCK / AUC ----------------------------------------------------------------------------------


def test_auc_extremes():
    assert pck_auc(np.zeros((4, 21)), 0.05) == pytest.approx(1.0)
    assert pck_auc(np.full((4, 21), 0.0501), 0.05) == pytest.approx(0.0)


def test_auc_hand_computed():
    # thresholds 0, 10, ..., 50 mm; errors 5/15/25/35 mm -> PCK 0, .25, .5, .75, 1, 1
    errors = np.array([0.005, 0.015, 0.025, 0.035])
    np.testing.assert_allclose(pck_curve(errors, np.linspace(0, 0.05, 6)), [0, 0.25, 0.5, 0.75, 1, 1])
    # trapezoid: 10 * (0/2 + .25 + .5 + .75 + 1 + 1/2) = 30, over 50 -> 0.6
    assert pck_auc(errors, 0.05, n=6) == pytest.approx(0.6)
    # an error exactly on a threshold counts as correct (<=)
    assert pck_curve(np.array([0.01]), np.array([0.01]))[0] == 1.0


def test_auc_averages_per_keypoint():
    # keypoint 0: three perfect samples; keypoint 1: one sample far off (others unannotated)
    e = np.array([[0.0, 1.0], [0.0, np.nan], [0.0, np.nan]])
    assert pck_auc(e, 0.05) == pytest.approx(0.5)  # pooling all points would give 0.75


def test_auc_2d():
    gt = np.random.default_rng(0).uniform(0, 128, size=(5, 21, 2))
    err = np.linalg.norm((gt + np.array([3.0, 4.0])) - gt, axis=-1)  # 5 px everywhere
    # linspace(0, 30, 100): PCK is 0 up to t_16 = 4.85 and 1 from t_17 = 5.15;
    # area = 30/99 * (82 + 1/2) = 25 -> 25 / 30
    assert pck_auc(err, 30.0, 100) == pytest.approx(5 / 6)


# --- F-score ------------------------------------------------------------------------------------


def test_f_score():
    verts = _grid()
    assert f_score(verts, verts, 0.005) == 1.0
    shifted = verts + np.array([0.02, 0.0, 0.0])
    assert f_score(shifted, verts, 0.015) == 0.0
    assert f_score(shifted, verts, 0.005) == 0.0
    assert f_score(verts + np.array([0.01, 0.0, 0.0]), verts, 0.015) == 1.0
    # one extra far predicted point: precision 27/28, recall 1
    extra = np.vstack([verts, [[1.0, 1.0, 1.0]]])
    f, p, r = f_score(extra, verts, 0.005, return_pr=True)
    assert (p, r) == (pytest.approx(27 / 28), 1.0)
    assert f == pytest.approx(2 * p * r / (p + r))
    assert f_score(np.zeros((0, 3)), verts, 0.005) == 0.0


# --- acceleration -------------------------------------------------------------------------------


def test_accel_identical_is_zero():
    seq = np.random.default_rng(0).normal(size=(8, 21, 2))
    assert accel_error(seq, seq, fps=30) == 0.0


def test_accel_quadratic_closed_form():
    fps, a = 30.0, np.array([1.0, -2.0, 2.0])  # |a| = 3 units/s^2
    t = np.arange(10) / fps
    traj = 0.5 * t[:, None] ** 2 * a  # (T, 3) = a t^2 / 2
    pred = np.repeat(traj[:, None, :], 4, axis=1) + np.random.default_rng(0).normal(size=(1, 4, 3))
    assert accel(pred, fps) == pytest.approx(3.0)
    assert accel_error(pred, np.zeros_like(pred), fps) == pytest.approx(3.0)
    assert accel(np.ones((6, 2, 3)), fps) == 0.0  # a constant sequence
    assert np.isnan(accel(pred[:2], fps))  # too short


# --- accumulator --------------------------------------------------------------------------------


def test_accumulator_summary():
    gt_j = np.stack([_hand(0), _hand(1)])
    gt_v = np.stack([_grid(), _grid() + 0.3])
    pred_j = gt_j.copy()
    pred_v = gt_v.copy()
    pred_j[0] += 0.1  # sample 0: whole hand moved -> all root-relative errors vanish
    pred_v[0] += 0.1
    pred_j[1, 1:] += np.array([0.003, 0.004, 0.0])  # sample 1: 5 mm on all but the wrist
    pred_v[1] += np.array([0.0, 0.02, 0.0])  # and the mesh 20 mm off (same wrist)
    gt_2 = np.random.default_rng(0).uniform(0, 128, size=(2, 21, 2))
    pred_2 = gt_2 + np.array([3.0, 4.0])
    valid_2 = np.ones((2, 21), bool)
    valid_2[1, 7] = False
    pred_2[1, 7] += 50.0  # unannotated, so ignored

    acc = MetricAccumulator()
    acc.add(
        {"joints3d": pred_j[:1], "vertices": pred_v[:1], "joints2d": pred_2[:1]},
        {"joints3d": gt_j[:1], "vertices": gt_v[:1], "joints2d": gt_2[:1], "joints2d_valid": valid_2[:1]},
    )
    acc.add(  # a single sample without the batch axis
        {"joints3d": pred_j[1], "vertices": pred_v[1], "joints2d": pred_2[1]},
        {"joints3d": gt_j[1], "vertices": gt_v[1], "joints2d": gt_2[1], "joints2d_valid": valid_2[1]},
    )
    s = acc.summary()
    assert set(s) == {
        "mpjpe_mm", "pa_mpjpe_mm", "auc3d_pa", "count_joints3d", "mpvpe_mm", "pa_mpvpe_mm",
        "f5", "f15", "f5_raw", "f15_raw", "count_vertices", "mpjpe2d_px", "auc2d", "count_joints2d",
    }  # fmt: skip
    assert s["mpjpe_mm"] == pytest.approx(20 / 21 * 2.5)  # per joint mean(0, 5) mm, wrist 0
    assert s["pa_mpjpe_mm"] == pytest.approx(1000 * pa_mpjpe(pred_j, gt_j).mean())
    assert 0 < s["pa_mpjpe_mm"] < 5.0 and 0.9 < s["auc3d_pa"] <= 1.0
    assert s["mpvpe_mm"] == pytest.approx(10.0)  # mean(0, 20) mm
    assert s["pa_mpvpe_mm"] == pytest.approx(0.0, abs=1e-5)  # FreiHAND's norm epsilon: ~4e-6 mm
    assert (s["f5"], s["f15"]) == (1.0, 1.0)
    assert (s["f5_raw"], s["f15_raw"]) == (0.5, 0.5)  # the 20 mm shift survives root alignment
    assert s["mpjpe2d_px"] == pytest.approx(5.0) and s["auc2d"] == pytest.approx(5 / 6)
    assert (s["count_joints3d"], s["count_vertices"], s["count_joints2d"]) == (2, 2, 2)


def test_accumulator_only_reports_what_it_has():
    acc = MetricAccumulator()
    assert acc.summary() == {}
    g = np.zeros((1, 21, 2))
    acc.add({"joints2d": g + 1.0}, {"joints2d": g})
    assert set(acc.summary()) == {"mpjpe2d_px", "auc2d", "count_joints2d"}
    with pytest.raises(ValueError, match="joints3d"):
        acc.add({"vertices": _grid()}, {"vertices": _grid()})
    raw = MetricAccumulator(root_relative=False)
    raw.add({"vertices": _grid() + np.array([0.001, 0.0, 0.0])}, {"vertices": _grid()})
    assert raw.summary()["mpvpe_mm"] == pytest.approx(1.0)


def test_accumulator_sequences():
    fps, a2, a3 = 30.0, np.array([6.0, 8.0]), np.array([0.0, 3.0, 4.0])  # |a2| = 10 px/s^2, |a3| = 5 m/s^2
    gt_j, gt_2 = _hand(0), np.random.default_rng(0).uniform(0, 128, size=(21, 2))
    acc = MetricAccumulator(fps=fps)
    # sequence "a": frames 0..4, fed out of order; sequence "b": frames 0-2 and 10-11 (a gap)
    frames = [("a", f) for f in (3, 0, 4, 1, 2)] + [("b", f) for f in (0, 1, 2, 10, 11)]
    for seq, f in frames:
        t = f / fps
        pred_j = gt_j.copy()
        pred_j[1:] += 0.5 * t * t * a3  # the wrist stays: root-relative motion on 20 of 21 joints
        acc.add(
            {"joints3d": pred_j, "joints2d": gt_2 + 0.5 * t * t * a2},
            {"joints3d": gt_j, "joints2d": gt_2, "sequence": seq, "frame": f},
        )
    s = acc.summary()
    assert s["accel2d_px_s2"] == pytest.approx(10.0)
    assert s["accel3d_mm_s2"] == pytest.approx(1000 * 5.0 * 20 / 21)
    assert s["count_accel2d_frames"] == s["count_accel3d_frames"] == 3 + 1
    assert s["count_sequences"] == 2


# --- submission file ----------------------------------------------------------------------------


def test_submission_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    xyz, verts = rng.normal(size=(3, 21, 3)), rng.normal(size=(3, 778, 3))
    path = tmp_path / "pred.json"
    write_freihand_json(path, xyz, list(verts))
    rx, rv = read_freihand_json(path)
    assert len(rx) == len(rv) == 3
    np.testing.assert_array_equal(np.stack(rx), xyz)
    np.testing.assert_array_equal(np.stack(rv), verts)
    assert [p.name for p in tmp_path.iterdir()] == ["pred.json"]  # no temp file left behind


def _entry(n):
    return np.zeros((n, 3)).tolist()


@pytest.mark.parametrize(
    "content, message",
    [
        ("[[", "not valid JSON"),
        ('{"xyz": []}', "top-level list"),
        ("[[], [], []]", "top-level list"),
        ('[[], "verts"]', "verts_list should be a list"),
        (repr([[_entry(21)], []]).replace("'", '"'), "1 entries but verts_list has 0"),
        (repr([[_entry(20)], [_entry(778)]]), r"xyz_list\[0\] has shape \(20, 3\)"),
        (repr([[_entry(21)], [np.zeros((778, 2)).tolist()]]), r"verts_list\[0\] has shape \(778, 2\)"),
        ('[[[["a", "b", "c"]]], [[]]]', r"xyz_list\[0\] is not a rectangular array"),
        ("[[[[0, 0, 0], [0, 0]]], [[]]]", r"xyz_list\[0\] is not a rectangular array"),
    ],
)
def test_submission_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        read_freihand_json(path)
    text = str(err.value)
    assert str(path) in text and "\n" not in text


def test_submission_write_checks(tmp_path):
    with pytest.raises(ValueError, match="2 entries but verts_list has 1"):
        write_freihand_json(tmp_path / "p.json", np.zeros((2, 21, 3)), np.zeros((1, 778, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        write_freihand_json(tmp_path / "p.json", np.full((1, 21, 3), np.nan), np.zeros((1, 778, 3)))
    assert not (tmp_path / "p.json").exists()
