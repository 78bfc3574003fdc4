"""Using a trained model: loading it, classifying, decoding, unknown scoring, explanations and ONNX export."""
