"""Inference: root recovery, the predictor, visual outputs and export."""
