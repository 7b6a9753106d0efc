"""Which LiteRT/TFLite runtime each builtin operator version needs: what ``edgekit check`` compares
with a device's runtime, without loading the TFLite writer."""

# Oldest TFLite runtime that has each builtin op version the TFLite backend writes
# (tensorflow/lite/tools/versioning/runtime_version.cc). Per-channel FULLY_CONNECTED (v12) came
# with the converter's switch to per-channel dense layers.
RUNTIME_FOR_OP = {
    ("ABS", 1): "1.13.0", ("DIV", 1): "1.6.0", ("MAXIMUM", 1): "1.14.0", ("MINIMUM", 1): "1.14.0", ("REDUCE_MAX", 1): "1.11.0",
    ("ADD", 1): "1.5.0", ("CAST", 1): "1.5.0", ("CONCATENATION", 1): "1.5.0", ("DEQUANTIZE", 2): "1.14.0", ("EXP", 1): "1.7.0", ("FULLY_CONNECTED", 1): "1.5.0",
    ("FULLY_CONNECTED", 4): "1.14.0", ("FULLY_CONNECTED", 12): "2.16.0", ("GATHER", 1): "1.6.0",
    ("GATHER", 3): "1.15.0", ("GATHER", 5): "2.5.0", ("GREATER", 1): "1.14.0", ("GREATER_EQUAL", 1): "1.14.0", ("LOGICAL_AND", 1): "1.11.0",
    ("LOGICAL_OR", 1): "1.11.0", ("LOGISTIC", 1): "1.14.0", ("LOGISTIC", 2): "1.14.0", ("MUL", 1): "1.5.0", ("NEG", 1): "1.9.0",
    ("NOT_EQUAL", 1): "1.14.0", ("QUANTIZE", 2): "1.15.0", ("SELECT_V2", 1): "2.2.0", ("SOFTMAX", 1): "1.5.0",
    ("SOFTMAX", 2): "1.14.0", ("SUB", 1): "1.6.0", ("SUM", 1): "1.10.0", ("TANH", 1): "1.14.0", ("TANH", 2): "1.14.0",
}
