"""ONNX graphs edgekit writes itself: dense models from standard operators, and boosted trees
(XGBoost, LightGBM, scikit-learn's histogram gradient boosting) from edgekit's tree tables as an
ai.onnx.ml tree ensemble, so the ONNX build splits exactly as the C and TFLite builds do. Every
graph has one input "input" [N, features] float32 and one output: "probabilities" [N, classes] or
"predictions" [N, 1].
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..dense import FLOAT32_MAX, DenseModel
from ..registry import PREDICTIONS, PROBABILITIES, output_name
from ..trees.tables import LEAF, TreeTables

INPUT = "input"
ML_DOMAIN = "ai.onnx.ml"


def _value_info(name: str, columns: int | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, columns])


def _initializer(name: str, values: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def dense_to_onnx(
    model: DenseModel, opset: int, graph_name: str, limit: float, refuse_beyond: float | None = None,
    clip: float = FLOAT32_MAX,
) -> onnx.ModelProto:
    """Standardisation bounded to ``limit`` as dense.py describes, then the layers; with
    ``refuse_beyond`` (int8 and fp16 graphs) a row whose largest |standardised value| passes it gets
    NaN. ``clip``: the largest value the layers' type holds (float16's for an fp16 graph)."""
    reduce_max = (helper.make_node("ReduceMax", ["magnitude", "row_axis"], ["largest"], keepdims=1) if opset >= 18
                  else helper.make_node("ReduceMax", ["magnitude"], ["largest"], axes=[1], keepdims=1))
    nodes: list[onnx.NodeProto] = [
        helper.make_node("Sub", [INPUT, "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "unit_scale"], ["units"]),
        helper.make_node("IsNaN", ["units"], ["missing"]),
        helper.make_node("Where", ["missing", "unit_fill", "units"], ["filled_units"]),
        helper.make_node("Abs", ["filled_units"], ["absolute"]),
        helper.make_node("Mul", ["absolute", "reach"], ["magnitude"]),
        reduce_max,
        helper.make_node("Div", ["limit", "largest"], ["shrink"]),
        helper.make_node("Min", ["shrink", "power"], ["factor"]),
        helper.make_node("Mul", ["filled_units", "factor"], ["scaled"]),
        helper.make_node("Clip", ["scaled", "lowest", "highest"], ["filled"]),
    ]
    # A mean-imputed model fills with 0 everywhere: one scalar instead of a vector.
    fill = np.zeros(1) if not np.any(model.fill) else model.unit_fill()
    initializers = [
        _initializer("mean", model.mean),
        _initializer("unit_scale", model.unit_scale()),
        _initializer("unit_fill", fill),
        _initializer("limit", np.array([limit])),
        _initializer("power", np.array([model.power])),
        _initializer("reach", model.reach()),
        _initializer("lowest", np.array(-clip)),
        _initializer("highest", np.array(clip)),
    ]
    if opset >= 18:
        initializers.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "row_axis"))
    current = "filled"
    for index, layer in enumerate(model.layers):
        initializers += [_initializer(f"W{index}", layer.weights), _initializer(f"b{index}", layer.bias)]
        nodes += [
            helper.make_node("MatMul", [current, f"W{index}"], [f"matmul{index}"]),
            helper.make_node("Add", [f"matmul{index}", f"b{index}"], [f"dense{index}"]),
        ]
        current = f"dense{index}"
        if layer.activation != "identity":
            op = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid"}[layer.activation]
            nodes.append(helper.make_node(op, [current], [f"act{index}"]))
            current = f"act{index}"
    output_nodes, output_constants = _output_nodes(model.output, current)
    nodes += output_nodes
    initializers += output_constants
    columns = 2 if model.output == "binary" else int(model.layers[-1].bias.shape[0])
    name = PREDICTIONS if model.output == "identity" else PROBABILITIES
    if refuse_beyond is not None:  # NaN cannot pass an int8 tensor: the float output says it
        nodes[-1].output[0] = "answer"
        nodes += [
            helper.make_node("Greater", ["largest", "refuse_beyond"], ["refused"]),
            helper.make_node("Where", ["refused", "nan", "answer"], [name]),
        ]
        initializers += [_initializer("refuse_beyond", np.array([refuse_beyond / model.power])),
                         _initializer("nan", np.array([np.nan]))]
    graph = helper.make_graph(
        nodes, graph_name, [_value_info(INPUT, model.n_features)], [_value_info(name, columns)], initializers
    )
    return _model(graph, {"": opset})


def _output_nodes(kind: str, logits: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes (and their constants) turning logits into edgekit's output tensor."""
    if kind == "binary":
        nodes = [
            helper.make_node("Sigmoid", [logits], ["positive"]),
            helper.make_node("Sub", ["one", "positive"], ["negative"]),
            helper.make_node("Concat", ["negative", "positive"], [PROBABILITIES], axis=1),
        ]
        return nodes, [_initializer("one", np.ones(1))]
    if kind == "softmax":
        return [helper.make_node("Softmax", [logits], [PROBABILITIES], axis=1)], []
    return [helper.make_node("Identity", [logits], [PREDICTIONS])], []


