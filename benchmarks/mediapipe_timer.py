"""MediaPipe Hands timed on one photo, for ``benchmarks/pipeline_speed.py``; runs in the
teacher venv (``make teacher``: mediapipe, OpenCV, numpy only), one JSON request per stdin line,
one JSON reply per stdout line:

- ``{"cmd": "static", "image": PATH, "runs": N}`` -> ``{"ms": [...], "hands": n, "box": [x0, y0, x1, y1] | null}``
  (``static_image_mode=True``: palm detection and landmarks on every call);
- ``{"cmd": "track", "image": PATH, "shifts": [dx, ...]}`` -> ``{"ms": [...], "hands": [n per frame]}``
  (``static_image_mode=False`` on the photo rolled by each shift: landmarks tracked, palm
  detection only when the hand is lost).

Both with ``max_num_hands=1`` and ``model_complexity=1`` (MediaPipe's defaults but one hand).
"""

import json
import sys
import time

import cv2
import numpy as np
from mediapipe.python.solutions import hands as mp_hands


def _box(result, w, h):
    if not result.multi_hand_landmarks:
        return None
    p = np.array([[lm.x * w, lm.y * h] for lm in result.multi_hand_landmarks[0].landmark])
    return [float(v) for v in (*p.min(0), *p.max(0))]


def main():
    static = mp_hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        rgb = cv2.cvtColor(cv2.imread(req["image"]), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        times, found = [], []
        if req["cmd"] == "static":
            for _ in range(int(req["runs"])):
                t0 = time.perf_counter()
                res = static.process(rgb)
                times.append(1e3 * (time.perf_counter() - t0))
            reply = {"ms": times, "hands": len(res.multi_hand_landmarks or []), "box": _box(res, w, h)}
        else:
            frames = [np.ascontiguousarray(np.roll(rgb, int(s), axis=1)) for s in req["shifts"]]
            with mp_hands.Hands(static_image_mode=False, max_num_hands=1, model_complexity=1) as track:
                for f in frames:
                    t0 = time.perf_counter()
                    res = track.process(f)
                    times.append(1e3 * (time.perf_counter() - t0))
                    found.append(len(res.multi_hand_landmarks or []))
            reply = {"ms": times, "hands": found}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
