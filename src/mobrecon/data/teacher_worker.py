"""The labelling teacher's worker: MediaPipe Hands over images, raw results as JSON lines.

Run by ``mobrecon label`` with the teacher environment's interpreter (``make teacher`` ->
``.venv-teacher/bin/python``); never imported by the package, and it imports nothing of the
package (only mediapipe, OpenCV and numpy as that environment has them).

Protocol (one JSON object per line):

- on start, the worker writes ``{"ready": true, "mediapipe": VERSION, "landmarks": [21 names],
  "teacher": DESCRIPTION}`` (the landmark names in MediaPipe's own order, ``HandLandmark``);
- for each line ``{"path": FILE}`` read from stdin it writes ``{"path": FILE, "ok": true,
  "width": W, "height": H, "hands": [...]}`` or ``{"path": FILE, "ok": false, "error": TEXT}``,
  where each hand is ``{"landmarks": [[x, y, z] * 21] (normalised image coordinates, as
  MediaPipe gives them), "world": [[x, y, z] * 21] (metres), "label": "Left" | "Right" (MediaPipe's
  handedness label, which assumes a mirrored selfie image), "score": float}``;
- end of stdin ends the worker.

Nothing is converted here: the conversion to the project's conventions lives in
:mod:`mobrecon.data.mediapipe_hands`, where it is tested without MediaPipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-complexity", type=int, default=1)
    ap.add_argument("--min-detection-confidence", type=float, default=0.3)
    ap.add_argument("--max-hands", type=int, default=2)
    args = ap.parse_args()

    # MediaPipe's native code may print to fd 1: keep a private copy of stdout for the protocol
    # and send everything else written to fd 1 to stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    import cv2
    import mediapipe as mp
    from mediapipe.python.solutions import hands as mp_hands

    names = [lm.name.lower() for lm in sorted(mp_hands.HandLandmark, key=lambda lm: lm.value)]
    teacher = (f"mediapipe-hands {mp.__version__} static_image_mode=True model_complexity={args.model_complexity} "
               f"min_detection_confidence={args.min_detection_confidence} max_num_hands={args.max_hands}")
    with mp_hands.Hands(static_image_mode=True, max_num_hands=args.max_hands, model_complexity=args.model_complexity,
                        min_detection_confidence=args.min_detection_confidence) as model:
        out.write(json.dumps({"ready": True, "mediapipe": mp.__version__, "landmarks": names, "teacher": teacher}) + "\n")
        for line in sys.stdin:
            if not line.strip():
                continue
            path = json.loads(line)["path"]
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                out.write(json.dumps({"path": path, "ok": False, "error": "not a readable image"}) + "\n")
                continue
            h, w = bgr.shape[:2]
            res = model.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            hands = []
            for lms, world, handed in zip(res.multi_hand_landmarks or [], res.multi_hand_world_landmarks or [],
                                          res.multi_handedness or []):
                c = handed.classification[0]
                hands.append({"landmarks": [[p.x, p.y, p.z] for p in lms.landmark],
                              "world": [[p.x, p.y, p.z] for p in world.landmark],
                              "label": c.label, "score": float(c.score)})
            out.write(json.dumps({"path": path, "ok": True, "width": w, "height": h, "hands": hands}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
