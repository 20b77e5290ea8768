"""Synthetic hand *videos*: smoothly moving hands seen by a smoothly moving camera, cropped the
way a hand tracker would crop them (for acceleration metrics: 2D px/s^2, 3D mm/s^2).

A video set holds ``sequences`` sequences of ``frames`` frames at ``fps``. Sequence ``s``
depends only on (seed, s), so a set is reproducible byte for byte and an interrupted run
resumes by skipping complete sequences. Within a sequence (motion: :mod:`~mobrecon.synth.trajectories`):

* the hand (one random shape) moves between key poses -- random ones inside the joint limits,
  or the paper's 1,520 uniform poses (``keys``) -- with minimum-jerk movements checked for
  interpenetration;
* the camera orbits the hand over the forearm-side hemisphere (longitude, latitude, distance,
  roll and aim offset on C2 B-splines);
* the hand is rendered into a *crop* of a virtual ``frame_size`` x ``frame_size`` video frame
  (field of view ``frame_fov_deg``): the hand's box in the frame, smoothed over time, divided by
  a per-sequence fill factor, with independent per-frame jitter of centre and scale
  (``crop_jitter``), resized to ``size`` pixels. The crop only changes the intrinsics ``K``
  of the sample, so ``joints3d`` (camera space) is smooth while ``joints2d`` (crop pixels)
  carries the crop jitter; ``crop`` maps crop pixels back to the frame
  (:func:`~mobrecon.synth.trajectories.crop_to_frame`), where the 2D joints are smooth;
* background image, skin tone and vertex colours, light (fixed in camera space) and the
  photometric augmentation's colour transform, blur and fixed-pattern noise stay constant;
  only an extra luminance noise (sigma 0.5-3 levels, fixed per sequence) is drawn per frame.
  There are no occluders (they would pop in and out);
* with ``forearm`` (a share of sequences) the hand has a forearm of one shape for the whole
  sequence (:mod:`~mobrecon.synth.forearm`, bent away from the camera's mean direction), rebuilt
  on every frame's wrist loop so it follows the wrist; with ``camera_fx`` a share of sequences
  is seen through one camera (:func:`mobrecon.camera_effects.sample_camera` without motion
  blur), its sensor noise drawn per frame; with ``skin_texture`` a share of sequences has one
  painted skin texture (:mod:`mobrecon.synth.skin_texture`) for all its frames. None of them
  changes a label.

Storage: the layout of :mod:`mobrecon.synth.storage` with one shard per sequence
(``shard_{s:05d}`` = ``seq_{s:05d}``, frames in order, global index ``s * frames + f``), so
:class:`~mobrecon.synth.dataset.SynthDataset` reads video sets; config.json holds the
:class:`VideoConfig` (with ``fps``), summary.json the frame intrinsics ``K_frame`` and the
ground truth's own mean speeds and accelerations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mobrecon.camera_effects import sample_camera
from mobrecon.hand.lbs import matrix_to_axis_angle
from mobrecon.hand.load import load_hand
from mobrecon.hand.regions import skin_regions
from mobrecon.hand.uv import openhand_uv
from mobrecon.photometric import augment_photometric
from mobrecon.synth import storage
from mobrecon.synth.appearance import BACKGROUND_KINDS, make_background, sample_light, skin_tone, vertex_colors
from mobrecon.synth.forearm import arm_mesh, sample_arm, turn_away, wrist_loop
from mobrecon.synth.skin_texture import paint_skin, texture_size
from mobrecon.synth.generator import arm_hides, build_set, hand_and_arm, nearest_view
from mobrecon.synth.pose_space import uniform_poses
from mobrecon.synth.trajectories import (KEY_SOURCES, PoseTrack, ViewTrack, crop_intrinsics, crop_to_frame, crop_track,
                                         pose_track, square_boxes, view_track)
from mobrecon.synth.viewpoints import N_VIEWS, hemisphere_viewpoints, intrinsics, view_camera, view_direction
from mobrecon.viz.render import MeshRenderer


@dataclass(frozen=True)
class VideoConfig:
    """Settings of a generated video set (stored in DIR/config.json)."""

    sequences: int
    frames: int
    fps: float = 30.0
    seed: int = 0
    size: int = 128
    keys: str = "random"          # key poses: "random" (inside the joint limits) or "uniform" (the 1,520)
    pose_key_s: float = 0.6       # mean seconds between key poses (each interval x U(0.6, 1.4))
    view_key_s: float = 1.0       # seconds between the camera path's control points
    view_speed: float = 0.6       # typical camera turn rate, rad/s (longitude and roll)
    distance_min: float = 0.3     # camera distance from the wrist, metres
    distance_max: float = 0.6
    shape: float = 1.0            # shape parameters uniform in [-shape, shape], one per sequence
    fill: float = 0.8             # hand box side / crop side, per sequence fill + U(-0.1, 0.1)
    crop_jitter: float = 0.02     # per-frame crop centre shift (x side) and log-scale std
    crop_smooth_s: float = 0.1    # the tracker's smoothing of the hand box (Gaussian sigma, s)
    frame_size: int = 640         # the virtual video frame the crops are taken from, pixels
    frame_fov_deg: float = 60.0
    photometric: bool = True
    forearm: float = 0.0          # share of sequences with a forearm (shape drawn once per sequence)
    sleeve: float = 0.5           # of those, the share with a sleeve
    camera_fx: float = 0.0        # share of sequences through camera effects (one camera per sequence)
    skin_texture: float = 0.0     # share of sequences whose skin is a painted UV texture (one per sequence)

    def check(self) -> None:
        if self.sequences < 1:
            raise ValueError(f"--sequences must be positive, got {self.sequences}")
        if self.frames < 1:
            raise ValueError(f"--frames must be positive, got {self.frames}")
        if not self.fps > 0:
            raise ValueError(f"--fps must be positive, got {self.fps}")
        if not 32 <= self.size <= 1024:
            raise ValueError(f"--size must be between 32 and 1024, got {self.size}")
        if self.keys not in KEY_SOURCES:
            raise ValueError(f"--keys must be one of {', '.join(KEY_SOURCES)}, got {self.keys!r}")
        if not (self.pose_key_s > 0 and self.view_key_s > 0):
            raise ValueError("key intervals must be positive")
        if not 0 < self.distance_min <= self.distance_max:
            raise ValueError(f"need 0 < distance_min <= distance_max, got {self.distance_min}, {self.distance_max}")
        if not 0.2 <= self.fill <= 1.0:
            raise ValueError(f"--fill must be in [0.2, 1], got {self.fill}")
        if self.crop_jitter < 0 or self.crop_smooth_s < 0 or self.view_speed < 0 or self.shape < 0:
            raise ValueError("crop_jitter, crop_smooth_s, view_speed and shape must be >= 0")
        if self.frame_size < 32 or not 0 < self.frame_fov_deg < 150:
            raise ValueError(f"bad video frame {self.frame_size} px, {self.frame_fov_deg} degrees")
        for name in ("forearm", "sleeve", "camera_fx", "skin_texture"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be a share in [0, 1], got {v}")

    @property
    def count(self) -> int:
        return self.sequences * self.frames

    @property
    def n_shards(self) -> int:
        return self.sequences

    def shard_range(self, shard: int) -> range:
        return range(shard * self.frames, (shard + 1) * self.frames)


def sequence_name(s: int) -> str:
    return f"seq_{s:05d}"


def frame_intrinsics(cfg: VideoConfig) -> np.ndarray:
    """(3, 3) intrinsics of the virtual video frame the crops come from."""
    return intrinsics(cfg.frame_size, cfg.frame_fov_deg)


def _streams(cfg: VideoConfig, s: int) -> dict[str, np.random.Generator]:
    """Independent random streams of sequence ``s`` (depend on (seed, s) only)."""
    names = ("shape", "pose", "view", "crop", "look", "noise", "arm", "camera", "skin")  # new ones last: old stay
    kids = np.random.SeedSequence([cfg.seed, s]).spawn(len(names))
    return {n: np.random.default_rng(k) for n, k in zip(names, kids)}


@dataclass(frozen=True)
class SequencePlan:
    """Geometry of one sequence of F frames (everything but the pixels): ``shape`` (6,);
    ``poses`` / ``view`` the tracks; ``pose`` (F, 16, 3) axis-angle with [:, 0] the camera-space
    global orientation; ``R`` (F, 3, 3), ``t`` (F, 3) hand frame -> camera; ``vertices``
    (F, V, 3) and ``joints`` (F, 21, 3) camera space, metres; ``crop_smooth`` / ``crop``
    (F, 3) the tracker's crop before / after jitter, frame pixels; ``K`` (F, 3, 3) the crops'
    intrinsics; ``fill`` the sequence's fill factor."""

    shape: np.ndarray
    poses: PoseTrack
    view: ViewTrack
    pose: np.ndarray
    R: np.ndarray
    t: np.ndarray
    vertices: np.ndarray
    joints: np.ndarray
    crop_smooth: np.ndarray
    crop: np.ndarray
    K: np.ndarray
    fill: float


