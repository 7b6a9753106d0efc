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
    # The row bound (edgekit's compile/dense.py): artifacts from before it have none.
    power: float = 1.0
    limit: float | None = None
    refuse_beyond: float | None = None  # |standardised value| past which a row gets no answer
    reach: np.ndarray | None = None  # float32 [features]: how much each feature counts in the bound (None: all alike)

    @staticmethod
    def from_descriptor(inputs: dict[str, Any], outputs: dict[str, Any]) -> Int8Io:
        try:
            encoding, quant, out = inputs["encoding"], inputs["quantization"], outputs["quantization"]
            features = int(inputs["shape"][1])
            vectors = [np.asarray(encoding[key], dtype=np.float32) for key in ("mean", "inverse_scale", "fill")]
            if any(vector.shape != (features,) for vector in vectors):
                raise ValueError("encoding vectors do not match the feature count")
            bound = ((float(encoding["power"]), float(encoding["limit"]), float(encoding["refuse_beyond"]))
                     if "limit" in encoding else (1.0, None, None))
            reach = np.asarray(encoding["reach"], dtype=np.float32) if "reach" in encoding else None
            if reach is not None and reach.shape != (features,):
                raise ValueError("encoding reach does not match the feature count")
            return Int8Io(*vectors, np.float32(quant["scale"]), int(quant["zero_point"]),
                          np.float32(out["scale"]), int(out["zero_point"]), *bound, reach)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInput(f"artifact.json has int8 inputs without a usable encoding ({exc})",
                               "recompile the artifact with this edgekit version") from exc

    def encode(self, rows: np.ndarray) -> np.ndarray:
        return self.encode_rows(rows)[0]

    def encode_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 rows -> int8: standardise, fill NaN, bound the row, quantize (round half away
        from zero, as LiteRT's QUANTIZE does). In place on one scratch array: a 10 000-row batch
        costs ~1 ms. Also the rows that get no answer (past ``refuse_beyond``, or infinite: int8
        cannot say NaN, so ``decode``'s caller does), None when there are none."""
        refused = None
        values = rows - self.mean
        if self.limit is None:
            values *= self.inverse_scale
            if math.isnan(values.sum()):  # one reduction instead of a mask when nothing is missing
                np.copyto(values, self.fill, where=np.isnan(values))
        else:  # scaled by a power of two: never overflows, and * power below restores the product exactly
            values *= self.inverse_scale / self.power
            if math.isnan(values.sum()):
                np.copyto(values, self.fill / self.power, where=np.isnan(values))
            magnitude = np.abs(values) if self.reach is None else np.abs(values) * self.reach
            largest = np.max(magnitude, axis=1, keepdims=True, initial=0.0)
            if self.refuse_beyond is not None and (beyond := largest[:, 0] > self.refuse_beyond / self.power).any():
                refused = beyond
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # limit / 0, inf * 0, a weightless huge feature
                values *= np.minimum(self.power, self.limit / largest)
        values /= self.input_scale
        values += np.copysign(np.float32(0.5), values)
        np.trunc(values, out=values)
        values += self.input_zero_point
        np.minimum(values, 127, out=values)
        np.maximum(values, -128, out=values)
        with np.errstate(invalid="ignore"):  # a refused row's NaN: any code, its answer is dropped
            return values.astype(np.int8), refused

    def decode(self, values: np.ndarray) -> np.ndarray:
        return (values.astype(np.float32) - np.float32(self.output_zero_point)) * self.output_scale
