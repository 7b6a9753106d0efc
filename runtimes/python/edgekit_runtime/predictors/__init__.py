"""One predictor per artifact runtime (C through ctypes, ONNX Runtime, LiteRT), all taking rows in
one layout (rows.py); int8 input and output conversion; native stderr filtering."""