def plan_sequence(hand, cfg: VideoConfig, s: int, table=None, rngs: dict | None = None) -> SequencePlan:
    """The geometry of sequence ``s`` (deterministic given (cfg, s)); ``table`` (1520, 15, 3)
    uniform pose angles when ``cfg.keys == "uniform"``."""
    rngs = rngs if rngs is not None else _streams(cfg, s)
    n = cfg.frames
    shape = rngs["shape"].uniform(-cfg.shape, cfg.shape, 6) if cfg.shape > 0 else np.zeros(6)
    shape_t = torch.as_tensor(shape, dtype=torch.float32)[None]
    poses = pose_track(hand, rngs["pose"], n, cfg.fps, cfg.pose_key_s, shape=shape, source=cfg.keys, table=table)
    view = view_track(rngs["view"], n, cfg.fps, cfg.view_key_s, cfg.view_speed,
                      distance=(cfg.distance_min, cfg.distance_max))
    with torch.no_grad():
        rest = hand(None, shape_t).joints[0].double().numpy()
        pose = hand.angles_to_pose(torch.as_tensor(poses.angles, dtype=torch.float32))
        verts, joints = [], []
        for i in range(0, n, 256):
            out = hand(pose[i:i + 256], shape_t.expand(len(pose[i:i + 256]), -1))
            verts.append(out.vertices.double().numpy())
            joints.append(out.joints.double().numpy())
    verts, joints = np.concatenate(verts), np.concatenate(joints)

    R = np.empty((n, 3, 3))
    t = np.empty((n, 3))
    for f in range(n):  # the camera aims at the rest pose's palm, so it ignores finger motion
        R[f], t[f] = view_camera(rest, view.lon[f], view.lat[f], view.distance[f], view.roll[f],
                                 tuple(view.offset[f]))
    vc = np.einsum("fij,fvj->fvi", R, verts) + t[:, None]
    jc = np.einsum("fij,fvj->fvi", R, joints) + t[:, None]

    K_frame = frame_intrinsics(cfg)
    uvw = vc @ K_frame.T
    boxes = square_boxes(uvw[..., :2] / uvw[..., 2:])
    fill = float(np.clip(cfg.fill + rngs["crop"].uniform(-0.1, 0.1), 0.2, 1.0))
    crop_smooth, crop = crop_track(rngs["crop"], boxes, cfg.fps, fill, cfg.crop_smooth_s, cfg.crop_jitter)

    p = pose.double().numpy().copy()
    p[:, 0] = matrix_to_axis_angle(torch.as_tensor(R)).numpy()
    return SequencePlan(shape=shape, poses=poses, view=view, pose=p, R=R, t=t, vertices=vc, joints=jc,
                        crop_smooth=crop_smooth, crop=crop, K=crop_intrinsics(K_frame, crop, cfg.size), fill=fill)


