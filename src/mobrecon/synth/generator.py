"""The synthetic hand-image generator behind ``mobrecon synth`` (paper Sec. 6, and beyond it).

Sample ``i`` of a set depends only on (seed, i) -- plus, in random mode, on its shard, whose
poses are drawn together -- so a set is reproducible byte for byte, and an interrupted run
resumes by skipping complete shards.

* uniform mode: pose ``i % 1520`` of the paper's uniform poses and viewpoint
  ``(i + i // 41040) % 216`` of its hemisphere grid (41,040 = lcm(1520, 216), so a full set of
  328,320 images pairs every pose with every view), with finger splay and hand shape varied
  (``splay``, ``shape`` scales; 0 reproduces the paper's poses exactly);
* random mode: poses uniform inside the joint limits (free of interpenetration), views uniform
  over the hemisphere's area.

With ``jitter`` the camera distance (hand filling 55-95 % of the crop), field of view
(20-40 degrees), roll, viewpoint and aim point are perturbed, so crops look like a detector's.
With ``photo_bg`` / ``env_light`` (shares, default 0) the look cache of
:mod:`mobrecon.synth.look_assets` supplies photographic backgrounds
(:mod:`mobrecon.synth.photo_backgrounds`) and image-based light from HDR environment maps
(:mod:`mobrecon.synth.envlight`; ``env_bg`` of those images show the map itself behind the
hand); without a cache the generator notes it once and uses procedural backgrounds and lamps.
With ``forearm`` (a share, default 0) the hand is rendered with a forearm
(:mod:`mobrecon.synth.forearm`; half of them in a sleeve, ``sleeve``) that is no part of the
labels: the mask and depth stay the hand's own (:func:`hand_and_arm`); with ``camera_fx`` that
share of images goes through :mod:`mobrecon.camera_effects` (exposure, white balance,
vignetting, defocus, motion blur, sensor noise). Both draw from their own random streams
((seed, i, 1) and (seed, i, 2)), so a sample's labels and the rest of its look do not depend on
them, and at 0 a set is byte for byte what it was before they existed. With ``skin_texture``
(a share, default 0, its own stream (seed, i, 3)) the hand's skin is painted in texture space
(:mod:`mobrecon.synth.skin_texture`, through OpenHand's UVs) instead of per vertex.
Layout on disk: :mod:`mobrecon.synth.storage`. The shard loop (:func:`run_shards`: resume,
worker processes, progress) and the settings check (:func:`check_config`) also drive the video
generator, :mod:`mobrecon.synth.video`.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from mobrecon.camera_effects import sample_camera
from mobrecon.hand.lbs import matrix_to_axis_angle
from mobrecon.hand.load import load_hand
from mobrecon.hand.regions import skin_regions
from mobrecon.hand.uv import openhand_uv
from mobrecon.io_utils import atomic_write_text, folder_lock
from mobrecon.photometric import augment_photometric
from mobrecon.synth import storage
from mobrecon.synth.appearance import (BACKGROUND_KINDS, draw_occluders, make_background, sample_light, skin_tone,
                                       vertex_colors)
from mobrecon.synth.envlight import EnvMaps
from mobrecon.synth.forearm import ArmMesh, arm_mesh, sample_arm, turn_away, wrist_loop
from mobrecon.synth.look_assets import default_cache, load_index
from mobrecon.synth.photo_backgrounds import PhotoBackgrounds
from mobrecon.synth.pose_space import N_UNIFORM, random_pose_angles, uniform_poses, varied_angles
from mobrecon.synth.skin_texture import paint_skin, texture_size
from mobrecon.synth.viewpoints import (N_VIEWS, hemisphere_viewpoints, intrinsics, jitter_view, view_camera,
                                      view_direction)
from mobrecon.viz.render import MeshRenderer, RenderResult, vertex_normals

MODES = ("uniform", "random")
LCM_POSE_VIEW = 41040
# the ``background`` annotation indexes this: the procedural kinds, then photo and HDR map
LOOK_BACKGROUNDS = (*BACKGROUND_KINDS, "photo", "envmap")
ARM_IN_FRONT = 0.003  # m: a hand pixel with the arm this much nearer the camera is hidden by it
ARM_HIDES = 0.02      # the share of the hand's pixels the arm must hide to set ``occluded``


@dataclass(frozen=True)
class SynthConfig:
    """Settings of a generated set (stored in DIR/config.json)."""

    count: int
    seed: int = 0
    mode: str = "uniform"
    size: int = 128
    shard_size: int = 500
    jitter: bool = True
    splay: float = 0.5           # uniform mode: splay uniform in [-splay, splay]
    shape: float = 1.0           # shape parameters uniform in [-shape, shape] (1 = 10 %)
    fov_deg: float = 30.0        # without jitter
    fill: float = 0.8            # without jitter: hand box side / image side
    occluder_prob: float = 0.25
    photometric: bool = True
    photo_bg: float = 0.0        # share of backgrounds that are photos (look cache)
    env_light: float = 0.0       # share of images lit by an HDR environment map (look cache)
    env_bg: float = 0.3          # of those, the share with the map itself as background
    env_auto: bool = False       # HDR light as a camera records it: auto white balance/exposure, fill
    forearm: float = 0.0         # share of images with a forearm (not in the labels)
    sleeve: float = 0.5          # of those, the share with a sleeve
    camera_fx: float = 0.0       # share of images through camera effects (blur, noise, vignetting, ...)
    skin_texture: float = 0.0    # share of images whose hand skin is a painted UV texture

    def check(self) -> None:
        if self.count < 1:
            raise ValueError(f"--count must be positive, got {self.count}")
        if self.mode not in MODES:
            raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 32 <= self.size <= 1024:
            raise ValueError(f"--size must be between 32 and 1024, got {self.size}")
        if self.shard_size < 1:
            raise ValueError(f"shard size must be positive, got {self.shard_size}")
        for name in ("photo_bg", "env_light", "env_bg", "forearm", "sleeve", "camera_fx", "skin_texture"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be a share in [0, 1], got {v}")

    @property
    def n_shards(self) -> int:
        return math.ceil(self.count / self.shard_size)

    def shard_range(self, shard: int) -> range:
        return range(shard * self.shard_size, min(self.count, (shard + 1) * self.shard_size))


def nearest_view(grid: np.ndarray, lon: float, lat: float) -> int:
    """Index of the (216, 2) (lon, lat) ``grid`` viewpoint nearest to (lon, lat)."""
    d = np.abs(np.angle(np.exp(1j * (grid[:, 0] - lon)))) * math.cos(lat) + np.abs(grid[:, 1] - lat)
    return int(np.argmin(d))


class _Worker:
    """Per-process state: the hand, the uniform pose table, the view grid and one renderer."""

    def __init__(self, cfg: SynthConfig, root: Path):
        torch.set_num_threads(1)
        self.cfg = cfg
        self.root = Path(root)
        self.hand = load_hand("openhand")
        self.faces = self.hand.faces.numpy().astype(np.int64)
        self.loop = wrist_loop(self.faces)
        self.uniform = uniform_poses(self.hand) if cfg.mode == "uniform" else None
        self.grid = hemisphere_viewpoints()
        self.renderer = MeshRenderer()
        self.photos, self.env = load_look(cfg.photo_bg, cfg.env_light)

    def close(self) -> None:
        self.renderer.close()

    # ------------------------------------------------------------------ poses
    def _poses(self, shard: int, idx: np.ndarray, rngs: list[np.random.Generator]):
        """Anatomical angles (n, 15, 3), shape (n, 6) and bookkeeping for the shard's samples."""
        cfg, n = self.cfg, len(idx)
        shape = np.stack([r.uniform(-cfg.shape, cfg.shape, 6) for r in rngs]) if cfg.shape > 0 else np.zeros((n, 6))
        if cfg.mode == "uniform":
            pose_id = (idx % len(self.uniform.t)).astype(np.int64)
            flexion = self.uniform.flexion[pose_id]
            splay = np.stack([r.uniform(-cfg.splay, cfg.splay, 5) for r in rngs]) if cfg.splay > 0 else np.zeros((n, 5))
            angles = self.uniform.angles[torch.as_tensor(pose_id)].clone()
            if cfg.splay > 0:  # splay offsets on top of the uniform pose (its joint timing kept)
                splayed = varied_angles(self.hand, flexion, splay, self.uniform.direction[pose_id])
                # a splayed bent finger may run into its neighbour: those samples keep the plain pose
                pen = self.hand.penetration(self.hand.angles_to_pose(splayed), torch.as_tensor(shape, dtype=torch.float32))
                ok = (pen <= 2e-3).numpy()
                angles[torch.as_tensor(ok)] = splayed[torch.as_tensor(ok)]
                splay[~ok] = 0.0
            book = dict(flexion=flexion, splay=splay, pose_id=pose_id, pair=self.uniform.pair[pose_id],
                        t_interp=self.uniform.t[pose_id])
        else:
            angles = random_pose_angles(self.hand, n, seed=cfg.seed * 1_000_003 + shard)
            nan5 = np.full((n, 5), np.nan)
            book = dict(flexion=nan5, splay=nan5, pose_id=np.full(n, -1), pair=np.full((n, 2), -1),
                        t_interp=np.full(n, np.nan))
        return angles, shape, book

    def _view(self, i: int, rng: np.random.Generator) -> tuple[float, float]:
        if self.cfg.mode == "uniform":
            lon, lat = self.grid[(i + i // LCM_POSE_VIEW) % len(self.grid)]
            return float(lon), float(lat)
        return float(rng.uniform(0, 2 * math.pi)), float(math.asin(rng.uniform(0.0, 1.0)))

    # ---------------------------------------------------------------- render
    def render_shard(self, shard: int) -> int:
        cfg = self.cfg
        idx = np.asarray(cfg.shard_range(shard), dtype=np.int64)
        rngs = [np.random.default_rng([cfg.seed, int(i)]) for i in idx]
        angles, shape, book = self._poses(shard, idx, rngs)
        pose = self.hand.angles_to_pose(angles)
        with torch.no_grad():
            out = self.hand(pose, torch.as_tensor(shape, dtype=torch.float32))
        verts_h, joints_h = out.vertices.numpy().astype(np.float64), out.joints.numpy().astype(np.float64)

        size = cfg.size
        regions = skin_regions(self.hand)  # per vertex, from the rest mesh: valid for every pose
        ann = {k: [] for k in storage.ANNOTATIONS}
        encoded, verts_rel = [], []
        for k, (i, rng) in enumerate(zip(idx, rngs)):
            lon, lat = self._view(int(i), rng)
            roll, offset, fov, fill = 0.0, (0.0, 0.0), cfg.fov_deg, cfg.fill
            if cfg.jitter:
                j = jitter_view(rng, lon, lat)
                lon, lat, roll, offset = j["lon"], j["lat"], j["roll"], tuple(j["offset"])
                fov, fill = float(rng.uniform(20.0, 40.0)), float(rng.uniform(0.55, 0.95))
            K = intrinsics(size, fov)
            # place the camera, then move it along its axis so the hand's box fills `fill`
            R, t = view_camera(joints_h[k], lon, lat, 0.5, roll, offset)
            vc = verts_h[k] @ R.T + t
            uv = vc[:, :2] / vc[:, 2:] * K[0, 0]
            extent = float(np.max(uv.max(0) - uv.min(0)))
            dist = 0.5 * extent / (fill * size)
            R, t = view_camera(joints_h[k], lon, lat, dist, roll, offset)
            vc = verts_h[k] @ R.T + t
            jc = joints_h[k] @ R.T + t

            env = None
            if self.env is not None and rng.random() < cfg.env_light:
                env, info = self.env.sample(rng, auto=cfg.env_auto)
            if env is not None and rng.random() < cfg.env_bg:
                bg, kind = self.env.background(info["map"], K, size, info["to_map"], info["exposure"] * info["gains"]), "envmap"
            elif self.photos is not None and rng.random() < cfg.photo_bg:
                bg, kind = self.photos.sample(rng, size)[0], "photo"
            else:
                bg, kind = make_background(rng, size)
            light = env_summary(env) if env is not None else sample_light(rng)  # (old order kept)
            base = skin_tone(rng)
            # the forearm, the camera and the skin texture draw from their own streams, so that
            # turning them on leaves everything else of sample i (labels, background, light) as it was
            skin_rng = np.random.default_rng([cfg.seed, int(i), 3]) if cfg.skin_texture > 0 else None
            texture = None
            if skin_rng is not None and skin_rng.random() < cfg.skin_texture:
                texture = paint_skin(skin_rng, base, texture_size(size))
            arm_rng = np.random.default_rng([cfg.seed, int(i), 1]) if cfg.forearm > 0 else None
            arm_shape = None
            if arm_rng is not None and arm_rng.random() < cfg.forearm:
                arm_shape = turn_away(sample_arm(arm_rng, cfg.sleeve), view_direction(lon, lat))
            render = dict(K=K, width=size, height=size, env=env, light_dir=light["light_dir"],
                          ambient=light["ambient"], background=bg)
            if texture is not None:
                render.update(texture=texture, texcoords=openhand_uv().texcoords)
            if arm_shape is None:
                colors = np.clip(vertex_colors(rng, verts_h[k], base, regions) * np.asarray(light["color"]), 0, 1)
                if texture is not None:  # the vertex colours only tint the texture: the light's colour
                    colors[:] = np.clip(light["color"], 0, 1)
                res = self.renderer.render(vc, self.faces, color=colors, **render)
                rgb, label = res.rgb, res.mask.astype(np.uint8) * storage.MASK_VISIBLE
                occluded = False
            else:
                arm = arm_mesh(verts_h[k], self.loop, arm_shape)
                colors = vertex_colors(rng, np.concatenate([verts_h[k], arm.vertices]), base,
                                       arm.regions(regions, self.loop), center=verts_h[k].mean(0))
                colors[len(vc):] = arm.colors(colors[len(vc):], arm_shape)
                colors = np.clip(colors * np.asarray(light["color"]), 0, 1)
                if texture is not None:
                    colors[:len(vc)] = np.clip(light["color"], 0, 1)
                res, label = hand_and_arm(self.renderer, self.faces, vc, arm, R, t, colors, render)
                rgb = res.rgb
                occluded = arm_hides(label)
            if rng.random() < cfg.occluder_prob:
                rgb, occ = draw_occluders(rng, rgb)
                hidden = occ & res.mask
                label[hidden] = storage.MASK_OCCLUDED
                occluded = occluded or bool(hidden.any())
            if cfg.camera_fx > 0:
                fx_rng = np.random.default_rng([cfg.seed, int(i), 2])
                if fx_rng.random() < cfg.camera_fx:
                    rgb = sample_camera(fx_rng, size).apply(rgb, fx_rng)
            if cfg.photometric:
                rgb = augment_photometric(rng, rgb)
            encoded.append(storage.encode_sample(rgb, label, res.depth))

            proj = jc @ K.T
            root = jc[0]
            verts_rel.append(vc - root)
            go = matrix_to_axis_angle(torch.as_tensor(R, dtype=torch.float64)[None])[0].numpy()
            p = pose[k].numpy().copy()
            p[0] = go
            row = dict(index=i, K=K, R=R, t=t, root=root, joints3d=jc, joints2d=proj[:, :2] / proj[:, 2:],
                       pose=p, shape=shape[k], flexion=book["flexion"][k], splay=book["splay"][k],
                       pose_id=book["pose_id"][k], pair=book["pair"][k], t_interp=book["t_interp"][k],
                       view_id=nearest_view(self.grid, lon, lat), lon_lat=(lon, lat), roll=roll, fov=fov,
                       skin=base, light_dir=light["light_dir"], light_color=light["color"],
                       ambient=light["ambient"], background=LOOK_BACKGROUNDS.index(kind),
                       occluded=occluded, sequence="", frame=-1, crop=storage.identity_crop(size))
            for name in storage.ANNOTATIONS:
                ann[name].append(row[name])
        storage.write_shard(storage.shard_dir(self.root, shard), encoded, np.stack(verts_rel), ann)
        return len(idx)


def facing_colors(vc: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) colours that, rendered with ambient 1 over black, tell the outside of a mesh
    from its inside: red 0.5 + 0.5 * cos(outward normal, view ray) (above 0.5: the surface
    seen faces away, so it is the inside, seen through an opening), blue 1 (the pixel's
    coverage, to undo the edge blend: cos = 2 red / blue - 1). vc (V, 3) camera coordinates."""
    n = vertex_normals(vc, faces).astype(np.float64)
    cos = np.einsum("vc,vc->v", n, vc / np.linalg.norm(vc, axis=1, keepdims=True))
    return np.stack([0.5 + 0.5 * cos, np.zeros(len(vc)), np.ones(len(vc))], 1)


def hand_and_arm(renderer: MeshRenderer, faces: np.ndarray, vc: np.ndarray, arm: ArmMesh, R: np.ndarray,
                 t: np.ndarray, colors: np.ndarray, render: dict) -> tuple[RenderResult, np.ndarray]:
    """Render a hand with its forearm; the labels stay the hand's own.

    vc (V, 3) the hand in camera coordinates, ``arm`` its
    :class:`~mobrecon.synth.forearm.ArmMesh` (hand frame) and ``R, t`` the hand frame to the
    camera, ``colors`` (V + M, 3) hand and arm vertex colours, ``render`` the other keywords of
    :meth:`MeshRenderer.render` (``texcoords``, if any, the hand faces'; the arm's faces keep
    their vertex colours). Returns ``(hand, label)``: ``hand.rgb`` (H, W, 3) uint8 the
    picture of hand and arm together, ``hand.mask`` / ``hand.depth`` the hand's own silhouette
    and depth, and (H, W) uint8 mask labels: the hand's skin behind the arm is
    ``MASK_OCCLUDED``, as behind an occluder; what the hand alone would show of its own inside
    through the open wrist is the arm now, not hand (0).
    """
    both = np.concatenate([vc, arm.vertices @ R.T + t])
    arm_faces = arm.faces(both)
    if render.get("texcoords") is not None:  # arm faces: u < 0, vertex colours
        render = dict(render, texcoords=np.concatenate([render["texcoords"], np.full((len(arm_faces), 3, 2), -1.0)]))
    together = renderer.render(both, np.concatenate([faces, arm_faces]), color=colors, **render)
    alone = renderer.render(vc, faces, render["K"], render["width"], render["height"],
                            color=facing_colors(vc, faces), ambient=1.0)
    z = alone.depth
    # an edge pixel's depth mixes what covers it: at the seam, where the wrist loop turns into
    # the arm, allow the hand's own depth spread around the pixel on top of the tolerance
    box = np.ones((3, 3), np.uint8)
    spread = cv2.dilate(z, box) - cv2.erode(np.where(alone.mask, z, np.float32(np.inf)), box)
    nearer = alone.mask & (together.depth < z - ARM_IN_FRONT - np.minimum(spread, 0.05))
    red, blue = alone.rgb[..., 0].astype(np.float32), alone.rgb[..., 2].astype(np.float32)
    inside = 2.0 * red > blue  # cos > 0
    mask = alone.mask & ~(nearer & inside)
    label = mask.astype(np.uint8) * storage.MASK_VISIBLE
    label[nearer & ~inside] = storage.MASK_OCCLUDED
    return RenderResult(together.rgb, mask, np.where(mask, z, np.float32(0))), label


def arm_hides(label: np.ndarray) -> bool:
    """Whether the forearm hides a real part of the hand in (H, W) mask labels: at least
    :data:`ARM_HIDES` of its pixels (the hand's open wrist seen past the seam does not count)."""
    hand = int(np.count_nonzero(label))
    return hand > 0 and np.count_nonzero(label == storage.MASK_OCCLUDED) >= ARM_HIDES * hand


def load_look(photo_bg: float, env_light: float, warn=print):
    """``(PhotoBackgrounds | None, EnvMaps | None)`` from the look cache for the given shares;
    None where a share is 0 or the cache has nothing (then one note says so)."""
    if photo_bg <= 0 and env_light <= 0:
        return None, None
    index = load_index()
    photos = env = None
    if index is not None:
        if photo_bg > 0 and index["backgrounds"]:
            photos = PhotoBackgrounds([e["file"] for e in index["backgrounds"]], warn=warn)
            photos = photos if len(photos) else None
        if env_light > 0 and index["envmaps"]:
            env = EnvMaps([e["file"] for e in index["envmaps"]], warn=warn)
            env = env if len(env) else None
    if (photo_bg > 0 and photos is None) or (env_light > 0 and env is None):
        warn(f"note: no usable look cache at {default_cache()} (run `mobrecon synth --fetch-look`): "
             f"{'procedural backgrounds' if photos is None else 'photos'} and "
             f"{'lamp light' if env is None else 'HDR light'} only")
    return photos, env


def env_summary(env) -> dict:
    """Lamp-style annotations of an image-based light (camera coordinates): ``light_dir`` the
    direction of the SH's linear band (the brightest side), ``ambient`` NaN (not a lamp),
    ``color`` white (the map's colour is in the shading, not in the vertex colours)."""
    lum = env.sh @ np.array([0.2126, 0.7152, 0.0722])
    d = np.asarray(env.to_map).T @ np.array([lum[3], lum[1], lum[2]])  # map (x, y, z) -> camera
    n = np.linalg.norm(d)
    return {"light_dir": d / n if n > 0 else np.array([0.0, 0.0, -1.0]), "ambient": float("nan"),
            "color": np.ones(3)}


def image_worker(cfg_dict: dict, root: str) -> _Worker:
    """The worker factory of image sets (see :func:`run_shards`)."""
    return _Worker(SynthConfig(**cfg_dict), Path(root))


_STATE: dict = {}  # one worker per worker process (set by the pool initializer)


def _init_worker(make_worker, cfg_dict: dict, root: str) -> None:
    _STATE["worker"] = make_worker(cfg_dict, root)


def _run_shard(shard: int) -> int:
    return _STATE["worker"].render_shard(shard)


def check_config(root: Path, cfg) -> None:
    """Write ``cfg`` (a dataclass) to root/config.json, or refuse a root made with other settings.
    Check and write are one step: the file is made by exclusive creation (a hard link of a
    complete temp file), so of two processes starting on one folder only one writes it and the
    other compares against it."""
    path = root / "config.json"
    want = asdict(cfg)
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=root)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(want, indent=2) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.link(tmp, path)  # fails if another process made config.json meanwhile
            return
        except FileExistsError:
            pass
        finally:
            os.remove(tmp)
    have = json.loads(path.read_text())
    defaults = {f.name: f.default for f in fields(cfg)}  # settings added later: older files lack them
    diff = sorted(k for k in want if have.get(k, defaults.get(k)) != want[k])
    if diff:
        raise ValueError(f"{root} holds a set made with other settings ({', '.join(diff)} differ); "
                         "use another --out or the same settings to resume")


def generate(root: str | Path, cfg: SynthConfig, workers: int = 1, progress: bool = True) -> dict:
    """Generate (or finish) the set in ``root``; returns the summary written to summary.json."""
    return build_set(root, cfg, image_worker, summarize, workers, progress, desc="synth")


def build_set(root: str | Path, cfg, make_worker, summarize_fn, workers: int = 1, progress: bool = True,
              desc: str = "synth") -> dict:
    """Check ``cfg``, refuse a ``root`` made with other settings, render the missing shards
    (:func:`run_shards`) and write ``summary.json`` (``summarize_fn(root, cfg)`` plus the run)."""
    cfg.check()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with folder_lock(root, "mobrecon generator run"):  # one run per folder at a time
        check_config(root, cfg)
        last_run = run_shards(root, cfg, make_worker, workers, progress, desc=desc)
        summary = summarize_fn(root, cfg)
        summary["last_run"] = last_run
        atomic_write_text(root / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def run_shards(root: Path, cfg, make_worker, workers: int = 1, progress: bool = True,
               desc: str = "synth") -> dict:
    """Render every incomplete shard of ``cfg`` (a dataclass with ``count``, ``n_shards`` and
    ``shard_range(shard)``) into ``root``, in this process or in ``workers`` spawned ones.

    ``make_worker(asdict(cfg), str(root))`` (a module-level callable, so that spawned processes
    can import it) builds a per-process object with ``render_shard(shard) -> samples written``
    and ``close()``. Returns the ``last_run`` record of summary.json.
    """
    todo = [s for s in range(cfg.n_shards) if not storage.is_complete(root, s)]
    done_before = cfg.count - sum(len(cfg.shard_range(s)) for s in todo)
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.count, initial=done_before, unit="img", disable=not progress, desc=desc)
    made = 0
    try:
        if workers <= 1 or len(todo) <= 1:
            _init_worker(make_worker, asdict(cfg), str(root))
            try:
                for s in todo:
                    n = _run_shard(s)
                    made += n
                    bar.update(n)
            finally:
                worker = _STATE.pop("worker", None)
                if worker is not None:
                    worker.close()
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(min(workers, len(todo)), initializer=_init_worker,
                          initargs=(make_worker, asdict(cfg), str(root))) as pool:
                for n in pool.imap_unordered(_run_shard, todo):
                    made += n
                    bar.update(n)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    return {"images": made, "seconds": round(seconds, 2),
            "images_per_second": round(made / seconds, 1) if made else None, "workers": workers}


def summarize(root: str | Path, cfg: SynthConfig) -> dict:
    """Counts and pose / view / background histograms over the complete shards."""
    pose_hist = np.zeros(N_UNIFORM, np.int64)
    view_hist = np.zeros(N_VIEWS, np.int64)
    bg_hist = np.zeros(len(LOOK_BACKGROUNDS), np.int64)
    n = occluded = 0
    for s in range(cfg.n_shards):
        if not storage.is_complete(root, s):
            continue
        with np.load(storage.shard_dir(root, s) / "annotations.npz") as z:
            pid = z["pose_id"]
            pose_hist += np.bincount(pid[pid >= 0], minlength=N_UNIFORM)
            view_hist += np.bincount(z["view_id"], minlength=N_VIEWS)
            bg_hist += np.bincount(z["background"], minlength=len(LOOK_BACKGROUNDS))
            occluded += int(z["occluded"].sum())
            n += len(pid)
    return {
        "count": n,
        "requested": cfg.count,
        "complete": n == cfg.count,
        "shards": cfg.n_shards,
        "mode": cfg.mode,
        "seed": cfg.seed,
        "size": cfg.size,
        "occluded": occluded,
        "background_kinds": list(LOOK_BACKGROUNDS),
        "background_histogram": bg_hist.tolist(),
        "pose_histogram": pose_hist.tolist() if cfg.mode == "uniform" else [],
        "view_histogram": view_hist.tolist(),
    }
