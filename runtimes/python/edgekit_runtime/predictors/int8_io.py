"""int8 model inputs and outputs, converted from and to the float rows every predictor takes.

A full-integer TFLite model compiled with ``io=int8`` has no float operator at all: the device
standardises and quantizes its features itself, and reads int8 results. artifact.json documents
both conversions (``inputs[0].encoding``, ``outputs[0].quantization``); this module applies them,
the same way a device application would, so the parity check and the harness run the same file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput


@dataclass(frozen=True)
class Int8Io:
    mean: np.ndarray  # float32 [features]
    inverse_scale: np.ndarray  # float32 [features]
    fill: np.ndarray  # float32 [features], standardised value of a missing feature
    input_scale: np.float32
    input_zero_point: int
    output_scale: np.float32
    output_zero_point: int

    @staticmethod
    def from_descriptor(inputs: dict[str, Any], outputs: dict[str, Any]) -> Int8Io:
        try:
            encoding, quant, out = inputs["encoding"], inputs["quantization"], outputs["quantization"]
            features = int(inputs["shape"][1])
            vectors = [np.asarray(encoding[key], dtype=np.float32) for key in ("mean", "inverse_scale", "fill")]
            if any(vector.shape != (features,) for vector in vectors):
                raise ValueError("encoding vectors do not match the feature count")
            return Int8Io(*vectors, np.float32(quant["scale"]), int(quant["zero_point"]),
                          np.float32(out["scale"]), int(out["zero_point"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInput(f"artifact.json has int8 inputs without a usable encoding ({exc})",
                               "recompile the artifact with this edgekit version") from exc

    def encode(self, rows: np.ndarray) -> np.ndarray:
        """float32 rows -> int8: standardise, fill NaN, quantize (round half away from zero, as
        LiteRT's QUANTIZE does). In place on one scratch array: a 10 000-row batch costs ~1 ms."""
        values = rows - self.mean
        values *= self.inverse_scale
        if math.isnan(values.sum()):  # one reduction instead of a mask when nothing is missing
            np.copyto(values, self.fill, where=np.isnan(values))
        values /= self.input_scale
        values += np.copysign(np.float32(0.5), values)
        np.trunc(values, out=values)
        values += self.input_zero_point
        np.minimum(values, 127, out=values)
        np.maximum(values, -128, out=values)
        return values.astype(np.int8)

    def decode(self, values: np.ndarray) -> np.ndarray:
        return (values.astype(np.float32) - np.float32(self.output_zero_point)) * self.output_scale
