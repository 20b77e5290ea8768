"""Hand models: the built-in OpenHand and a loader for a user-supplied MANO pickle."""

from mobrecon.hand.base import HandModel, HandOutput
from mobrecon.hand.skeleton import FINGERS, JOINT_NAMES, KEYPOINT_PARENTS, NUM_KEYPOINTS

__all__ = ["HandModel", "HandOutput", "FINGERS", "JOINT_NAMES", "KEYPOINT_PARENTS", "NUM_KEYPOINTS"]
