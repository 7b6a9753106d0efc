"""The ONNX backend: targets onnx, onnx-fp16 and onnx-int8, run by ONNX Runtime."""
