"""Generated training and test images for the hand detector ("composites").

Each image is ``size`` x ``size`` (256 by default): a procedural background
(:func:`mobrecon.synth.appearance.make_background`), sometimes skin-coloured distractor blobs,
then 0, 1 or 2 synthetic OpenHand hands rendered at random positions, scales (hand box side
roughly ``min_box``..``max_box`` pixels, log-uniform), viewpoints and in-plane rotations, often
with a forearm (the mesh's open wrist loop extruded back along the arm, bent at the wrist;
:func:`mobrecon.synth.forearm.forearm`), then sometimes occluders and photometric degradation.
A left hand is the right hand rendered into the horizontally mirrored canvas: a mirrored right
hand is a left hand.

The photographic look of :mod:`mobrecon.synth` is optional (shares, all 0 by default):
``photo_bg`` of the images have a photo of the look cache (:mod:`mobrecon.synth.look_assets`)
as background, a random crop / scale / flip / tint of it
(:class:`~mobrecon.synth.photo_backgrounds.PhotoBackgrounds`); ``env_light`` are lit by an HDR
environment map (one per image, shared by its hands; ``env_bg`` of those show the map itself
behind them); ``forearm`` of the hands wear the generators' arm (:func:`~mobrecon.synth.forearm.sample_arm`:
a longer tube bent smoothly at the wrist, ``sleeve`` of them in a sleeve) in place of the plain one;
``camera_fx`` of the images go through :mod:`mobrecon.camera_effects`. Each draws from its own
random stream, (seed, i, 1) backgrounds and light, (seed, i, 2) arms, (seed, i, 3) camera, while
the main stream (seed, i) draws what it always drew, so boxes, poses and the rest of the look of
sample ``i`` do not depend on them and at 0 a set is byte for byte what it was before they existed.
A share above 0 needs the look cache (``mobrecon synth --fetch-look``): without it
:func:`look_index` and :func:`load_look` raise a ValueError saying so.

Ground truth per hand: ``box`` (x0, y0, x1, y1) pixels, the tight box of the hand's projected
vertices (the forearm excluded) clipped to the image, and ``left`` (handedness). Sample ``i``
depends only on (seed, i) and on the poses drawn for its shard, so a set is reproducible.

Layout on disk (shards as in :mod:`mobrecon.synth.storage`, written by the same shard loop)::

    DIR/config.json, DIR/summary.json
    DIR/shard_00000/rgb.bin           concatenated JPEGs (quality 95)
    DIR/shard_00000/annotations.npz   index (N,), n_hands (N,), boxes (N, 2, 4) float32 (NaN
                                      padded), left (N, 2) bool, rgb_offsets (N + 1,); written
                                      last, so its presence marks the shard complete
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from mobrecon.camera_effects import sample_camera
from mobrecon.hand.load import load_hand
from mobrecon.hand.regions import skin_regions
from mobrecon.io_utils import atomic_path, atomic_save_npz
from mobrecon.photometric import augment_photometric
from mobrecon.synth import storage
from mobrecon.synth.appearance import draw_occluders, make_background, sample_light, skin_tone, vertex_colors
from mobrecon.synth.envlight import EnvMaps
from mobrecon.synth.forearm import arm_mesh, forearm, sample_arm, turn_away, wrist_loop
from mobrecon.synth.generator import build_set
from mobrecon.synth.look_assets import default_cache, load_index
from mobrecon.synth.photo_backgrounds import PhotoBackgrounds
from mobrecon.synth.pose_space import random_pose_angles, uniform_poses
from mobrecon.synth.viewpoints import view_camera, view_direction
from mobrecon.viz.render import MeshRenderer

MAX_HANDS = 2
LOOK_SHARES = ("photo_bg", "env_light", "env_bg", "forearm", "sleeve", "camera_fx")
MIRROR_X = np.diag([-1.0, 1.0, 1.0])  # camera coordinates of the mirrored canvas (left hands)


@dataclass(frozen=True)
class CompositeConfig:
    """Settings of a composite set (stored in DIR/config.json; a re-run must match them)."""

    count: int
    seed: int = 0
    size: int = 256
    shard_size: int = 500
    min_box: float = 24.0        # hand box side (its longer side), pixels, log-uniform
    max_box: float = 200.0
    p_zero: float = 0.12         # images without a hand
    p_two: float = 0.33          # images with two hands (the rest have one)
    left_prob: float = 0.5
    forearm_prob: float = 0.7
    distractor_prob: float = 0.5
    occluder_prob: float = 0.2
    photometric: bool = True
    photo_bg: float = 0.0        # share of images with a look-cache photo as background
    env_light: float = 0.0       # share of images lit by a look-cache HDR environment map
    env_bg: float = 0.3          # of those, the share with the map itself as background
    forearm: float = 0.0         # share of hands with the generators' arm instead of the plain one
    sleeve: float = 0.5          # of those, the share with a sleeve
    camera_fx: float = 0.0       # share of images through camera effects

    def check(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be positive, got {self.count}")
        if not 64 <= self.size <= 1024:
            raise ValueError(f"size must be between 64 and 1024, got {self.size}")
        if not 8 <= self.min_box < self.max_box <= self.size:
            raise ValueError(f"need 8 <= min_box < max_box <= size, got {self.min_box}, {self.max_box}")
        if self.shard_size < 1:
            raise ValueError(f"shard size must be positive, got {self.shard_size}")
        if not (0 <= self.p_zero and 0 <= self.p_two and self.p_zero + self.p_two <= 1):
            raise ValueError("p_zero and p_two must be probabilities summing to at most 1")
        for name in LOOK_SHARES:
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be a share in [0, 1], got {v}")

    @property
    def n_shards(self) -> int:
        return math.ceil(self.count / self.shard_size)

    def shard_range(self, shard: int) -> range:
        return range(shard * self.shard_size, min(self.count, (shard + 1) * self.shard_size))


def _no_look(cfg: CompositeConfig, missing: list[str]) -> ValueError:
    flags = " / ".join(f for f, v in (("--photo-bg", cfg.photo_bg), ("--env-light", cfg.env_light)) if v > 0)
    return ValueError(f"{flags}: no usable {' or '.join(missing)} in the look cache {default_cache()}; "
                      "run `mobrecon synth --fetch-look` first")


def look_index(cfg: CompositeConfig) -> dict | None:
    """The look cache's index when ``cfg``'s shares need it (None when they are all 0); raises
    ValueError (one line: run ``mobrecon synth --fetch-look``) when it lacks a needed part.
    Cheap: no file is decoded."""
    if cfg.photo_bg <= 0 and cfg.env_light <= 0:
        return None
    index = load_index() or {"backgrounds": [], "envmaps": []}
    missing = [what for what, share, key in (("photos", cfg.photo_bg, "backgrounds"),
                                             ("environment maps", cfg.env_light, "envmaps"))
               if share > 0 and not index[key]]
    if missing:
        raise _no_look(cfg, missing)
    return index


def load_look(cfg: CompositeConfig, warn=print) -> tuple[PhotoBackgrounds | None, EnvMaps | None]:
    """The look cache's photos and environment maps that ``cfg``'s shares need (None where a
    share is 0), decoded; ValueError as :func:`look_index`, also when none of the files reads."""
    index = look_index(cfg)
    photos = env = None
    if index is not None and cfg.photo_bg > 0:
        photos = PhotoBackgrounds([e["file"] for e in index["backgrounds"]], warn=warn)
    if index is not None and cfg.env_light > 0:
        env = EnvMaps([e["file"] for e in index["envmaps"]], warn=warn)
    missing = [what for what, have in (("photos", photos), ("environment maps", env)) if have is not None and not len(have)]
    if missing:
        raise _no_look(cfg, missing)
    return photos, env


def _skin_blobs(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """1-3 skin-coloured distractors (shaded ellipses and lumpy blobs, face- or arm-like) drawn
    onto a copy of (H, W, 3) uint8 ``img``."""
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        m = np.zeros((h, w), np.uint8)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.04, 0.3) * min(h, w)
        for _k in range(int(rng.integers(1, 4))):  # one ellipse or a lumpy union of a few
            ax = (max(2, int(r * rng.uniform(0.5, 1.0))), max(2, int(r * rng.uniform(0.2, 1.0))))
            ctr = (int(cx + rng.normal(0, 0.4 * r)), int(cy + rng.normal(0, 0.4 * r)))
            cv2.ellipse(m, ctr, ax, rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA)
        alpha = cv2.GaussianBlur(m, (0, 0), rng.uniform(0.5, 2.0)).astype(np.float32)[..., None] / 255.0
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        th = rng.uniform(0, 2 * np.pi)
        ramp = ((xx - cx) * math.cos(th) + (yy - cy) * math.sin(th)) / max(r, 1.0)
        shade = np.clip(1.0 + rng.uniform(0.1, 0.35) * ramp, 0.4, 1.4)[..., None]
        col = skin_tone(rng)[None, None] * 255.0 * shade
        out += alpha * (col - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def hand_count(rng: np.random.Generator, cfg: CompositeConfig) -> int:
    u = rng.random()
    return 0 if u < cfg.p_zero else (2 if u < cfg.p_zero + cfg.p_two else 1)


def _overlap(a, b) -> float:
    """Intersection of boxes a and b (x0, y0, x1, y1) over the smaller one's area."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 1.0


