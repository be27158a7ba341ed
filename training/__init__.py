"""Training: data building, synthetic letters, the multi-head model, trainer and ONNX export."""
