"""Small builders for generated C: array literals and the narrowest integer types."""

from __future__ import annotations

import numpy as np


def float_literals(values: np.ndarray) -> str:
    """C float literals that round-trip float32 exactly (%.9g), wrapped a dozen to a line."""
    array = np.asarray(values, dtype=np.float32).astype(np.float64).reshape(-1)
    if array.size == 0:
        return "0"
    text = np.char.mod("%.9g", array).astype(object)
    integral = np.char.find(text.astype(str), ".") < 0
    integral &= np.char.find(text.astype(str), "e") < 0
    integral &= np.isfinite(array)
    text[integral] = text[integral] + ".0"
    text = text + "f"
    text[np.isposinf(array)] = "INFINITY"
    text[np.isneginf(array)] = "-INFINITY"
    text[np.isnan(array)] = "NAN"
    return wrap(text.tolist())


def int_literals(values: np.ndarray) -> str:
    array = np.asarray(values).reshape(-1)
    return wrap(np.char.mod("%d", array.astype(np.int64)).tolist()) if array.size else "0"


def wrap(items: list[str], per_line: int = 12) -> str:
    lines = [", ".join(items[start:start + per_line]) for start in range(0, len(items), per_line)]
    return ",\n    ".join(lines) if lines else "0"


def unsigned_type(largest: int) -> str:
    return "uint8_t" if largest < 1 << 8 else "uint16_t" if largest < 1 << 16 else "uint32_t"


def api_constants(outputs: int, model_id: str) -> list[str]:
    """The constants of edgekit_model.h every generated model defines (NUM_FEATURES is its macro)."""
    return [
        "const unsigned edgekit_api_version = EDGEKIT_API_VERSION;",
        "const unsigned edgekit_num_features = NUM_FEATURES;",
        f"const unsigned edgekit_num_outputs = {outputs}u;",
        f'const char edgekit_model_id[] = "{model_id}";',
    ]


def batch_by_rows() -> list[str]:
    """edgekit_predict_batch as a loop over edgekit_predict, for layouts with nothing to share across rows."""
    return [
        "void edgekit_predict_batch(const float *rows, size_t n, float *out) {",
        "    for (size_t r = 0; r < n; ++r) edgekit_predict(rows + r * NUM_FEATURES, out + r * edgekit_num_outputs);",
        "}",
        "",
    ]


def array(ctype: str, name: str, body: str, count: int | str) -> str:
    """A constant array definition (constants live in flash on a microcontroller)."""
    return f"static const {ctype} {name}[{count}] = {{\n    {body}\n}};"
