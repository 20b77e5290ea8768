"""MANO, loaded from a user-supplied ``MANO_RIGHT.pkl`` without chumpy.

The official MANO model file is a Python 2 pickle of a dict. Some of its arrays are chumpy
objects (``chumpy.ch.Ch`` and friends) and ``J_regressor`` is a scipy sparse matrix. Chumpy is
unmaintained and does not install on current Pythons, so :class:`ManoUnpickler` resolves every
``chumpy.*`` class to a tiny stand-in that only records the pickled state and can turn it back
into a numpy array. Because unpickling can run arbitrary code, the unpickler only resolves a short
allow-list of globals (numpy array/dtype reconstruction, scipy sparse matrix classes, a few
builtins, the chumpy stand-ins) and refuses everything else.

Fields of the official file used here (V = 778 vertices, K = 16 joints):

=================== ============ ==================================================================
key                 shape        meaning
=================== ============ ==================================================================
``v_template``      (V, 3)       rest-pose mean hand, metres
``shapedirs``       (V, 3, 10)   shape blend shapes (per unit beta)
``posedirs``        (V, 3, 135)  pose-corrective blend shapes, one per entry of (R_k - I), k=1..15
``J_regressor``     (K, V)       sparse; rest joint positions from the shaped vertices
``weights``         (V, K)       skinning weights, rows sum to 1
``kintree_table``   (2, K)       row 0: parent id of each joint, row 1: joint id
``f``               (1538, 3)    triangle faces
``hands_components`` (45, 45)    PCA basis of the 15 finger rotations (rows are components)
``hands_mean``      (45,)        mean finger rotation (added unless ``flat_hand_mean``)
=================== ============ ==================================================================
"""

from __future__ import annotations

import builtins
import codecs
import copyreg
import importlib
import os
import pickle
from typing import Any

import numpy as np
import numpy.dtypes
import scipy.sparse
import torch

from mobrecon.hand.base import HandModel, HandOutput
from mobrecon.hand.lbs import axis_angle_to_matrix, lbs
from mobrecon.hand.skeleton import FINGERS, JOINT_NAMES

__all__ = [
    "MANO",
    "ManoUnpickler",
    "ChumpyStandIn",
    "UnsafePickleError",
    "load_mano_pickle",
    "MANO_JOINT_NAMES",
    "MANO_PARENTS",
    "MANO_TIP_VERTEX_IDS",
    "MANO_TO_FREIHAND",
]

# ---------------------------------------------------------------------------------------------
# Model constants
# ---------------------------------------------------------------------------------------------

NUM_VERTICES = 778
NUM_JOINTS = 16
NUM_SHAPE = 10

# MANO's own joint order (the order of kintree_table, J_regressor rows, weights columns and the
# pose vector). Named with the shared skeleton's keypoint names: MANO's "index1/2/3" are the
# MCP/PIP/DIP joints, and its "thumb1/2/3" (CMC/MCP/IP) are named thumb_mcp/pip/dip there.
MANO_JOINT_NAMES = ("wrist",) + tuple(
    f"{finger}_{seg}" for finger in ("index", "middle", "pinky", "ring", "thumb") for seg in ("mcp", "pip", "dip")
)

# The parent of each MANO joint (as in the official kintree_table); for reference and tests.
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Fingertip vertex ids of the MANO mesh, as commonly used in the hand-pose literature and
# tooling to extend MANO's 16 skeleton joints to the 21-keypoint (FreiHAND / OpenPose) layout.
# These are a public convention, not part of the model file.
MANO_TIP_VERTEX_IDS = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "pinky": 671}

# For each of the 21 FreiHAND-order keypoints: ("joint", MANO joint index) or ("vertex", id).
_KEYPOINT_SOURCES = tuple(
    ("vertex", MANO_TIP_VERTEX_IDS[name.split("_")[0]])
    if name.endswith("_tip")
    else ("joint", MANO_JOINT_NAMES.index(name))
    for name in JOINT_NAMES
)

# MANO joint index of each non-tip FreiHAND keypoint (-1 for the tips), e.g. FreiHAND 1 -> 13.
MANO_TO_FREIHAND = tuple(idx if kind == "joint" else -1 for kind, idx in _KEYPOINT_SOURCES)

assert len(MANO_JOINT_NAMES) == NUM_JOINTS and set(FINGERS) == set(MANO_TIP_VERTEX_IDS)