class CompositeWorker:
    """Per-process state (the hand, its uniform pose table, its wrist loop, one renderer);
    :meth:`render_shard` writes one shard. :meth:`compose` makes one image in memory."""

    def __init__(self, cfg: CompositeConfig, root: Path | None = None):
        torch.set_num_threads(1)
        self.cfg = cfg
        self.root = Path(root) if root is not None else None
        self.hand = load_hand("openhand")
        self.faces = self.hand.faces.numpy().astype(np.int64)
        self.loop = wrist_loop(self.faces)
        self.uniform = uniform_poses(self.hand)
        self.renderer = MeshRenderer()
        self.photos, self.env = load_look(cfg)

    def close(self) -> None:
        self.renderer.close()

    def hands(self, n: int, seed: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n posed hands in their own frame: vertices (n, 778, 3), joints (n, 21, 3), metres.
        Half the poses come from the paper's uniform table, half uniform inside the joint limits."""
        if n == 0:
            return np.zeros((0, len(self.hand.v_template), 3)), np.zeros((0, 21, 3))
        angles = self.uniform.angles[torch.as_tensor(rng.integers(0, len(self.uniform.t), n))].clone()
        rand = torch.as_tensor(rng.random(n) < 0.5)
        if rand.any():
            angles[rand] = random_pose_angles(self.hand, int(rand.sum()), seed=seed)
        shape = torch.as_tensor(rng.uniform(-1.0, 1.0, (n, self.hand.num_shape)), dtype=torch.float32)
        with torch.no_grad():
            out = self.hand(self.hand.angles_to_pose(angles), shape)
        return out.vertices.numpy().astype(np.float64), out.joints.numpy().astype(np.float64)

    def _stream(self, index: int, k: int, share: float) -> np.random.Generator | None:
        """The look's own random stream k of sample ``index`` (None when its share is 0)."""
        return np.random.default_rng([self.cfg.seed, int(index), k]) if share > 0 else None

    def compose(self, rng: np.random.Generator, verts: np.ndarray, joints: np.ndarray, index: int = 0) -> dict:
        """One composite image from ``rng`` and the hands to place, vertices (n, V, 3) and
        joints (n, 21, 3) in the hand frame; ``index`` (the sample's) seeds the look's own
        streams. Returns ``image`` (S, S, 3) uint8, ``boxes`` (m, 4) float32 and ``left`` (m,)
        bool (m <= n: hands that ended up outside are dropped)."""
        cfg, S = self.cfg, self.cfg.size
        canvas, _ = make_background(rng, S)  # drawn even when replaced: the main stream stays as it was
        look_rng = self._stream(index, 1, max(cfg.photo_bg, cfg.env_light))
        env = None
        if self.env is not None and look_rng.random() < cfg.env_light:
            env, info = self.env.sample(look_rng)
            if look_rng.random() < cfg.env_bg:  # the map itself, seen by a camera of the composites' fov
                f = 0.5 * S / math.tan(math.radians(look_rng.uniform(40.0, 70.0)) / 2)
                K = np.array([[f, 0.0, (S - 1) / 2], [0.0, f, (S - 1) / 2], [0.0, 0.0, 1.0]])
                canvas = self.env.background(info["map"], K, S, info["to_map"], info["exposure"])
                look_rng = None  # no photo then
        if look_rng is not None and self.photos is not None and look_rng.random() < cfg.photo_bg:
            canvas = self.photos.sample(look_rng, S)[0]
        arm_rng = self._stream(index, 2, cfg.forearm)
        if rng.random() < cfg.distractor_prob:
            canvas = _skin_blobs(rng, canvas)
        boxes: list[list[float]] = []
        lefts: list[bool] = []
        for k in range(len(verts)):
            left = bool(rng.random() < cfg.left_prob)
            lon = rng.uniform(0, 2 * math.pi)
            lat = math.asin(rng.uniform(-0.6, 0.97))  # mostly the forearm side, some from the fingers' side
            roll = rng.uniform(-math.pi, math.pi)
            fov = math.radians(rng.uniform(40.0, 70.0))
            f = 0.5 * S / math.tan(fov / 2)
            side = math.exp(rng.uniform(math.log(cfg.min_box), math.log(cfg.max_box)))
            R, t = view_camera(joints[k], lon, lat, 0.5, roll)
            vc = verts[k] @ R.T + t
            uv = vc[:, :2] / vc[:, 2:]
            dist = 0.5 * float(np.max(uv.max(0) - uv.min(0))) * f / side
            R, t = view_camera(joints[k], lon, lat, dist, roll)
            vc = verts[k] @ R.T + t
            if (vc[:, 2] < 0.02).any():
                continue
            uv = f * vc[:, :2] / vc[:, 2:]
            lo, hi = uv.min(0), uv.max(0)
            wh = hi - lo
            c_lo, c_hi = wh / 2 - 0.2 * wh, S - 1 - wh / 2 + 0.2 * wh
            if (c_hi < c_lo).any():  # seen this close, the hand would not fit the image
                continue
            for _try in range(10):  # centre: up to 20 % of the box may leave the image; avoid big overlaps
                c = rng.uniform(c_lo, c_hi)
                cxy = c - (lo + hi) / 2
                box = np.concatenate([lo + cxy, hi + cxy])
                mbox = [S - 1 - box[2], box[1], S - 1 - box[0], box[3]] if left else list(box)
                if all(_overlap(mbox, b) < 0.3 for b in boxes):
                    break
            else:
                continue
            K = np.array([[f, 0.0, cxy[0]], [0.0, f, cxy[1]], [0.0, 0.0, 1.0]])
            v_all, f_all, regions = vc, self.faces, skin_regions(self.hand)
            plain_arm = rng.random() < cfg.forearm_prob
            arm_shape = None
            if arm_rng is not None and arm_rng.random() < cfg.forearm:  # the generators' arm instead
                arm_shape = turn_away(sample_arm(arm_rng, cfg.sleeve), view_direction(lon, lat))
            if plain_arm:
                arm_v, arm_f = forearm(verts[k], self.loop, rng)  # drawn even when replaced (main stream)
            if arm_shape is not None:
                arm = arm_mesh(verts[k], self.loop, arm_shape)
                v_all = np.concatenate([vc, arm.vertices @ R.T + t])
                f_all = np.concatenate([self.faces, arm.faces(v_all)])
                regions = arm.regions(regions, self.loop)
            elif plain_arm:
                v_all = np.concatenate([vc, arm_v @ R.T + t])
                f_all = np.concatenate([self.faces, arm_f])
                # the arm's two rings copy the wrist loop: its palm side continues the palm's
                regions = regions.take(np.concatenate([np.arange(len(vc)), self.loop, self.loop]))
                keep = v_all[:, 2] > 0.01  # drop arm faces reaching behind the camera
                f_all = f_all[keep[f_all].all(1)]
            light = sample_light(rng)  # drawn even under an environment map (main stream)
            if arm_shape is None:
                skin = vertex_colors(rng, v_all, skin_tone(rng), regions)
            else:  # the arm continues the hand's own colour fields, and wears its sleeve
                skin = vertex_colors(rng, np.concatenate([verts[k], arm.vertices]), skin_tone(rng), regions,
                                     center=verts[k].mean(0))
                skin[len(vc):] = arm.colors(skin[len(vc):], arm_shape)
            colors = np.clip(skin * np.asarray(light["color"] if env is None else np.ones(3)), 0, 1)
            if left:
                canvas = np.ascontiguousarray(canvas[:, ::-1])
            # a left hand lives in the mirrored canvas: the map is mirrored with it
            hand_env = env if env is None or not left else replace(env, to_map=env.to_map @ MIRROR_X)
            canvas = self.renderer.render(v_all, f_all, K, S, S, color=colors, light_dir=light["light_dir"],
                                          ambient=light["ambient"], background=canvas, env=hand_env).rgb
            if left:
                canvas = np.ascontiguousarray(canvas[:, ::-1])
            clipped = np.clip(np.asarray(mbox, np.float64), -0.5, S - 0.5)
            if min(clipped[2] - clipped[0], clipped[3] - clipped[1]) < 4:
                continue
            boxes.append([float(v) for v in clipped])
            lefts.append(left)
        if rng.random() < cfg.occluder_prob:
            canvas, occ = draw_occluders(rng, canvas, n=1)
            kept = []  # a hand mostly hidden behind the occluder is no longer a target
            for i, b in enumerate(boxes):
                x0, y0, x1, y1 = (int(round(v)) for v in (max(b[0], 0), max(b[1], 0), b[2] + 1, b[3] + 1))
                if occ[y0:y1, x0:x1].mean() < 0.6:
                    kept.append(i)
            boxes, lefts = [boxes[i] for i in kept], [lefts[i] for i in kept]
        fx_rng = self._stream(index, 3, cfg.camera_fx)
        if fx_rng is not None and fx_rng.random() < cfg.camera_fx:
            canvas = sample_camera(fx_rng, S).apply(canvas, fx_rng)
        if cfg.photometric:
            canvas = augment_photometric(rng, canvas)
        return {"image": canvas, "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                "left": np.asarray(lefts, bool)}

    def sample(self, i: int) -> dict:
        """Sample ``i`` of the set (its poses drawn on their own; the set's shards draw them per shard)."""
        rng = np.random.default_rng([self.cfg.seed, int(i)])
        n = hand_count(rng, self.cfg)
        v, j = self.hands(n, self.cfg.seed * 1_000_003 + int(i), rng)
        return self.compose(rng, v, j, i)

    def render_shard(self, shard: int) -> int:
        cfg = self.cfg
        idx = np.asarray(cfg.shard_range(shard), np.int64)
        rngs = [np.random.default_rng([cfg.seed, int(i)]) for i in idx]
        counts = np.array([hand_count(r, cfg) for r in rngs])
        pose_rng = np.random.default_rng([cfg.seed, 7_919, shard])
        verts, joints = self.hands(int(counts.sum()), cfg.seed * 1_000_003 + shard, pose_rng)
        starts = np.concatenate([[0], np.cumsum(counts)])
        blobs, n_hands = [], []
        boxes = np.full((len(idx), MAX_HANDS, 4), np.nan, np.float32)
        left = np.zeros((len(idx), MAX_HANDS), bool)
        for k, rng in enumerate(rngs):
            s0, s1 = starts[k], starts[k + 1]
            out = self.compose(rng, verts[s0:s1], joints[s0:s1], int(idx[k]))
            m = len(out["boxes"])
            boxes[k, :m], left[k, :m] = out["boxes"], out["left"]
            n_hands.append(m)
            ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(out["image"][..., ::-1]),
                                   [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            blobs.append(jpg.tobytes())
        path = storage.shard_dir(self.root, shard)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / "rgb.bin") as tmp:
            tmp.write_bytes(b"".join(blobs))
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
        atomic_save_npz(path / "annotations.npz", {"index": idx, "n_hands": np.asarray(n_hands, np.int8),
                                                   "boxes": boxes, "left": left, "rgb_offsets": offsets})
        return len(idx)


def composite_worker(cfg_dict: dict, root: str) -> CompositeWorker:
    """The worker factory for :func:`mobrecon.synth.generator.run_shards`."""
    return CompositeWorker(CompositeConfig(**cfg_dict), Path(root))


def summarize(root: str | Path, cfg: CompositeConfig) -> dict:
    """Counts of images and hands (right / left, per image) over the complete shards."""
    n = hands = lefts = 0
    per_image = np.zeros(MAX_HANDS + 1, np.int64)
    for s in range(cfg.n_shards):
        if not storage.is_complete(root, s):
            continue
        with np.load(storage.shard_dir(root, s) / "annotations.npz") as z:
            nh = z["n_hands"].astype(np.int64)
            n += len(nh)
            hands += int(nh.sum())
            per_image += np.bincount(nh, minlength=MAX_HANDS + 1)
            lefts += int(sum(z["left"][i, :k].sum() for i, k in enumerate(nh)))
    return {"count": n, "requested": cfg.count, "complete": n == cfg.count, "shards": cfg.n_shards,
            "seed": cfg.seed, "size": cfg.size, "hands": hands, "left_hands": lefts,
            "images_by_hand_count": per_image.tolist()}


def generate_composites(root: str | Path, cfg: CompositeConfig, workers: int = 1, progress: bool = True) -> dict:
    """Generate (or finish: complete shards are skipped) the composite set in ``root``; refuses
    a ``root`` made with other settings. Returns the summary also written to summary.json."""
    return build_set(root, cfg, composite_worker, summarize, workers, progress, desc="composites")
