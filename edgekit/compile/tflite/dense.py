"""Linear, logistic and MLP models as TFLite graphs: float32, or full-integer int8.

Both standardise first, with the row bound compile/dense.py describes (SUB, MUL, NaN -> the
imputed value, ABS, REDUCE_MAX, DIV, MINIMUM, MUL): a scaler folded into the first layer would
multiply raw 3e38s by its weights and overflow to inf and NaN.

float32: the standardised row, then FULLY_CONNECTED layers, then the output function.

int8: the scaler is not folded either (a feature with a tiny standard deviation would get a huge weight
and wreck its channel's int8 scale, and uncentred inputs waste the int8 range): the float input
is filled, standardised and quantized once, every layer runs in int8 with int8 weights scaled per
output channel and int32 biases, and the result is dequantized. Activation ranges come from
running the reference rows through the float model (calibration). With int8 I/O the float ends
are left out: the model takes standardised, quantized int8 features and returns int8 results,
and ``DenseGraph.int8_io`` says how to convert both (the device, or edgekit_runtime.predictors.int8_io, does).
int8 rows are bounded to the calibrated input range (``int8_limit``): further out, quantization
would clip each feature on its own and turn the row; past REFUSE_BEYOND the float output is
NaN (with int8 I/O the runtime's decoding does that).

Both emit a binary classifier as a two-logit softmax ([0, z] -> [1 - sigmoid(z), sigmoid(z)]), so
every classifier ends in one SOFTMAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dense import FLOAT32_MAX, REFUSE_BEYOND, DenseLayer, DenseModel, activate, float_limit, int8_limit
from ..int_scale import symmetric, symmetric_rows
from .writer import Quantization, TfliteGraph

INPUT, OUTPUT = "features", "outputs"
_FUSED = {"identity": 0, "relu": 1}  # ActivationFunctionType NONE, RELU
_SEPARATE = {"tanh": ("TANH", Quantization.of(1 / 128, 0)), "logistic": ("LOGISTIC", Quantization.of(1 / 256, -128))}
_SOFTMAX_INT8 = Quantization.of(1 / 256, -128)  # the fixed output quantization LiteRT requires


@dataclass(frozen=True)
class DenseGraph:
    graph: TfliteGraph
    outputs: int
    how: dict[str, object]
    int8_io: dict[str, dict[str, object]] | None = None  # input encoding and output quantization


def dense_graph(
    model: DenseModel, calibration: np.ndarray, int8: bool, per_channel: bool = True, int8_io: bool = False
) -> DenseGraph:
    layers = _with_two_logit_output(model)
    graph = TfliteGraph()
    width = layers[-1].weights.shape[1]
    if not int8:
        return DenseGraph(graph, width, _float_layers(graph, model, layers))
    how, io = _int8_layers(graph, model, layers, calibration, per_channel, int8_io)
    return DenseGraph(graph, width, how, io)


def _with_two_logit_output(model: DenseModel) -> list[DenseLayer]:
    layers = list(model.layers)
    if model.output == "binary":
        last = layers[-1]
        weights = np.column_stack([np.zeros(last.weights.shape[0]), last.weights[:, 0]])
        layers[-1] = DenseLayer(weights, np.array([0.0, last.bias[0]]), last.activation)
    return layers


def _float_layers(graph: TfliteGraph, model: DenseModel, layers: list[DenseLayer]) -> dict[str, object]:
    values, _ = _standardised(graph, model, float_limit(model))
    for index, layer in enumerate(layers):
        width = layer.weights.shape[1]
        fused = _FUSED.get(layer.activation, 0)
        out = graph.tensor(f"dense{index}", (-1, width), "float32")
        w = graph.constant(f"dense{index}/weights", layer.weights.T.astype(np.float32))
        b = graph.constant(f"dense{index}/bias", layer.bias.astype(np.float32))
        graph.op("FULLY_CONNECTED", 1, [values, w, b], [out], ("FullyConnectedOptions", {"FusedActivationFunction": fused}))
        values = out
        if layer.activation in _SEPARATE:
            op = _SEPARATE[layer.activation][0]
            activated = graph.tensor(f"dense{index}/{layer.activation}", (-1, width), "float32")
            graph.op(op, 1, [values], [activated])
            values = activated
    _output(graph, values, model, layers[-1].weights.shape[1], None)
    return {"scaler": "standardised in the graph, the row bounded", "weights": "float32"}


def _int8_layers(
    graph: TfliteGraph, model: DenseModel, layers: list[DenseLayer], calibration: np.ndarray, per_channel: bool, int8_io: bool
) -> tuple[dict[str, object], dict[str, dict[str, object]] | None]:
    # Calibration: the float activations of every layer on the reference rows.
    standard = (np.asarray(calibration, dtype=np.float64) - model.mean) * model.inverse_scale
    standard = np.where(np.isnan(standard), model.fill, standard)
    quant = _activation_quantization(standard)
    limit = int8_limit(model, calibration)
    refused = None
    if int8_io:
        q = graph.input(INPUT, (-1, model.n_features), "int8", quant)
    else:
        q = graph.tensor("standardised/int8", (-1, model.n_features), "int8", quant)
        standardised, largest = _standardised(graph, model, limit)
        graph.op("QUANTIZE", 2, [standardised], [q])
        refused = _refused(graph, model, largest)
    input_quant = quant
    activations = standard
    for index, layer in enumerate(layers):
        width = layer.weights.shape[1]
        pre = activations @ layer.weights + layer.bias
        fused = _FUSED.get(layer.activation, 0)
        after = activate(pre, layer.activation)
        out_quant = _activation_quantization(after if fused else pre)
        weight_q, weight_scales = _int8_weights(layer.weights.T, per_channel)
        bias_scales = quant.scale[0] * weight_scales
        bias_q = np.clip(np.rint(layer.bias / bias_scales), -(2**31) + 1, 2**31 - 1).astype(np.int32)
        w = graph.constant(f"dense{index}/weights", weight_q, Quantization.of(weight_scales, 0, axis=0))
        b = graph.constant(f"dense{index}/bias", bias_q, Quantization.of(bias_scales, 0, axis=0))
        out = graph.tensor(f"dense{index}", (-1, width), "int8", out_quant)
        # Version 12 declares per-channel weight scales, 4 int8 (op_version.cc): a runtime that
        # predates per-channel FULLY_CONNECTED must refuse the model, not misread its scales.
        version = 12 if per_channel else 4
        graph.op("FULLY_CONNECTED", version, [q, w, b], [out], ("FullyConnectedOptions", {"FusedActivationFunction": fused}))
        q, quant = out, out_quant
        if layer.activation in _SEPARATE:
            op, fixed = _SEPARATE[layer.activation]
            activated = graph.tensor(f"dense{index}/{layer.activation}", (-1, width), "int8", fixed)
            graph.op(op, 2, [q], [activated])
            q, quant = activated, fixed
        activations = after
    output_quant = _output(graph, q, model, layers[-1].weights.shape[1], quant, dequantize=not int8_io, refused=refused)
    how = {
        "scaler": "in the device's encoding of the int8 input" if int8_io else "float32 standardisation in front of one QUANTIZE",
        "weights": f"int8, one scale per {'output channel' if per_channel else 'layer'}; int32 biases",
        "activations": "int8, ranges calibrated on the bundle's reference rows",
        "calibration_rows": len(calibration),
        "io": "int8" if int8_io else "float32",
    }
    if not int8_io:
        return how, None
    encoding = {
        "formula": "q = clip(round_half_away(z / scale) + zero_point, -128, 127), z = u * min(power, limit / max(|u| * reach)) "
                   "per row, "
                   "u = where(isnan(x), fill, (x - mean) * inverse_scale) / power",
        "mean": model.mean.astype(np.float32).tolist(),
        "inverse_scale": model.inverse_scale.astype(np.float32).tolist(),
        "fill": np.broadcast_to(model.fill, model.mean.shape).astype(np.float32).tolist(),
        "power": model.power,
        "reach": model.reach().tolist(),
        "limit": limit,
        "refuse_beyond": REFUSE_BEYOND,  # |z| past it: no answer (the decoded output is NaN)
    }
    return how, {"input": {"quantization": input_quant.describe(), "encoding": encoding},
                 "output": {"quantization": output_quant.describe()}}


def _standardised(graph: TfliteGraph, model: DenseModel, limit: float) -> tuple[int, int]:
    """float32 features -> standardised float32, missing values filled and the row bounded to
    ``limit`` (compile/dense.py), inside the model; and each row's largest |value| / power."""
    features = model.n_features
    x = graph.input(INPUT, (-1, features), "float32")
    centred = graph.tensor("centred", (-1, features), "float32")
    graph.op("SUB", 1, [x, graph.constant("mean", model.mean.astype(np.float32))], [centred], ("SubOptions", {}))
    units = graph.tensor("units", (-1, features), "float32")
    graph.op("MUL", 1, [centred, graph.constant("unit_scale", model.unit_scale())], [units], ("MulOptions", {}))
    missing = graph.tensor("missing", (-1, features), "bool")
    graph.op("NOT_EQUAL", 1, [units, units], [missing])  # NaN is the only value not equal to itself
    # Mean imputation fills with exactly 0 in standardised units: one scalar instead of a vector.
    fill = model.unit_fill() if np.any(model.fill) else np.zeros((), np.float32)
    filled = graph.tensor("filled", (-1, features), "float32")
    graph.op("SELECT_V2", 1, [missing, graph.constant("unit_fill", fill), units], [filled])
    absolute = graph.tensor("absolute", (-1, features), "float32")
    graph.op("ABS", 1, [filled], [absolute])
    magnitude = graph.tensor("magnitude", (-1, features), "float32")  # a feature without weight cannot overflow
    graph.op("MUL", 1, [absolute, graph.constant("reach", model.reach())], [magnitude], ("MulOptions", {}))
    largest = graph.tensor("largest", (-1, 1), "float32")
    graph.op("REDUCE_MAX", 1, [magnitude, graph.constant("row_axis", np.array([1], np.int32))], [largest],
             ("ReducerOptions", {"KeepDims": True}))
    shrink = graph.tensor("shrink", (-1, 1), "float32")
    graph.op("DIV", 1, [graph.constant("limit", np.array([limit], np.float32)), largest], [shrink], ("DivOptions", {}))
    factor = graph.tensor("factor", (-1, 1), "float32")
    graph.op("MINIMUM", 1, [shrink, graph.constant("power", np.array([model.power], np.float32))], [factor],
             ("MaximumMinimumOptions", {}))
    scaled = graph.tensor("scaled", (-1, features), "float32")
    graph.op("MUL", 1, [filled, factor], [scaled], ("MulOptions", {}))
    below = graph.tensor("below", (-1, features), "float32")
    graph.op("MINIMUM", 1, [scaled, graph.constant("highest", np.array([FLOAT32_MAX], np.float32))], [below],
             ("MaximumMinimumOptions", {}))
    standardised = graph.tensor("standardised", (-1, features), "float32")
    graph.op("MAXIMUM", 1, [below, graph.constant("lowest", np.array([-FLOAT32_MAX], np.float32))], [standardised],
             ("MaximumMinimumOptions", {}))
    return standardised, largest