# ---------------------------------------------------------------------------------------------
# Safe unpickling without chumpy
# ---------------------------------------------------------------------------------------------


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list."""


class ChumpyStandIn:
    """Stand-in for any chumpy class: keeps the pickled state, converts to a numpy array.

    Chumpy pickles its objects' ``__dict__`` (minus caches); a plain ``Ch`` keeps its value under
    ``'x'``, derived objects keep their operands (e.g. ``Select``: ``a``, ``idxs``,
    ``preferred_shape``). Subclasses are made per chumpy class by :func:`_chumpy_stand_in`.
    """

    chumpy_module = "chumpy.ch"
    chumpy_name = "Ch"

    def __init__(self, *args, **kwargs):  # only reached if a pickle calls the class directly
        self.state = dict(kwargs)
        if args:
            self.state.setdefault("x", args[0])

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            merged = dict(state[0] or {})
            merged.update(state[1] or {})
            state = merged
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"unexpected pickled state of type {type(state).__name__} for {self.chumpy_module}.{self.chumpy_name}"
            )
        self.state = state

    def __repr__(self) -> str:
        return f"<chumpy stand-in {self.chumpy_module}.{self.chumpy_name} keys={sorted(getattr(self, 'state', {}))}>"

    def __array__(self, dtype=None, copy=None):
        arr = self.to_numpy()
        return arr if dtype is None else arr.astype(dtype)

    def to_numpy(self) -> np.ndarray:
        """Evaluate the recorded chumpy expression (the handful of ops found in model files)."""
        st = getattr(self, "state", None)
        if st is None:
            raise ValueError(f"{self.chumpy_module}.{self.chumpy_name} object has no pickled state")
        name = self.chumpy_name

        def operand(key):
            if key not in st:
                raise ValueError(f"pickled chumpy {name} lacks its '{key}' term")
            return _to_numpy(st[key])

        if name == "Select":
            idxs = np.asarray(st["idxs"])
            _check_elements(idxs.size, f"chumpy {name}")
            out = operand("a").ravel()[idxs].copy()
            if st.get("preferred_shape") is not None:
                out = out.reshape(st["preferred_shape"])
            return out
        if name == "Reshape":
            return operand("a").reshape(st["newshape"])
        if name == "transpose":
            return np.ascontiguousarray(np.transpose(operand("a"), axes=st.get("axes")))
        binary = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "dot": np.dot}
        if name in binary and "a" in st and "b" in st:
            a, b = operand("a"), operand("b")
            try:  # the size of the result, before making it (a broadcast can ask for gigabytes)
                shape = np.broadcast_shapes(a.shape, b.shape) if name != "dot" else _dot_shape(a.shape, b.shape)
            except ValueError as e:
                raise ValueError(f"pickled chumpy {name}: operands of shapes {a.shape} and {b.shape} ({e})") from None
            _check_elements(int(np.prod(shape, dtype=np.float64)), f"chumpy {name} of shapes {a.shape} and {b.shape}")
            return binary[name](a, b)
        if "x" in st:  # plain Ch, and any subclass that stores its value directly
            return operand("x")
        raise ValueError(
            f"cannot evaluate a pickled chumpy {self.chumpy_module}.{name} (terms {sorted(st)}) without chumpy"
        )


MAX_ELEMENTS = 10_000_000  # the largest array the MANO reader makes (MANO's largest has 315,120)


def _check_elements(n: int, what: str) -> None:
    """Refuse to make an array of more than ``MAX_ELEMENTS`` (a small pickle can ask for gigabytes)."""
    if n > MAX_ELEMENTS:
        raise ValueError(f"refusing to make a {n:.3g}-element array for {what} (over {MAX_ELEMENTS:,}; "
                         "not a MANO model file)")


def _dot_shape(a: tuple, b: tuple) -> tuple:
    """The shape of ``np.dot`` of arrays shaped ``a`` and ``b`` (a ValueError if they do not fit)."""
    if not a or not b:
        return b or a
    if a[-1] != (b[0] if len(b) == 1 else b[-2]):
        raise ValueError("shapes not aligned")
    return a[:-1] + (b[:-2] + b[-1:] if len(b) > 1 else ())


_STAND_INS: dict[tuple[str, str], type] = {}


def _chumpy_stand_in(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STAND_INS:
        _STAND_INS[key] = type(name, (ChumpyStandIn,), {"chumpy_module": module, "chumpy_name": name})
    return _STAND_INS[key]


def _numpy_core(sub: str):
    """numpy._core.<sub> on numpy 2, numpy.core.<sub> on numpy 1 (no deprecation warning)."""
    try:
        return importlib.import_module(f"numpy._core.{sub}")
    except ImportError:  # numpy < 2
        return importlib.import_module(f"numpy.core.{sub}")


_SPARSE_CLASSES = {"csc_matrix", "csr_matrix", "coo_matrix", "lil_matrix", "dia_matrix", "bsr_matrix",
                   "csc_array", "csr_array", "coo_array", "lil_array", "dia_array", "bsr_array"}
_SAFE_BUILTINS = {"object", "set", "frozenset", "list", "dict", "tuple", "slice", "complex", "bytearray",
                  "bytes", "int", "float", "bool", "str"}


class ManoUnpickler(pickle.Unpickler):
    """An allow-list unpickler for the MANO model file; chumpy classes become stand-ins.

    Use with ``encoding="latin1"`` for the Python 2 original (see :func:`load_mano_pickle`).
    """

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_stand_in(module, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return getattr(_numpy_core("multiarray"), name)
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return getattr(_numpy_core("numeric"), name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            cls = getattr(numpy.dtypes, name, None)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                return cls
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_CLASSES:
            cls = getattr(scipy.sparse, name, None)
            if cls is not None:
                return cls
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return copyreg._reconstructor
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return getattr(builtins, name)
        if module == "_codecs" and name == "encode":  # how protocol-2 pickles spell bytes
            return codecs.encode
        raise UnsafePickleError(
            f"refusing to load global '{module}.{name}' from the MANO pickle (not a numpy/scipy.sparse/chumpy "
            "object; a pickle can run arbitrary code)"
        )


def _to_numpy(value: Any) -> np.ndarray:
    """A chumpy stand-in, scipy sparse matrix, or array-like -> numpy array."""
    if isinstance(value, ChumpyStandIn):
        return value.to_numpy()
    if scipy.sparse.issparse(value):
        return _sparse_to_dense(value)
    return np.asarray(value)


def _sparse_to_dense(m) -> np.ndarray:
    d = getattr(m, "__dict__", {})
    shape = tuple(d.get("_shape", d.get("shape", ())) or ())
    if len(shape) == 2:
        _check_elements(int(np.prod(shape, dtype=np.float64)), f"a sparse matrix of shape {shape}")
    try:
        return np.asarray(m.toarray())
    except Exception:  # state from an old scipy that the current class does not digest
        d = m.__dict__
        shape = tuple(d.get("_shape", d.get("shape", ())))
        fmt = type(m).__name__[:3]
        if fmt not in ("csc", "csr") or len(shape) != 2:
            raise
        ctor = scipy.sparse.csc_matrix if fmt == "csc" else scipy.sparse.csr_matrix
        return ctor((np.asarray(d["data"]), np.asarray(d["indices"]), np.asarray(d["indptr"])), shape=shape).toarray()


def load_mano_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """Safely load a MANO model pickle; returns its dict with chumpy objects turned into arrays.

    Scipy sparse matrices are left as they are. Raises FileNotFoundError, UnsafePickleError
    (a global outside the allow-list) or ValueError (not a MANO-like dict).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MANO model file not found: {path}")
    with open(path, "rb") as fh:
        data = ManoUnpickler(fh, encoding="latin1").load()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a pickled dict (the MANO model format), got {type(data).__name__}")
    out = {}
    for key, value in data.items():
        key = key.decode("latin1") if isinstance(key, bytes) else key
        out[key] = value.to_numpy() if isinstance(value, ChumpyStandIn) else value
    return out


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def _parents_from_kintree(kintree: np.ndarray) -> tuple[int, ...]:
    ids = [int(i) for i in kintree[1]]
    col_of = {jid: c for c, jid in enumerate(ids)}
    parents = [-1]
    for c in range(1, kintree.shape[1]):
        pid = int(kintree[0, c])
        if pid not in col_of:
            raise ValueError(f"kintree_table: joint {ids[c]} has unknown parent id {pid}")
        parents.append(col_of[pid])
    if any(not (0 <= p < k) for k, p in enumerate(parents) if k > 0):
        raise ValueError(f"kintree_table: parents {parents} are not topologically ordered (parent < child)")
    return tuple(parents)