def _model(graph: onnx.GraphProto, opsets: dict[str, int]) -> onnx.ModelProto:
    for index, node in enumerate(graph.node):
        # Unique node names: graph rewriters (fp16 casts, QDQ) derive new names from them.
        node.name = node.name or f"{node.op_type.lower()}_{index}"
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets.items()],
        producer_name="edgekit",
    )
    model.ir_version = min(model.ir_version, 10)  # readable by every ONNX Runtime that takes these opsets
    return model


def trees_to_onnx(tables: TreeTables, task: str, opset: int, graph_name: str) -> onnx.ModelProto:
    """A tree ensemble from edgekit's tables: one TreeEnsembleRegressor for the raw scores (the same
    float32 ``x < threshold`` splits and NaN directions as the C and TFLite builds), then the link
    (sigmoid, softmax, exp) in standard operators."""
    trees_of_nodes = np.repeat(np.arange(tables.num_trees), np.diff(np.append(tables.roots, tables.num_nodes)))
    root = tables.roots[trees_of_nodes]
    leaf = tables.feature == LEAF
    left = np.where(leaf, 0, tables.child - root)
    share = 1.0 / tables.trees_per_output() if tables.average else np.ones(tables.num_outputs)
    leaf_nodes = np.flatnonzero(leaf)
    offsets = tables.child[leaf_nodes]
    if tables.leaf_width > 1:  # every leaf adds a vector: one target entry per column
        columns = np.tile(np.arange(tables.leaf_width), len(leaf_nodes))
        leaf_nodes, offsets = np.repeat(leaf_nodes, tables.leaf_width), np.repeat(offsets, tables.leaf_width) + columns
    else:
        columns = tables.tree_output[trees_of_nodes[leaf_nodes]]
    # Double input and double attributes: ONNX Runtime then compares and sums in double, as LightGBM
    # does (float32 sums of a few hundred trees drift by 1e-4); float32 thresholds compare the same.
    widen = helper.make_node("Cast", [INPUT], ["input_double"], to=TensorProto.DOUBLE)
    ensemble = helper.make_node(
        "TreeEnsembleRegressor", ["input_double"], ["raw"], domain=ML_DOMAIN, n_targets=tables.num_outputs,
        nodes_treeids=trees_of_nodes.tolist(), nodes_nodeids=(np.arange(tables.num_nodes) - root).tolist(),
        nodes_featureids=np.where(leaf, 0, tables.feature).tolist(),
        nodes_modes=np.where(leaf, "LEAF", "BRANCH_LT").tolist(),
        nodes_values_as_tensor=numpy_helper.from_array(tables.threshold.astype(np.float64)),
        nodes_truenodeids=left.tolist(), nodes_falsenodeids=np.where(leaf, 0, left + 1).tolist(),
        nodes_missing_value_tracks_true=(tables.default_left & ~leaf).astype(int).tolist(),
        target_treeids=trees_of_nodes[leaf_nodes].tolist(), target_nodeids=(leaf_nodes - root[leaf_nodes]).tolist(),
        target_ids=columns.tolist(),
        target_weights_as_tensor=numpy_helper.from_array(tables.leaf_values[offsets] * share[columns]),
        base_values_as_tensor=numpy_helper.from_array(tables.base_scores * share),
        aggregate_function="SUM", post_transform="NONE",
    )
    nodes, constants, scores = [widen, ensemble], [], "raw"
    if tables.postprocessor == "sigmoid" and tables.sigmoid_alpha != 1.0:
        nodes.append(helper.make_node("Mul", ["raw", "sigmoid_alpha"], ["scaled"]))
        constants.append(_initializer("sigmoid_alpha", np.array([tables.sigmoid_alpha])))
        scores = "scaled"
    if tables.binary_pair:
        kind = "binary"
    elif tables.postprocessor == "softmax":
        kind = "softmax"
    elif tables.postprocessor in {"sigmoid", "exponential"}:  # regression on a logistic or log link
        nodes.append(helper.make_node("Sigmoid" if tables.postprocessor == "sigmoid" else "Exp", [scores], ["linked"]))
        kind, scores = "identity", "linked"
    else:
        kind = "identity" if task == "regression" else "values"
    if kind == "values":  # identity_multiclass: the raw scores are the probabilities
        output_nodes, output_constants = [helper.make_node("Identity", [scores], [PROBABILITIES])], []
    else:
        output_nodes, output_constants = _output_nodes(kind, scores)
    graph = helper.make_graph(
        [*nodes, *output_nodes], graph_name, [_value_info(INPUT, tables.num_features)],
        [_value_info(output_name(task), tables.output_width)], [*constants, *output_constants],
    )
    return _model(graph, {"": opset, ML_DOMAIN: 3})


def single_output(model: onnx.ModelProto, keep: str, task: str) -> onnx.ModelProto:
    """Drop a converter's extra outputs (label, ZipMap) and name the kept one as edgekit does."""
    wanted = output_name(task)
    kept = next((output for output in model.graph.output if output.name == keep), None)
    if kept is None:
        names = [output.name for output in model.graph.output]
        raise RuntimeError(f"converter output '{keep}' not found among {names}")
    del model.graph.output[:]
    if keep == wanted:
        model.graph.output.append(kept)
        return model
    model.graph.node.append(helper.make_node("Identity", [keep], [wanted]))
    columns = kept.type.tensor_type.shape.dim[1].dim_value if len(kept.type.tensor_type.shape.dim) > 1 else 1
    model.graph.output.append(_value_info(wanted, columns or None))
    return model