def _refused(graph: TfliteGraph, model: DenseModel, largest: int) -> int:
    """[N, 1] bool: the row is past REFUSE_BEYOND; its float output becomes NaN."""
    refused = graph.tensor("refused", (-1, 1), "bool")
    threshold = np.array([REFUSE_BEYOND / model.power], np.float32)
    graph.op("GREATER", 1, [largest, graph.constant("refuse_beyond", threshold)], [refused])
    return refused


def _output(
    graph: TfliteGraph, values: int, model: DenseModel, width: int, quant: Quantization | None, dequantize: bool = True,
    refused: int | None = None,
) -> Quantization | None:
    """The output function (SOFTMAX for classifiers), then float32 unless the output stays int8;
    returns the int8 output's quantization."""
    if model.output in {"binary", "softmax"}:
        dtype = "float32" if quant is None else "int8"
        probabilities = graph.tensor("probabilities" if quant is None else "probabilities/int8", (-1, width), dtype,
                                     None if quant is None else _SOFTMAX_INT8)
        graph.op("SOFTMAX", 1 if quant is None else 2, [values], [probabilities], ("SoftmaxOptions", {"Beta": 1.0}))
        values, quant = probabilities, None if quant is None else _SOFTMAX_INT8
    if quant is not None and dequantize:
        dequantized = graph.tensor(OUTPUT, (-1, width), "float32")
        graph.op("DEQUANTIZE", 2, [values], [dequantized])
        values = dequantized
    if refused is not None:  # NaN cannot pass an int8 tensor: the float output says it
        answered = graph.tensor("answered", (-1, width), "float32")
        graph.op("SELECT_V2", 1, [refused, graph.constant("nan", np.array(np.nan, np.float32)), values], [answered])
        values = answered
    graph.tensors[values].name = OUTPUT
    graph.outputs.append(values)
    return quant


def _activation_quantization(values: np.ndarray) -> Quantization:
    """Asymmetric int8 over the observed range (widened to include 0, as TFLite requires)."""
    low, high = min(float(np.min(values)), 0.0), max(float(np.max(values)), 0.0)
    scale = (high - low) / 255.0 if high > low else 1.0
    zero_point = int(np.clip(np.rint(-128 - low / scale), -128, 127))
    return Quantization.of(scale, zero_point)


def _int8_weights(weights: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights [outputs, inputs] with one symmetric scale per output channel, or one in all."""
    if per_channel:
        q, scales = symmetric_rows(weights, "int8")
    else:
        q, scale = symmetric(weights, "int8")
        scales = np.array([scale])
    return q.astype(np.int8), scales.astype(np.float32)
