"""Inference: the predictor, its PyTorch / ONNX Runtime backends, visual outputs and export."""
