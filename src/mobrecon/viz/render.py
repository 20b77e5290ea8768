"""A small offscreen triangle-mesh renderer (moderngl, EGL; works headless on Mesa llvmpipe).

Camera convention (OpenCV / pinhole):

* Vertices are given in **camera coordinates**, metres: x right, y down, z forward; the camera
  sits at the origin and looks along +z. Only points with z > 0 are visible.
* Intrinsics ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` map a point X to the pixel
  ``(u, v) = (K @ X)[:2] / Z``.
* Pixel ``(u, v)`` is column ``u``, row ``v`` of the output arrays (row 0 at the top) and its
  **centre** is at the integer coordinate: pixel ``(0, 0)`` covers ``[-0.5, 0.5) x [-0.5, 0.5)``.
  So ``cx = (W - 1) / 2`` puts the principal point at the exact image centre, and a vertex
  projecting to ``(u, v)`` is drawn in ``rgb[round(v), round(u)]``.

Shading is smooth (area-weighted per-vertex normals) Lambert + ambient, two-sided (a face seen
from behind is lit as if its normal pointed at the camera, so open meshes look right through
their holes). ``depth`` is the camera-space z (not the z-buffer value), 0 where nothing is drawn.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from mobrecon.extras import require
from mobrecon.io_utils import atomic_write_png

SKIN = (0.85, 0.64, 0.52)

# Debian/Ubuntu packages moderngl's EGL backend needs on a machine without a GPU/display.
SYSTEM_PACKAGES = ("libegl1", "libgl1", "libegl-mesa0", "libgl1-mesa-dri")

_VERTEX_SHADER = """
#version 330
uniform mat4 u_proj;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in vec2 in_uv;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_color;
out vec2 v_uv;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_color = in_color;
    v_uv = in_uv;
    gl_Position = u_proj * vec4(in_pos, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform vec3 u_light;     // unit vector from the surface towards the light, camera coords
uniform float u_ambient;
uniform int u_mode;       // 0: Lambert + ambient; 1: image-based light (see EnvLight)
uniform vec3 u_sh[9];     // mode 1: diffuse SH coefficients (linear RGB, map frame, exposure applied)
uniform mat3 u_to_map;    // mode 1: camera -> map frame rotation
uniform sampler2D u_spec; // mode 1: prefiltered radiance, equirectangular, linear RGB
uniform float u_spec_gain;
uniform int u_textured;    // 1: corners with uv >= 0 take their colour from u_skin
uniform sampler2D u_skin;  // sRGB colour texture (row 0 at v = 0)
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_color;
in vec2 v_uv;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;
const float PI = 3.14159265;
vec3 sh_eval(vec3 d) {
    return u_sh[0] * 0.282095 + u_sh[1] * (0.488603 * d.y) + u_sh[2] * (0.488603 * d.z)
         + u_sh[3] * (0.488603 * d.x) + u_sh[4] * (1.092548 * d.x * d.y)
         + u_sh[5] * (1.092548 * d.y * d.z) + u_sh[6] * (0.315392 * (3.0 * d.z * d.z - 1.0))
         + u_sh[7] * (1.092548 * d.x * d.z) + u_sh[8] * (0.546274 * (d.x * d.x - d.y * d.y));
}
vec3 tonemap(vec3 x) {  // extended Reinhard (white 2), then gamma 2.2; see render.tonemap
    x = max(x, 0.0);
    return pow(clamp(x * (1.0 + x / 4.0) / (1.0 + x), 0.0, 1.0), vec3(1.0 / 2.2));
}
void main() {
    // geometric normal of this triangle, turned to face the camera (at the origin)
    vec3 ng = cross(dFdx(v_pos), dFdy(v_pos));
    float lg = length(ng);
    ng = lg > 0.0 ? ng / lg : vec3(0.0, 0.0, -1.0);
    if (dot(ng, v_pos) > 0.0) ng = -ng;
    // smooth normal, flipped onto the visible side (two-sided lighting)
    vec3 n = v_normal;
    float ln = length(n);
    n = ln > 1e-12 ? n / ln : ng;
    if (dot(n, ng) < 0.0) n = -n;
    vec3 color = v_color;
    if (u_textured == 1 && v_uv.x >= 0.0) color = texture(u_skin, v_uv).rgb * v_color;
    if (u_mode == 1) {
        vec3 albedo = pow(clamp(color, 0.0, 1.0), vec3(2.2));
        vec3 view = normalize(-v_pos);
        vec3 nm = u_to_map * n;
        vec3 r = u_to_map * reflect(-view, n);
        vec2 uv = vec2(atan(r.x, -r.z) / (2.0 * PI) + 0.5, acos(clamp(r.y, -1.0, 1.0)) / PI);
        float fres = 0.028 + 0.972 * pow(1.0 - max(dot(n, view), 0.0), 5.0);  // Schlick, skin F0
        vec3 lin = albedo * max(sh_eval(nm), 0.0) * (1.0 - fres) + u_spec_gain * fres * texture(u_spec, uv).rgb;
        f_color = vec4(tonemap(lin), 1.0);
    } else {
        float lambert = max(dot(n, u_light), 0.0);
        float shade = u_ambient + (1.0 - u_ambient) * lambert;
        f_color = vec4(clamp(color * shade, 0.0, 1.0), 1.0);
    }
    f_depth = v_pos.z;
}
"""


def tonemap(x: np.ndarray) -> np.ndarray:
    """Linear radiance (..., 3) -> display values in [0, 1]: extended Reinhard with white point
    2, then gamma 2.2 (the same curve as the image-based-light shader). float32."""
    x = np.maximum(np.asarray(x, np.float32), 0.0)
    y = np.clip(x * (1.0 + x / 4.0) / (1.0 + x), 0.0, 1.0)
    return np.power(y, np.float32(1.0 / 2.2))


@dataclass
class EnvLight:
    """Image-based light for :meth:`MeshRenderer.render` (see :mod:`mobrecon.synth.envlight`).

    sh: (9, 3) float diffuse coefficients in the map frame (real SH, order l=0..2 as
        Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22 in terms of (x, y, z) = (map x, map y,
        map z)), already convolved with the cosine lobe, divided by pi and times the exposure,
        so that outgoing diffuse radiance = albedo * sum_k sh[k] Y_k(n).
    to_map: (3, 3) rotation from camera coordinates to the map frame (y up).
    specular: (h, 2h, 3) float32 prefiltered radiance (exposure applied), equirectangular:
        row 0 is up (+y), column 0 is azimuth -pi, direction (sin t sin p, cos t, -sin t cos p).
    spec_gain: multiplier of the specular term.
    """

    sh: np.ndarray
    to_map: np.ndarray
    specular: np.ndarray
    spec_gain: float = 1.0


def _egl_help(reason: str) -> str:
    return (
        f"Offscreen OpenGL (moderngl EGL backend) is unavailable ({reason}); install the system "
        f"packages {' '.join(SYSTEM_PACKAGES)} (run tools/install_system_deps.sh, or "
        f"`apt-get install -y --no-install-recommends {' '.join(SYSTEM_PACKAGES)}`)."
    )


def _as_numpy(x, dtype) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted per-vertex normals (V, 3) float32, unit length (0 for isolated vertices)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # |fn| = 2 * area
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.divide(vn, norm, out=np.zeros_like(vn), where=norm > 0).astype(np.float32)


def _texture_bytes(texture) -> np.ndarray:
    """An (h, w, 3) colour texture (uint8, or float in [0, 1]) -> contiguous uint8 RGB."""
    t = np.asarray(texture)
    if t.ndim != 3 or t.shape[2] != 3 or min(t.shape[:2]) < 1:
        raise ValueError(f"texture must be an (h, w, 3) image, got shape {t.shape}")
    if t.dtype != np.uint8:
        t = np.clip(np.rint(t.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(t)


def _projection(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """OpenGL clip matrix for OpenCV intrinsics K (pixel centres at integers).

    Window x of pixel column u is u + 0.5, so x_ndc = 2 (u + 0.5) / W - 1; likewise for y, with no
    flip: framebuffer row 0 (the bottom row in GL terms) holds image row v = 0, so the bytes read
    back are already in image order (row 0 at the top).
    """
    fx, s, cx = K[0]
    fy, cy = K[1, 1], K[1, 2]
    P = np.zeros((4, 4), dtype=np.float64)
    P[0] = [2 * fx / width, 2 * s / width, 2 * (cx + 0.5) / width - 1, 0]
    P[1] = [0, 2 * fy / height, 2 * (cy + 0.5) / height - 1, 0]
    P[2] = [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)]
    P[3] = [0, 0, 1, 0]
    return P


@dataclass
class RenderResult:
    """rgb (H, W, 3) uint8; mask (H, W) bool silhouette; depth (H, W) float32 camera z in metres
    (0 where the mesh does not cover the pixel)."""

    rgb: np.ndarray
    mask: np.ndarray
    depth: np.ndarray


class MeshRenderer:
    """Offscreen renderer holding one moderngl EGL context (created on first use).

    Use as a context manager, or call :meth:`close`::

        with MeshRenderer() as r:
            out = r.render(verts_cam, faces, K, 256, 256)

    ``supersample`` (default 2) renders at ``s`` times the resolution and box-filters down:
    edges are anti-aliased, ``mask`` is "at least half the sub-samples covered", ``depth`` is the
    mean z of the covered sub-samples. ``supersample=1`` gives hard, exact-coverage edges.
    """

    def __init__(self, supersample: int = 2):
        if int(supersample) < 1:
            raise ValueError("supersample must be >= 1")
        self.supersample = int(supersample)
        self._ctx = None
        self._prog = None
        self._fbos: dict[tuple[int, int], tuple] = {}
        self._max_size: int | None = None

    # -- context management ------------------------------------------------------------------
    def _context(self):
        if self._ctx is None:
            moderngl = require("moderngl", "Rendering (overlays, mobrecon hand --png, synthetic data)")
            try:
                ctx = moderngl.create_standalone_context(backend="egl", require=330)
            except Exception as e:
                msg = " ".join(str(e).split()) or type(e).__name__
                raise RuntimeError(_egl_help(msg)) from e
            try:
                with ctx:
                    self._prog = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
            except Exception:
                ctx.release()
                raise
            self._ctx = ctx
        return self._ctx

    @property
    def gl_renderer(self) -> str:
        """The GL_RENDERER string, e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'."""
        ctx = self._context()
        with ctx:
            return ctx.info["GL_RENDERER"]

    @property
    def max_size(self) -> int:
        """The largest framebuffer side this OpenGL renders (before supersampling divides it)."""
        if getattr(self, "_max_size", None) is None:
            ctx = self._context()
            with ctx:
                dims = ctx.info.get("GL_MAX_VIEWPORT_DIMS") or (0, 0)
                sizes = [int(ctx.info.get("GL_MAX_RENDERBUFFER_SIZE") or 0), *(int(d) for d in dims)]
            self._max_size = min(x for x in sizes if x > 0) if any(x > 0 for x in sizes) else 8192
        return self._max_size

    def close(self) -> None:
        """Release the GL objects and the EGL context (a later render creates a new one)."""
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        with ctx:
            self._release_framebuffers()
            if self._prog is not None:
                self._prog.release()
        self._prog = None
        ctx.release()

    def _release_framebuffers(self) -> None:
        for fbo, *rbs in self._fbos.values():
            fbo.release()
            for rb in rbs:
                rb.release()
        self._fbos.clear()

    def __enter__(self) -> "MeshRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _framebuffer(self, width: int, height: int):
        key = (width, height)
        if key not in self._fbos:
            if len(self._fbos) >= 4:  # keep at most a few sizes' buffers alive
                self._release_framebuffers()
            ctx = self._ctx
            color = ctx.renderbuffer((width, height), components=4)
            zbuf = ctx.renderbuffer((width, height), components=1, dtype="f4")
            depth = ctx.depth_renderbuffer((width, height))
            fbo = ctx.framebuffer(color_attachments=[color, zbuf], depth_attachment=depth)
            self._fbos[key] = (fbo, color, zbuf, depth)
        return self._fbos[key][0]

    # -- rendering ---------------------------------------------------------------------------
    def render(
        self,
        vertices,
        faces,
        K,
        width: int,
        height: int,
        *,
        color: Sequence[float] | np.ndarray = SKIN,
        light_dir: Sequence[float] = (0.0, 0.0, -1.0),
        ambient: float = 0.35,
        background: np.ndarray | Sequence[int] | None = None,
        env: EnvLight | None = None,
        texture: np.ndarray | None = None,
        texcoords: np.ndarray | None = None,
    ) -> RenderResult:
        """Render a triangle mesh given in camera coordinates.

        vertices (V, 3) metres, camera coords (OpenCV: x right, y down, z forward);
        faces (F, 3) int; K (3, 3) intrinsics (see the module docstring for the pixel convention).
        color: RGB in [0, 1], one (3,) colour or per-vertex (V, 3).
        light_dir: direction from the surface **towards** the light, camera coords. The default
            (0, 0, -1) points back at the camera: a head-light, light travelling from the camera
            into the scene, so surfaces facing the camera are brightest.
        ambient: intensity floor; shade = ambient + (1 - ambient) * max(n . l, 0).
        background: None (black), an RGB uint8 triple, or an (H, W, 3) uint8 image to composite
            over; pixels the mesh does not touch keep it exactly.
        env: None (Lambert shading from ``light_dir``/``ambient``), or an :class:`EnvLight`:
            ``color`` is then read as sRGB albedo, lit by the map's diffuse SH plus a Fresnel
            specular term from its prefiltered radiance, and tonemapped (:func:`tonemap`).
        texture, texcoords: an (h, w, 3) sRGB colour image (uint8, or float in [0, 1]; row 0 at
            v = 0) and (F, 3, 2) texture coordinates (u, v) in [0, 1] per face corner: a face
            whose corners have u >= 0 takes its colour from the texture (mipmapped, trilinear)
            times ``color``; faces with u < 0 keep their vertex colours. Both or neither.
        """
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        v = _as_numpy(vertices, np.float32).reshape(-1, 3)
        f = _as_numpy(faces, np.int64).reshape(-1, 3)
        K = _as_numpy(K, np.float64).reshape(3, 3)
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError("faces index out of range of vertices")
        bg = self._background(background, width, height)

        cols = _as_numpy(color, np.float32)
        if cols.shape == (3,):
            cols = np.broadcast_to(cols, v.shape)
        elif cols.shape != v.shape:
            raise ValueError(f"color must be (3,) or ({len(v)}, 3), got {cols.shape}")

        if (texture is None) != (texcoords is None):
            raise ValueError("texture and texcoords go together: give both or neither")
        if texcoords is not None:
            uv = _as_numpy(texcoords, np.float32)
            if uv.shape != (len(f), 3, 2):
                raise ValueError(f"texcoords must be ({len(f)}, 3, 2), got {uv.shape}")
            skin = _texture_bytes(texture)

        if not np.isfinite(v).all():
            raise ValueError("vertices contain NaN or inf")
        zmax = float(v[f, 2].max()) if len(f) else 0.0
        if zmax <= 0:  # nothing to draw, or everything behind the camera
            return RenderResult(bg.copy(), np.zeros((height, width), bool), np.zeros((height, width), np.float32))
        zmin = float(v[f, 2].min())
        span = zmax - zmin
        far = zmax + 0.01 * span + 1e-4 * zmax + 1e-6
        near = zmin - 0.01 * span - 1e-4 * abs(zmin) - 1e-6
        near = max(near, far * 1e-5)  # parts behind the camera get clipped

        s = self.supersample
        W, H = width * s, height * s
        Ks = K.copy()
        Ks[:2] *= s
        Ks[0, 2] = s * (K[0, 2] + 0.5) - 0.5  # keep pixel centres at integers at the finer grid
        Ks[1, 2] = s * (K[1, 2] + 0.5) - 0.5

        light = np.asarray(light_dir, dtype=np.float64).reshape(3)
        ln = np.linalg.norm(light)
        light = light / ln if ln > 0 else np.array([0.0, 0.0, -1.0])

        normals = vertex_normals(v, f)
        if texcoords is None:
            data = np.concatenate([v, normals, cols, np.full((len(v), 2), -1.0, np.float32)], axis=1).astype("f4")
            index = f
        else:  # one vertex per face corner, so that a vertex on a UV seam has its UV per face
            data = np.concatenate([v[f], normals[f], cols[f], uv], axis=2).reshape(-1, 11).astype("f4")
            index = np.arange(3 * len(f)).reshape(-1, 3)
        ctx = self._context()
        limit = self.max_size
        if max(W, H) > limit:
            raise ValueError(f"render size {width}x{height} (x{s} supersampled) is over this OpenGL's limit of "
                             f"{limit} px a side; render smaller (at most {limit // s} px a side)")
        with ctx:  # make this renderer's context current (several may coexist in one thread)
            prog = self._prog
            prog["u_proj"].write(_projection(Ks, W, H, near, far).T.astype("f4").tobytes())
            prog["u_light"].value = tuple(float(x) for x in light)
            prog["u_ambient"].value = float(ambient)
            prog["u_mode"].value = 0 if env is None else 1
            tex = None
            if env is not None:
                prog["u_sh"].write(np.ascontiguousarray(env.sh, dtype="f4").reshape(9, 3).tobytes())
                # GLSL mat3 is column-major: the transpose's bytes give the matrix itself
                prog["u_to_map"].write(np.ascontiguousarray(np.asarray(env.to_map, "f4").T).tobytes())
                prog["u_spec_gain"].value = float(env.spec_gain)
                spec = np.ascontiguousarray(env.specular, dtype="f4")
                tex = ctx.texture((spec.shape[1], spec.shape[0]), 3, spec.tobytes(), dtype="f4")
                tex.repeat_x, tex.repeat_y = True, False
                tex.use(0)
                prog["u_spec"].value = 0
            prog["u_textured"].value = 0 if texcoords is None else 1
            prog["u_skin"].value = 1
            skin_tex = None
            if texcoords is not None:
                skin_tex = ctx.texture((skin.shape[1], skin.shape[0]), 3, skin.tobytes())
                skin_tex.build_mipmaps()
                skin_tex.filter = (ctx.LINEAR_MIPMAP_LINEAR, ctx.LINEAR)
                skin_tex.repeat_x = skin_tex.repeat_y = False
                skin_tex.use(1)
            vbo = ctx.buffer(np.ascontiguousarray(data).tobytes())
            ibo = ctx.buffer(np.ascontiguousarray(index, dtype="i4").tobytes())
            vao = ctx.vertex_array(
                prog, [(vbo, "3f 3f 3f 2f", "in_pos", "in_normal", "in_color", "in_uv")], index_buffer=ibo,
                index_element_size=4,
            )
            try:
                fbo = self._framebuffer(W, H)
                fbo.use()
                ctx.viewport = (0, 0, W, H)
                ctx.enable(ctx.DEPTH_TEST)
                ctx.disable(ctx.CULL_FACE | ctx.BLEND)
                ctx.depth_func = "<"
                fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                vao.render(ctx.TRIANGLES)
                rgba = np.frombuffer(fbo.read(components=4, attachment=0), np.uint8).reshape(H, W, 4)
                zbuf = np.frombuffer(fbo.read(components=1, attachment=1, dtype="f4"), np.float32).reshape(H, W)
            finally:
                vao.release()
                vbo.release()
                ibo.release()
                if tex is not None:
                    tex.release()
                if skin_tex is not None:
                    skin_tex.release()

        # Cleared to 0, so uncovered sub-samples contribute 0 colour, 0 alpha and 0 depth.
        if s == 1:
            mask = rgba[..., 3] > 0
            rgb = np.where(mask[..., None], rgba[..., :3], bg)
            depth = np.where(mask, zbuf, np.float32(0))
            return RenderResult(np.ascontiguousarray(rgb), mask, depth)

        # Box-filter the s x s sub-samples of every pixel (cv2 INTER_AREA is an exact box filter
        # for an integer factor). Colour is premultiplied (uncovered = 0), alpha / 255 * n
        # recovers the number of covered sub-samples, and mean(z) * n / count the mean z of the
        # covered ones.
        n = s * s
        small = cv2.resize(rgba, (width, height), interpolation=cv2.INTER_AREA)
        zmean = cv2.resize(zbuf, (width, height), interpolation=cv2.INTER_AREA)
        cov = np.rint(small[..., 3].astype(np.float32) * (n / 255.0))
        mask = 2 * cov >= n
        rgb = bg.astype(np.float32)
        rgb *= ((n - cov) * np.float32(1.0 / n))[..., None]
        rgb += small[..., :3]
        rgb += 0.5  # round to nearest (all values >= 0)
        rgb = np.minimum(rgb, 255.0, out=rgb).astype(np.uint8)
        depth = np.where(mask, zmean * (n / np.maximum(cov, 1)), np.float32(0)).astype(np.float32)
        return RenderResult(rgb, mask, depth)

    @staticmethod
    def _background(background, width: int, height: int) -> np.ndarray:
        if background is None:
            return np.zeros((height, width, 3), np.uint8)
        bg = np.asarray(background)
        if bg.shape == (3,):
            return np.broadcast_to(bg.astype(np.uint8), (height, width, 3)).copy()
        if bg.shape != (height, width, 3):
            raise ValueError(f"background must be ({height}, {width}, 3) uint8 or an RGB triple, got {bg.shape}")
        if bg.dtype != np.uint8:
            raise ValueError(f"background must be uint8, got {bg.dtype}")
        return bg


class Camera(NamedTuple):
    """World-to-camera transform X_cam = R @ X + t (OpenCV camera) and intrinsics K.
    Unpacks as ``R, t, K = cam``."""

    R: np.ndarray
    t: np.ndarray
    K: np.ndarray

    def apply(self, vertices) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (..., 3), float64."""
        return _as_numpy(vertices, np.float64) @ self.R.T + self.t

    def project(self, vertices) -> np.ndarray:
        """World points (..., 3) -> pixel coordinates (..., 2)."""
        x = self.apply(vertices) @ self.K.T
        return x[..., :2] / x[..., 2:3]


_VIEWS = {"front": (0.0, 0.0), "side": (90.0, 0.0), "top": (0.0, 90.0), "back": (180.0, 0.0)}


def _image_size(image_size) -> tuple[int, int]:
    if np.isscalar(image_size):
        return int(image_size), int(image_size)
    w, h = image_size
    return int(w), int(h)


def look_at_camera(
    vertices,
    image_size: int | tuple[int, int],
    view: str | tuple[float, float] = "front",
    *,
    azimuth: float | None = None,
    elevation: float | None = None,
    fov_deg: float = 40.0,
    margin: float = 1.1,
) -> Camera:
    """A camera that frames ``vertices`` (world coordinates) in an image of ``image_size``
    (int, or (width, height)).

    The world frame is read like an OpenCV camera frame (x right, y down, z away from the
    viewer): ``'front'`` looks along +z with an identity rotation (for a mesh that is already in
    camera coordinates, e.g. a FreiHAND/MobRecon prediction, it keeps that viewpoint),
    ``'side'`` is azimuth 90 (the camera moved round to +x, looking along -x), ``'back'`` azimuth
    180, and ``'top'`` elevation 90 (the camera above, at -y, looking down +y). ``view`` may also
    be an ``(azimuth, elevation)`` pair in degrees; the ``azimuth``/``elevation`` keywords
    override it. The camera looks at the centre of the bounding box, from a distance at which the
    bounding sphere (times ``margin``) fits the field of view ``fov_deg`` of the shorter image side.
    """
    width, height = _image_size(image_size)
    if isinstance(view, str):
        if view not in _VIEWS:
            raise ValueError(f"view must be one of {sorted(_VIEWS)} or (azimuth, elevation), got {view!r}")
        az, el = _VIEWS[view]
    else:
        az, el = (float(a) for a in view)
    az = float(azimuth) if azimuth is not None else az
    el = float(elevation) if elevation is not None else el

    v = _as_numpy(vertices, np.float64).reshape(-1, 3)
    lo, hi = v.min(axis=0), v.max(axis=0)
    center = (lo + hi) / 2
    radius = max(float(np.linalg.norm(v - center, axis=1).max()), 1e-9)
    half = math.radians(fov_deg) / 2
    dist = margin * radius / math.sin(half)

    a, e = math.radians(az), math.radians(el)
    eye_dir = np.array([math.sin(a) * math.cos(e), -math.sin(e), -math.cos(a) * math.cos(e)])
    z_c = -eye_dir  # camera forward, world coords
    down = np.array([0.0, 1.0, 0.0])
    x_c = np.cross(down, z_c)
    if np.linalg.norm(x_c) < 1e-6:  # looking straight up/down: keep world x as image right
        x_c = np.array([math.cos(a), 0.0, math.sin(a)])
        x_c -= z_c * (x_c @ z_c)
    x_c /= np.linalg.norm(x_c)
    y_c = np.cross(z_c, x_c)
    R = np.stack([x_c, y_c, z_c])  # rows: camera axes in world coords
    eye = center + dist * eye_dir
    t = -R @ eye

    focal = 0.5 * min(width, height) / math.tan(half)
    K = np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return Camera(R, t, K)


def render_mesh_png(
    vertices,
    faces,
    path: str | os.PathLike,
    size: int | tuple[int, int] = 512,
    view: str | tuple[float, float] = "front",
    *,
    azimuth: float | None = None,
    elevation: float | None = None,
    fov_deg: float = 40.0,
    color: Sequence[float] | np.ndarray = SKIN,
    background: Sequence[int] = (255, 255, 255),
    renderer: MeshRenderer | None = None,
) -> Path:
    """Frame a mesh (world coordinates, see :func:`look_at_camera`) and write it to a PNG.

    The file is written atomically (a temporary file in the same directory, then
    ``os.replace``), so readers never see a half-written image. Returns the path.
    ``renderer`` lets callers reuse one EGL context across many images.
    """
    path = Path(path)
    width, height = _image_size(size)
    cam = look_at_camera(vertices, (width, height), view, azimuth=azimuth, elevation=elevation, fov_deg=fov_deg)
    verts_cam = cam.apply(vertices)
    own = renderer is None
    r = MeshRenderer() if own else renderer
    try:
        out = r.render(verts_cam, faces, cam.K, width, height, color=color, background=background)
    finally:
        if own:
            r.close()
    atomic_write_png(path, out.rgb)
    return path
