"""The 21-keypoint hand skeleton in FreiHAND order, shared by every hand model and data set.

Order: 0 wrist; then for thumb, index, middle, ring, pinky (in that order) four keypoints each,
from the palm outwards: MCP, PIP, DIP, tip (for the thumb: CMC/MCP/IP/tip, named alike).
"""

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
SEGMENTS = ("mcp", "pip", "dip", "tip")

JOINT_NAMES = ("wrist",) + tuple(f"{f}_{s}" for f in FINGERS for s in SEGMENTS)
NUM_KEYPOINTS = len(JOINT_NAMES)  # 21

# Parent of each keypoint in the kinematic tree (-1 for the root).
KEYPOINT_PARENTS = (-1,) + tuple(0 if s == 0 else 1 + 4 * f + s - 1 for f in range(5) for s in range(4))

# Articulated joints (the 16 that carry a rotation) are keypoints 0 and every non-tip keypoint.
ARTICULATED = tuple(i for i, name in enumerate(JOINT_NAMES) if not name.endswith("_tip"))  # 16
TIPS = tuple(i for i, name in enumerate(JOINT_NAMES) if name.endswith("_tip"))  # (4, 8, 12, 16, 20)

# Bones as (parent, child) keypoint pairs, handy for drawing.
BONES = tuple((p, c) for c, p in enumerate(KEYPOINT_PARENTS) if p >= 0)


def finger_keypoints(finger: str) -> tuple[int, int, int, int]:
    """Keypoint indices (MCP, PIP, DIP, tip) of a finger given by name."""
    f = FINGERS.index(finger)
    return tuple(1 + 4 * f + s for s in range(4))