class MANO(HandModel):
    """The MANO right hand from the official model file.

    ``forward(pose, shape, pca=None, transl=None)``:

    * ``pose`` (B, 16, 3) or (B, 48) axis-angle: index 0 the global orientation (about the
      wrist joint), 1..15 the finger joints in MANO's order (:data:`MANO_JOINT_NAMES`: index,
      middle, pinky, ring, thumb; three joints each). Unless ``flat_hand_mean``, the file's
      ``hands_mean`` is added to the 15 finger rotations (the official convention, so zero pose
      is the relaxed mean hand, not the flat one).
    * ``shape`` (B, 10) betas.
    * ``pca`` (B, num_pca_comps), only with ``use_pca=True``: finger rotations
      ``pca @ hands_components[:num_pca_comps]``; they *replace* ``pose[:, 1:]`` (only the global
      orientation ``pose[:, 0]`` is then used).
    * ``transl`` (B, 3), added to vertices and joints.

    ``dtype`` (default: torch's default dtype) is that of the float buffers; pass torch.float64
    to keep the file's full precision (``.double()`` after loading would not restore it).

    Returns :class:`HandOutput` with joints in FreiHAND order: the 16 posed skeleton joints (from
    the skinning chain, as MANO defines them) reordered, plus the 5 fingertip vertices
    (:data:`MANO_TIP_VERTEX_IDS`). The ``J_regressor`` buffer (21, V) holds the file's 16
    regressor rows reordered plus one-hot tip rows, so :meth:`regress_joints` works on any mesh;
    on MANO's own posed vertices it agrees with ``forward``'s joints exactly for the rest pose and
    rigid motions (regressor rows sum to 1) and closely (typically a few mm) otherwise.
    """

    num_shape = NUM_SHAPE
    pose_joint_names = MANO_JOINT_NAMES

    def __init__(self, path: str | os.PathLike, use_pca: bool = False, num_pca_comps: int = 6,
                 flat_hand_mean: bool = False, dtype: torch.dtype | None = None):
        super().__init__()
        data = load_mano_pickle(path)
        src = os.fspath(path)
        self.use_pca = bool(use_pca)
        self.flat_hand_mean = bool(flat_hand_mean)

        required = ["v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f"]
        if not flat_hand_mean:
            required.append("hands_mean")
        if use_pca:
            required.append("hands_components")
        for key in required:
            if key not in data:
                raise ValueError(f"{src}: MANO pickle lacks the required key '{key}'")

        def arr(key, shape, dtype=np.float64):
            a = _to_numpy(data[key])
            if a.dtype == object:
                raise ValueError(f"{src}: MANO field '{key}' is not numeric")
            a = a.astype(dtype)
            if a.shape != shape:
                raise ValueError(f"{src}: MANO field '{key}' must have shape {shape}, got {a.shape}")
            return a

        V, K = NUM_VERTICES, NUM_JOINTS
        v_template = arr("v_template", (V, 3))
        shapedirs = arr("shapedirs", (V, 3, NUM_SHAPE))
        posedirs = arr("posedirs", (V, 3, 9 * (K - 1)))
        j_reg16 = arr("J_regressor", (K, V))
        weights = arr("weights", (V, K))
        kintree = _to_numpy(data["kintree_table"])
        if kintree.shape != (2, K):
            raise ValueError(f"{src}: MANO field 'kintree_table' must have shape (2, {K}), got {kintree.shape}")
        parents = _parents_from_kintree(kintree.astype(np.int64))
        faces = _to_numpy(data["f"])
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"{src}: MANO field 'f' must have shape (F, 3), got {faces.shape}")
        faces = faces.astype(np.int64)
        if faces.size and (faces.min() < 0 or faces.max() >= V):
            raise ValueError(f"{src}: MANO field 'f' has vertex indices outside [0, {V})")

        hands_mean = np.zeros(45) if flat_hand_mean else arr("hands_mean", (45,))
        if use_pca:
            if not 1 <= num_pca_comps <= 45:
                raise ValueError(f"num_pca_comps must be in [1, 45], got {num_pca_comps}")
            comps = _to_numpy(data["hands_components"]).astype(np.float64)
            if comps.ndim != 2 or comps.shape[1] != 45 or comps.shape[0] < num_pca_comps:
                raise ValueError(
                    f"{src}: MANO field 'hands_components' must have shape (>= {num_pca_comps}, 45), got {comps.shape}"
                )
            comps = comps[:num_pca_comps]
        else:
            comps = np.zeros((0, 45))
        self.num_pca_comps = int(num_pca_comps) if use_pca else 0

        # (21, V): regressor rows for the skeleton keypoints, one-hot rows for the tips.
        j_reg21 = np.zeros((len(_KEYPOINT_SOURCES), V))
        for row, (kind, idx) in enumerate(_KEYPOINT_SOURCES):
            if kind == "joint":
                j_reg21[row] = j_reg16[idx]
            else:
                j_reg21[row, idx] = 1.0

        f32 = dtype or torch.get_default_dtype()
        self.register_buffer("v_template", torch.as_tensor(v_template, dtype=f32))
        self.register_buffer("shapedirs", torch.as_tensor(shapedirs, dtype=f32))
        self.register_buffer("posedirs", torch.as_tensor(posedirs, dtype=f32))
        self.register_buffer("J_regressor_mano", torch.as_tensor(j_reg16, dtype=f32))
        self.register_buffer("J_regressor", torch.as_tensor(j_reg21, dtype=f32))
        self.register_buffer("weights", torch.as_tensor(weights, dtype=f32))
        self.register_buffer("parents", torch.as_tensor(parents, dtype=torch.long))
        self.register_buffer("faces", torch.as_tensor(faces, dtype=torch.long))
        self.register_buffer("hands_mean", torch.as_tensor(hands_mean, dtype=f32))
        self.register_buffer("hands_components", torch.as_tensor(comps, dtype=f32))
        self.register_buffer(
            "_skeleton_index", torch.tensor([i for k, i in _KEYPOINT_SOURCES if k == "joint"], dtype=torch.long)
        )
        self.register_buffer(
            "_tip_vertex_index", torch.tensor([i for k, i in _KEYPOINT_SOURCES if k == "vertex"], dtype=torch.long)
        )
        self.register_buffer(
            "_skeleton_slots", torch.tensor([r for r, (k, _) in enumerate(_KEYPOINT_SOURCES) if k == "joint"])
        )
        self.register_buffer(
            "_tip_slots", torch.tensor([r for r, (k, _) in enumerate(_KEYPOINT_SOURCES) if k == "vertex"])
        )

    def full_pose(self, pose: torch.Tensor, pca: torch.Tensor | None = None) -> torch.Tensor:
        """The (B, 16, 3) axis-angle actually applied: PCA expanded and ``hands_mean`` added."""
        fingers = pose[:, 1:].reshape(pose.shape[0], 45)
        if pca is not None:
            fingers = pca @ self.hands_components
        fingers = fingers + self.hands_mean
        return torch.cat([pose[:, :1], fingers.reshape(-1, 15, 3)], dim=1)

    def shaped(self, shape: torch.Tensor) -> torch.Tensor:
        """Rest-pose vertices for betas (B, 10): v_template + shapedirs . betas."""
        return self.v_template + torch.einsum("vcs,bs->bvc", self.shapedirs, shape)

    def forward(self, pose: torch.Tensor | None = None, shape: torch.Tensor | None = None,
                pca: torch.Tensor | None = None, transl: torch.Tensor | None = None) -> HandOutput:
        ref = self.v_template
        batch = None
        if pca is not None:
            if not self.use_pca:
                raise ValueError("pca coefficients given but this MANO was built with use_pca=False")
            pca = torch.as_tensor(pca, dtype=ref.dtype, device=ref.device)
            if pca.dim() != 2 or pca.shape[1] != self.num_pca_comps:
                raise ValueError(f"pca must have shape (B, {self.num_pca_comps}), got {tuple(pca.shape)}")
            batch = pca.shape[0]
        pose, shape = self._batch(pose, shape, batch)
        if pca is not None and pca.shape[0] != pose.shape[0]:
            raise ValueError(f"pca batch {pca.shape[0]} != pose batch {pose.shape[0]}")
        B = pose.shape[0]

        rotmats = axis_angle_to_matrix(self.full_pose(pose, pca))  # (B, 16, 3, 3)
        v_shaped = self.shaped(shape)
        rest_joints = torch.einsum("jv,bvc->bjc", self.J_regressor_mano, v_shaped)
        eye = torch.eye(3, dtype=ref.dtype, device=ref.device)
        pose_feature = (rotmats[:, 1:] - eye).reshape(B, -1)  # (B, 135), row-major per joint
        pose_offsets = torch.einsum("vcp,bp->bvc", self.posedirs, pose_feature)
        verts, posed_joints = lbs(v_shaped, rest_joints, rotmats, self.parents, self.weights, pose_offsets)

        joints = verts.new_zeros(B, len(_KEYPOINT_SOURCES), 3)
        joints[:, self._skeleton_slots] = posed_joints[:, self._skeleton_index]
        joints[:, self._tip_slots] = verts[:, self._tip_vertex_index]
        if transl is not None:
            transl = torch.as_tensor(transl, dtype=ref.dtype, device=ref.device)
            if transl.shape != (B, 3):
                raise ValueError(f"transl must have shape ({B}, 3), got {tuple(transl.shape)}")
            verts = verts + transl[:, None]
            joints = joints + transl[:, None]
        return HandOutput(vertices=verts, joints=joints)