class _VideoWorker:
    """Per-process state: the hand, the pose table (uniform keys), the view grid, one renderer."""

    def __init__(self, cfg: VideoConfig, root: Path):
        torch.set_num_threads(1)
        self.cfg, self.root = cfg, Path(root)
        self.hand = load_hand("openhand")
        self.faces = self.hand.faces.numpy().astype(np.int64)
        self.loop = wrist_loop(self.faces)
        self.table = uniform_poses(self.hand).angles.double().numpy() if cfg.keys == "uniform" else None
        self.grid = hemisphere_viewpoints()
        self.renderer = MeshRenderer()

    def close(self) -> None:
        self.renderer.close()

    def render_shard(self, s: int) -> int:
        """Render sequence ``s`` into shard ``s``; returns the number of frames."""
        cfg, size = self.cfg, self.cfg.size
        rngs = _streams(cfg, s)
        plan = plan_sequence(self.hand, cfg, s, self.table, rngs)

        look = rngs["look"]
        bg, kind = make_background(look, size)
        light = sample_light(look)
        skin = skin_tone(look)
        with torch.no_grad():
            rest = self.hand(None, torch.as_tensor(plan.shape, dtype=torch.float32)[None]).vertices[0].double().numpy()
        regions = skin_regions(self.hand)  # per vertex, from the rest mesh
        arm_shape = None
        if cfg.forearm > 0 and rngs["arm"].random() < cfg.forearm:  # bent away from the camera's mean direction
            towards = view_direction(plan.view.lon, plan.view.lat).mean(0)
            arm_shape = turn_away(sample_arm(rngs["arm"], cfg.sleeve), towards)
        if arm_shape is None:
            colors = vertex_colors(look, rest, skin, regions)
        else:  # colours from the rest pose's arm: its vertices are the same in every frame
            arm = arm_mesh(rest, self.loop, arm_shape)
            colors = vertex_colors(look, np.concatenate([rest, arm.vertices]), skin, arm.regions(regions, self.loop),
                                   center=rest.mean(0))
            colors[len(rest):] = arm.colors(colors[len(rest):], arm_shape)
        colors = np.clip(colors * np.asarray(light["color"]), 0, 1)
        texture = None
        if cfg.skin_texture > 0 and rngs["skin"].random() < cfg.skin_texture:
            texture = paint_skin(rngs["skin"], skin, texture_size(size))
            colors[:len(rest)] = np.clip(light["color"], 0, 1)  # the vertex colours only tint the texture
        camera = None
        if cfg.camera_fx > 0 and rngs["camera"].random() < cfg.camera_fx:
            camera = sample_camera(rngs["camera"], size, motion=False)  # no smear: the motion is real
        photo_seed = int(look.integers(2**62))
        noise_sigma = float(look.uniform(0.5, 3.0))

        name = sequence_name(s)
        f_frame = float(frame_intrinsics(cfg)[0, 0])
        nan5 = np.full(5, np.nan)
        ann = {k: [] for k in storage.ANNOTATIONS}
        encoded, verts_rel = [], []
        for f, i in enumerate(cfg.shard_range(s)):
            vc, jc, K = plan.vertices[f], plan.joints[f], plan.K[f]
            render = dict(K=K, width=size, height=size, light_dir=light["light_dir"], ambient=light["ambient"],
                          background=bg)
            if texture is not None:
                render.update(texture=texture, texcoords=openhand_uv().texcoords)
            if arm_shape is None:
                res = self.renderer.render(vc, self.faces, color=colors, **render)
                rgb, label = res.rgb, res.mask.astype(np.uint8) * storage.MASK_VISIBLE
                occluded = False
            else:  # the arm follows the wrist: rebuilt on this frame's hand, in the hand frame
                arm = arm_mesh((vc - plan.t[f]) @ plan.R[f], self.loop, arm_shape)
                res, label = hand_and_arm(self.renderer, self.faces, vc, arm, plan.R[f], plan.t[f], colors, render)
                rgb = res.rgb
                occluded = arm_hides(label)
            if camera is not None:
                rgb = camera.apply(rgb, rngs["camera"])
            if cfg.photometric:
                rgb = augment_photometric(np.random.default_rng(photo_seed), rgb)  # same per frame
                noise = rngs["noise"].standard_normal((size, size, 1), np.float32)
                noisy = rgb.astype(np.float32) + noise_sigma * noise
                rgb = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
            encoded.append(storage.encode_sample(rgb, label, res.depth))
            proj = jc @ K.T
            root = jc[0]
            verts_rel.append(vc - root)
            lon = float(plan.view.lon[f] % (2 * math.pi))
            lat = float(plan.view.lat[f])
            row = dict(index=i, K=K, R=plan.R[f], t=plan.t[f], root=root, joints3d=jc,
                       joints2d=proj[:, :2] / proj[:, 2:], pose=plan.pose[f], shape=plan.shape, flexion=nan5,
                       splay=nan5, pose_id=-1, pair=(-1, -1), t_interp=np.nan,
                       view_id=nearest_view(self.grid, lon, lat), lon_lat=(lon, lat),
                       roll=float((plan.view.roll[f] + math.pi) % (2 * math.pi) - math.pi),
                       fov=math.degrees(2 * math.atan(plan.crop[f, 2] / (2 * f_frame))),
                       skin=skin, light_dir=light["light_dir"], light_color=light["color"],
                       ambient=light["ambient"], background=BACKGROUND_KINDS.index(kind), occluded=occluded,
                       sequence=name, frame=f, crop=plan.crop[f])
            for k in storage.ANNOTATIONS:
                ann[k].append(row[k])
        storage.write_shard(storage.shard_dir(self.root, s), encoded, np.stack(verts_rel), ann)
        return cfg.frames


