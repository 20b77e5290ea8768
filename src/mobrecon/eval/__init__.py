"""Evaluation: error metrics (FreiHAND protocol) and FreiHAND submission files."""

from mobrecon.eval.metrics import (
    MetricAccumulator,
    accel,
    accel_error,
    f_score,
    mpjpe,
    mpvpe,
    pa_mpjpe,
    pa_mpvpe,
    pck_auc,
    pck_curve,
    procrustes_align,
    procrustes_align_batch,
    root_align,
)
from mobrecon.eval.submission import read_freihand_json, write_freihand_json

__all__ = [
    "MetricAccumulator",
    "accel",
    "accel_error",
    "f_score",
    "mpjpe",
    "mpvpe",
    "pa_mpjpe",
    "pa_mpvpe",
    "pck_auc",
    "pck_curve",
    "procrustes_align",
    "procrustes_align_batch",
    "read_freihand_json",
    "root_align",
    "write_freihand_json",
]
