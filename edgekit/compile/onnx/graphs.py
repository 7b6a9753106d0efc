"""ONNX graphs edgekit writes itself: dense models from standard operators, and scikit-learn's
histogram gradient boosting as an ai.onnx.ml tree ensemble (skl2onnx's converter for it breaks on
current onnx releases). Every graph has one input "input" [N, features] float32 and one output:
"probabilities" [N, classes] or "predictions" [N, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import BadInput
from ..dense import DenseModel
from ..registry import PREDICTIONS, PROBABILITIES, output_name
from ..trees.thresholds import float32_at_or_below

INPUT = "input"
ML_DOMAIN = "ai.onnx.ml"


def _value_info(name: str, columns: int | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, columns])


def _initializer(name: str, values: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def dense_to_onnx(model: DenseModel, opset: int, graph_name: str) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = [
        helper.make_node("Sub", [INPUT, "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "inverse_scale"], ["scaled"]),
        helper.make_node("IsNaN", ["scaled"], ["missing"]),
        helper.make_node("Where", ["missing", "fill", "scaled"], ["filled"]),
    ]
    # A mean-imputed model fills with 0 everywhere: one scalar instead of a vector.
    fill = np.zeros(1) if not np.any(model.fill) else model.fill
    initializers = [
        _initializer("mean", model.mean),
        _initializer("inverse_scale", model.inverse_scale),
        _initializer("fill", fill),
    ]
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


def hist_gradient_boosting_to_onnx(model: Any, n_features: int, task: str, opset: int) -> onnx.ModelProto:
    """scikit-learn HistGradientBoosting* as TreeEnsembleRegressor raw scores + standard-op link."""
    predictors = model._predictors
    per_iteration = len(predictors[0])
    attributes: dict[str, list[Any]] = {key: [] for key in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights",
    )}
    tree_id = 0
    for iteration in predictors:
        for target, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise BadInput("categorical splits are not supported", "train without categorical_features")
            count = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            attributes["nodes_treeids"] += [tree_id] * count
            attributes["nodes_nodeids"] += list(range(count))
            attributes["nodes_featureids"] += np.where(leaf, 0, nodes["feature_idx"]).astype(int).tolist()
            attributes["nodes_modes"] += ["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf]
            attributes["nodes_values"] += np.where(leaf, 0.0, float32_at_or_below(nodes["num_threshold"])).tolist()
            attributes["nodes_truenodeids"] += np.where(leaf, 0, nodes["left"]).astype(int).tolist()
            attributes["nodes_falsenodeids"] += np.where(leaf, 0, nodes["right"]).astype(int).tolist()
            attributes["nodes_missing_value_tracks_true"] += np.where(leaf, 0, nodes["missing_go_to_left"]).astype(int).tolist()
            leaves = np.flatnonzero(leaf)
            attributes["target_treeids"] += [tree_id] * len(leaves)
            attributes["target_nodeids"] += leaves.tolist()
            attributes["target_ids"] += [target] * len(leaves)
            attributes["target_weights"] += nodes["value"][leaves].astype(float).tolist()
            tree_id += 1
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    ensemble = helper.make_node(
        "TreeEnsembleRegressor", [INPUT], ["raw"], domain=ML_DOMAIN, n_targets=per_iteration,
        base_values=baseline.astype(np.float32).tolist(), aggregate_function="SUM", post_transform="NONE",
        **attributes,
    )
    if task == "regression":
        kind, columns = "identity", 1
    else:
        kind, columns = ("binary", 2) if per_iteration == 1 else ("softmax", per_iteration)
    output_nodes, output_constants = _output_nodes(kind, "raw")
    graph = helper.make_graph(
        [ensemble, *output_nodes], "hist_gradient_boosting", [_value_info(INPUT, n_features)],
        [_value_info(output_name(task), columns)], output_constants,
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
