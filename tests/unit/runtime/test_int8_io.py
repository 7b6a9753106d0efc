"""The int8 input encoding and output decoding the runtime applies for `io=int8` TFLite models."""

import numpy as np
import pytest
from edgekit_runtime.errors import InvalidInput
from edgekit_runtime.predictors.int8_io import Int8Io


def _codec(features: int, fill: float = 0.0, zero_point: int = 0) -> Int8Io:
    inputs = {"shape": [None, features], "quantization": {"scale": 1.0, "zero_point": zero_point},
              "encoding": {"mean": [0.0] * features, "inverse_scale": [1.0] * features, "fill": [fill] * features}}
    return Int8Io.from_descriptor(inputs, {"quantization": {"scale": 0.5, "zero_point": -128}})


def test_encoding_rounds_half_away_from_zero_clips_and_fills():
    rows = np.array([[0.5, -0.5, 1.5, -2.5, 0.49, 300.0, -300.0, np.nan]], np.float32)
    np.testing.assert_array_equal(_codec(8, fill=3.0).encode(rows), [[1, -1, 2, -3, 0, 127, -128, 3]])


def test_zero_point_shifts_before_the_clip():
    rows = np.array([[0.0, 120.0, -120.0]], np.float32)
    np.testing.assert_array_equal(_codec(3, zero_point=-100).encode(rows), [[-100, 20, -128]])


def test_decoding_applies_the_output_quantization():
    np.testing.assert_array_equal(_codec(1).decode(np.array([[-128, 0, 127]], np.int8)), [[0.0, 64.0, 127.5]])


@pytest.mark.parametrize(
    "broken",
    [
        lambda d: d.pop("encoding"),
        lambda d: d["encoding"].update(mean=[0.0]),
        lambda d: d["quantization"].update(scale="wide"),
        lambda d: d.update(shape=[None]),
    ],
)
def test_unusable_encoding_is_a_clear_error(broken):
    inputs = {"shape": [None, 2], "quantization": {"scale": 1.0, "zero_point": 0},
              "encoding": {"mean": [0.0, 0.0], "inverse_scale": [1.0, 1.0], "fill": [0.0, 0.0]}}
    broken(inputs)
    with pytest.raises(InvalidInput, match="without a usable encoding"):
        Int8Io.from_descriptor(inputs, {"quantization": {"scale": 1.0, "zero_point": 0}})
