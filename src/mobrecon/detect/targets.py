"""Training targets of the CenterNet heads from ground-truth boxes.

For a box (x0, y0, x1, y1) in input pixels, its centre ``c / stride`` falls in output cell
``floor(c / stride)``: that cell's ``size`` target is the box's (w, h) in cells and its
``offset`` target the centre's position inside the cell (0..1). The class's heatmap holds an
elliptical Gaussian around the cell (sigma ``SIGMA_FRACTION`` of the box's width / height, at
least ``MIN_SIGMA`` cells), the maximum where boxes overlap; 1 exactly at the centre cell.
"""

from __future__ import annotations

import numpy as np

from mobrecon.detect.centernet import NUM_CLASSES, STRIDE

SIGMA_FRACTION = 0.1
MIN_SIGMA = 0.7


def encode_targets(boxes: np.ndarray, classes: np.ndarray, input_size: int, stride: int = STRIDE) -> dict:
    """boxes (N, 4) float input pixels, classes (N,) int (0 right, 1 left) -> numpy targets:
    ``heatmap`` (2, M, M) float32 in [0, 1], ``size`` (2, M, M) and ``offset`` (2, M, M)
    float32 (valid where ``mask``), ``mask`` (M, M) float32 1 at box-centre cells;
    M = input_size // stride. Boxes whose centre lies outside the image are skipped."""
    m = input_size // stride
    heat = np.zeros((NUM_CLASSES, m, m), np.float32)
    size = np.zeros((2, m, m), np.float32)
    offset = np.zeros((2, m, m), np.float32)
    mask = np.zeros((m, m), np.float32)
    ys, xs = np.mgrid[0:m, 0:m].astype(np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    # smaller boxes last, so where two centres share a cell the smaller (harder) box wins
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        w, h = (x1 - x0) / stride, (y1 - y0) / stride
        if w <= 0 or h <= 0:
            continue
        cx, cy = pixels_to_cells(np.array([(x0 + x1) / 2, (y0 + y1) / 2]), stride)
        ix, iy = int(np.floor(cx)), int(np.floor(cy))
        if not (0 <= ix < m and 0 <= iy < m):
            continue
        sx, sy = max(SIGMA_FRACTION * w, MIN_SIGMA), max(SIGMA_FRACTION * h, MIN_SIGMA)
        g = np.exp(-0.5 * (((xs - ix) / sx) ** 2 + ((ys - iy) / sy) ** 2))
        c = int(classes[i])
        np.maximum(heat[c], g, out=heat[c])
        heat[c, iy, ix] = 1.0
        size[:, iy, ix] = (w, h)
        offset[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return {"heatmap": heat, "size": size, "offset": offset, "mask": mask}


def pixels_to_cells(p, stride: int = STRIDE):
    """Input pixel coordinates (pixel centres at integers, pixel u covering [u - 0.5, u + 0.5))
    -> output-cell coordinates (cell k covering [k, k + 1)): (u + 0.5) / stride."""
    return (np.asarray(p, np.float64) + 0.5) / stride


def cells_to_pixels(c, stride: int = STRIDE):
    """Inverse of :func:`pixels_to_cells`."""
    return np.asarray(c, np.float64) * stride - 0.5