def video_worker(cfg_dict: dict, root: str) -> _VideoWorker:
    """The worker factory of video sets (see :func:`mobrecon.synth.generator.run_shards`)."""
    return _VideoWorker(VideoConfig(**cfg_dict), Path(root))


def generate_video(root: str | Path, cfg: VideoConfig, workers: int = 1, progress: bool = True) -> dict:
    """Generate (or finish) the video set in ``root``; returns the summary written to
    summary.json. A root holding a set made with other settings is refused (ValueError)."""
    return build_set(root, cfg, video_worker, summarize_video, workers, progress, desc="video")


def _mean_norm(x: np.ndarray) -> float:
    return float(np.linalg.norm(x, axis=-1).mean()) if x.size else float("nan")


def summarize_video(root: str | Path, cfg: VideoConfig) -> dict:
    """Counts, view / background histograms and the ground truth's mean speed and acceleration
    (per joint, finite differences) over the complete sequences: 3D camera-space joints in mm/s
    and mm/s^2, 2D joints in the video frame (smooth) and in the crops (with the crop jitter)
    in px/s and px/s^2."""
    view_hist = np.zeros(N_VIEWS, np.int64)
    bg_hist = np.zeros(len(BACKGROUND_KINDS), np.int64)
    n = done = 0
    motion = {k: [] for k in ("v3", "a3", "v2f", "a2f", "v2c", "a2c")}
    for s in range(cfg.n_shards):
        if not storage.is_complete(root, s):
            continue
        with np.load(storage.shard_dir(root, s) / "annotations.npz") as z:
            view_hist += np.bincount(z["view_id"], minlength=N_VIEWS)
            bg_hist += np.bincount(z["background"], minlength=len(BACKGROUND_KINDS))
            j3 = z["joints3d"].astype(np.float64) * 1000.0
            j2c = z["joints2d"].astype(np.float64)
            j2f = crop_to_frame(j2c, z["crop"], cfg.size)
        n += len(j3)
        done += 1
        for key, x in (("3", j3), ("2f", j2f), ("2c", j2c)):
            motion["v" + key].append(np.diff(x, axis=0) * cfg.fps)
            motion["a" + key].append(np.diff(x, 2, axis=0) * cfg.fps ** 2)
    mean = {k: _mean_norm(np.concatenate(v)) if v else float("nan") for k, v in motion.items()}
    mean = {k: round(v, 2) if math.isfinite(v) else None for k, v in mean.items()}  # None: too few frames
    return {
        "count": n,
        "requested": cfg.count,
        "complete": n == cfg.count,
        "mode": "video",
        "sequences": done,
        "sequences_requested": cfg.sequences,
        "frames": cfg.frames,
        "fps": cfg.fps,
        "seed": cfg.seed,
        "size": cfg.size,
        "keys": cfg.keys,
        "frame_size": cfg.frame_size,
        "K_frame": frame_intrinsics(cfg).tolist(),
        "shards": cfg.n_shards,
        "background_kinds": list(BACKGROUND_KINDS),
        "background_histogram": bg_hist.tolist(),
        "view_histogram": view_hist.tolist(),
        "ground_truth_motion": {
            "joints3d_speed_mm_s": mean["v3"], "joints3d_accel_mm_s2": mean["a3"],
            "joints2d_frame_speed_px_s": mean["v2f"], "joints2d_frame_accel_px_s2": mean["a2f"],
            "joints2d_crop_speed_px_s": mean["v2c"], "joints2d_crop_accel_px_s2": mean["a2c"],
        },
    }
