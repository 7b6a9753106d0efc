"""Tree ensembles in one plain, array-based form, read through Treelite's model.

Every tree model edgekit trains or imports (XGBoost, LightGBM, scikit-learn forests, boosting,
histogram boosting) is loaded with Treelite's frontends, then flattened into NumPy arrays with

- every split written as ``x < threshold`` on float32 (Treelite's ``<=`` on float64 becomes ``<``
  on the next float32 up, which is exact for float32 inputs);
- the two children of a node stored side by side (right = left + 1), trees one after another;
- a median imputer in front of a scikit-learn model folded into each node's missing-value
  direction (NaN goes where the imputed value would have gone).

The C table layout (c_table.py) writes these arrays out as they are.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import BadInput
from ...train.boosters import read_margin_as_probability
from .lightgbm_splits import apply_lightgbm_split_rules
from .scaling import fold_scaler
from .thresholds import CMP_LE, CMP_LT, float32_at_or_below

LEAF = -1
_POSTPROCESSORS = {"identity", "identity_multiclass", "sigmoid", "softmax", "exponential"}


@dataclass(frozen=True)
class TreeTables:
    feature: np.ndarray  # int32 per node; LEAF for leaves
    threshold: np.ndarray  # float32 per node: go left when x < threshold
    default_left: np.ndarray  # bool per node: where NaN goes
    child: np.ndarray  # int64 per node: left child (right = left + 1); for leaves, the leaf_values offset
    roots: np.ndarray  # int64 per tree
    tree_output: np.ndarray  # int32 per tree: the output column its leaves add to (-1: all columns)
    leaf_values: np.ndarray  # float64, leaf_width values per leaf
    leaf_width: int
    num_features: int
    num_outputs: int  # accumulators: classes (or 1)
    base_scores: np.ndarray  # float64 [num_outputs]
    average: bool  # divide by the number of trees per output (random forests)
    postprocessor: str  # identity, identity_multiclass, sigmoid, softmax, exponential
    sigmoid_alpha: float
    # Class probabilities: a sigmoid's one margin becomes [1 - p, p]. False for a regression on a
    # logistic link (XGBoost's reg:logistic), whose one output stays p.
    classifier: bool = True

    @property
    def binary_pair(self) -> bool:
        return self.postprocessor == "sigmoid" and self.classifier

    @property
    def num_nodes(self) -> int:
        return int(self.feature.shape[0])

    @property
    def output_width(self) -> int:
        """Floats per prediction: a binary classifier's one margin becomes [1 - p, p]."""
        return 2 if self.binary_pair else self.num_outputs

    @property
    def num_trees(self) -> int:
        return int(self.roots.shape[0])

    def trees_per_output(self) -> np.ndarray:
        if self.leaf_width > 1:
            return np.full(self.num_outputs, self.num_trees)
        return np.bincount(self.tree_output, minlength=self.num_outputs)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reference walk in NumPy (all rows at once, one tree level per step); edgekit's
        probabilities layout: [n, classes] for classification, [n] for regression."""
        X = np.asarray(X, dtype=np.float32)
        rows = np.arange(len(X))
        scores = np.tile(self.base_scores, (len(X), 1))
        for tree, root in enumerate(self.roots):
            node = np.full(len(X), root)
            while True:
                feature = self.feature[node]
                active = feature != LEAF
                if not active.any():
                    break
                values = X[rows[active], feature[active]]
                left = np.where(np.isnan(values), self.default_left[node[active]], values < self.threshold[node[active]])
                node[active] = self.child[node[active]] + (~left).astype(np.int64)
            offsets = self.child[node]
            if self.leaf_width > 1:
                scores += self.leaf_values[offsets[:, None] + np.arange(self.leaf_width)]
            else:
                scores[:, self.tree_output[tree]] += self.leaf_values[offsets]
        return finish_scores(self, scores)


def finish_scores(tables: TreeTables, scores: np.ndarray) -> np.ndarray:
    if tables.average:
        scores = scores / tables.trees_per_output()
    if tables.postprocessor == "sigmoid":
        positive = 1.0 / (1.0 + np.exp(-tables.sigmoid_alpha * scores[:, 0]))
        return np.column_stack([1.0 - positive, positive]) if tables.classifier else positive
    if tables.postprocessor == "exponential":
        return np.exp(scores[:, 0])
    if tables.postprocessor == "softmax":
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    if tables.num_outputs == 1 and tables.postprocessor == "identity":
        return scores[:, 0]
    return scores


def treelite_model(model: Any, family: str) -> tuple[Any, np.ndarray | None]:
    """(treelite.Model, imputer fill values or None) for an edgekit tree model."""
    import treelite

    if hasattr(model, "treelite"):  # a model only Treelite reads: its checkpoint is the model
        return model.treelite, None
    if family == "xgboost":
        converted = treelite.frontend.from_xgboost(model.get_booster())
        if getattr(model, "objective", None) == "binary:logitraw":
            read_margin_as_probability(converted)
        return converted, None
    if family == "lightgbm":
        converted = treelite.frontend.from_lightgbm(model.booster)
        apply_lightgbm_split_rules(converted, model.booster)
        return converted, None
    fill, scaler, scaled_fill = None, None, False
    estimator = model
    if hasattr(model, "steps"):
        *preprocessing, (_, estimator) = model.steps
        for _, step in preprocessing:
            if type(step).__name__ == "SimpleImputer":
                fill, scaled_fill = np.asarray(step.statistics_, dtype=np.float64), scaler is not None
            elif type(step).__name__ in {"StandardScaler", "MinMaxScaler"}:
                scaler = step
            else:
                raise BadInput(f"cannot fold pipeline step {type(step).__name__} into a tree model",
                               "tree pipelines take a SimpleImputer and a StandardScaler or MinMaxScaler")
    try:
        converted = treelite.sklearn.import_model(estimator)
    except treelite.TreeliteError as exc:
        raise BadInput(f"Treelite cannot import {type(estimator).__name__}: {exc}", "use the onnx target") from exc
    if scaler is None:
        return converted, fill
    if fill is not None and scaled_fill:  # the fill is in scaled units: decide each default side now
        _fold_fill(converted, fill)
        fill = None
    fold_scaler(converted, scaler)
    return converted, fill


def _fold_fill(model: Any, fill: np.ndarray) -> None:
    """Send NaN where the imputed value goes, in the tree's own (scaled) units."""
    for tree_id in range(model.num_tree):
        tree = model.get_tree_accessor(tree_id)
        split = np.asarray(tree.get_field("cleft")) != -1
        feature = np.asarray(tree.get_field("split_index"), dtype=np.int64)
        threshold = np.asarray(tree.get_field("threshold"), dtype=np.float64)
        value = fill.astype(np.float32).astype(np.float64)[np.where(split, feature, 0)]
        cmp = np.asarray(tree.get_field("cmp"))
        left = np.where(cmp == CMP_LT, value < threshold, value <= threshold)
        default_left = np.asarray(tree.get_field("default_left")).copy()
        default_left[split] = left[split]
        tree.set_field("default_left", default_left)


@dataclass(frozen=True)
class BundleTrees:
    treelite: Any  # treelite.Model (TL2cgen's input)
    fill: np.ndarray | None  # imputer fill values, or None
    tables: TreeTables


# One conversion per loaded bundle: a compile needs the tables in its backend and again for the
# work figures, and auto-fit compiles the same bundle for several candidates.
_CONVERTED: weakref.WeakKeyDictionary[Any, BundleTrees] = weakref.WeakKeyDictionary()


def bundle_trees(bundle: Any) -> BundleTrees:
    """A tree bundle's model as Treelite sees it and as edgekit's tables, converted once."""
    converted = _CONVERTED.get(bundle)
    if converted is None:
        model, fill = treelite_model(bundle.model, bundle.info.family)
        tables = tables_from_treelite(model, fill, classifier=bundle.info.task == "classification")
        converted = _CONVERTED[bundle] = BundleTrees(model, fill, tables)
    return converted


def tables_from_treelite(model: Any, fill: np.ndarray | None = None, *, classifier: bool = True) -> TreeTables:
    meta = _header(model)
    postprocessor = meta["postprocessor"]
    if postprocessor not in _POSTPROCESSORS:
        raise BadInput(f"Treelite postprocessor '{postprocessor}' is not supported",
                       f"supported output transforms: {', '.join(sorted(_POSTPROCESSORS))}")
    leaf_width = int(meta["leaf_vector_shape"][1])
    num_class = int(meta["num_class"][0])
    num_outputs = max(num_class, leaf_width) if num_class > 1 else 1
    if meta["num_target"] != 1:
        raise BadInput("multi-target tree models have no C path", "train one model per target")

    features, thresholds, defaults, children, leaf_chunks, roots = [], [], [], [], [], []
    node_base, leaf_base = 0, 0
    for tree_id in range(model.num_tree):
        tree = model.get_tree_accessor(tree_id)
        cleft = np.asarray(tree.get_field("cleft"), dtype=np.int64)
        cright = np.asarray(tree.get_field("cright"), dtype=np.int64)
        if np.any(np.asarray(tree.get_field("node_type"))[cleft != -1] != 1):
            raise BadInput("the model has categorical splits, which no edgekit target compiles yet",
                           "train it on numeric (e.g. one-hot or ordinal-coded) features")
        order = _sibling_order(cleft, cright)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        leaf = cleft[order] == -1
        split_index = np.asarray(tree.get_field("split_index"), dtype=np.int64)[order]
        raw = np.asarray(tree.get_field("threshold"), dtype=np.float64)[order]
        cmp = np.asarray(tree.get_field("cmp"))[order]
        threshold = _strict_less_than(raw, cmp, leaf)
        default_left = np.asarray(tree.get_field("default_left"), dtype=bool)[order]
        if fill is not None:  # the imputed value decides where a missing input goes
            default_left = np.where(leaf, False, fill.astype(np.float32)[np.where(leaf, 0, split_index)] < threshold)
        values = _leaf_values(tree, order, leaf, leaf_width)
        child = np.where(leaf, 0, position[np.where(leaf, 0, cleft[order])] + node_base)
        leaf_offsets = leaf_base + np.arange(int(leaf.sum())) * leaf_width
        child[leaf] = leaf_offsets
        features.append(np.where(leaf, LEAF, split_index).astype(np.int32))
        thresholds.append(np.where(leaf, 0.0, threshold).astype(np.float32))
        defaults.append(default_left & ~leaf)
        children.append(child)
        leaf_chunks.append(values)
        roots.append(node_base)
        node_base += len(order)
        leaf_base += int(leaf.sum()) * leaf_width

    tree_output = np.asarray(meta["class_id"], dtype=np.int32) if leaf_width == 1 else np.full(model.num_tree, -1, np.int32)
    if num_outputs == 1:
        tree_output = np.zeros(model.num_tree, np.int32)
    base = np.asarray(meta["base_scores"], dtype=np.float64).reshape(-1)
    base_scores = np.resize(base, num_outputs) if base.size != num_outputs else base
    return TreeTables(
        feature=np.concatenate(features),
        threshold=np.concatenate(thresholds),
        default_left=np.concatenate(defaults),
        child=np.concatenate(children),
        roots=np.asarray(roots, dtype=np.int64),
        tree_output=tree_output,
        leaf_values=np.concatenate(leaf_chunks),
        leaf_width=leaf_width,
        num_features=int(meta["num_feature"]),
        num_outputs=num_outputs,
        base_scores=base_scores,
        average=bool(meta["average_tree_output"]),
        postprocessor=postprocessor,
        sigmoid_alpha=float(meta["sigmoid_alpha"]),
        classifier=classifier,
    )


def _header(model: Any) -> dict[str, Any]:
    """Treelite's model-level fields (without dumping every tree as JSON)."""
    accessor = model.get_header_accessor()
    names = ("num_feature", "average_tree_output", "num_target", "num_class", "leaf_vector_shape",
             "class_id", "postprocessor", "sigmoid_alpha", "base_scores")
    meta = {}
    for name in names:
        value = accessor.get_field(name)
        meta[name] = value.tolist() if hasattr(value, "tolist") else value
    for name in ("num_feature", "num_target", "average_tree_output", "sigmoid_alpha"):
        if isinstance(meta[name], list):
            meta[name] = meta[name][0]
    if isinstance(meta["postprocessor"], bytes | bytearray):
        meta["postprocessor"] = meta["postprocessor"].decode()
    return meta


def _sibling_order(cleft: np.ndarray, cright: np.ndarray) -> np.ndarray:
    """Node ids in breadth-first order, so each node's children are adjacent."""
    order = [0]
    for node in order:  # the list grows as it is walked
        if cleft[node] != -1:
            order += [int(cleft[node]), int(cright[node])]
    return np.asarray(order, dtype=np.int64)


def _strict_less_than(threshold: np.ndarray, cmp: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """float32 t' with: x < t' (for float32 x) exactly when the original comparison holds."""
    result = float32_at_or_below(threshold)
    exact = result.astype(np.float64) == threshold
    # x < t (float64): for float32 x, the same as x < t32_up unless t is itself a float32.
    less = (cmp == CMP_LT) & ~exact
    result[less] = np.nextafter(result[less], np.float32(np.inf))
    # x <= t: x <= t32_down, i.e. x < next float32 above t32_down.
    less_equal = cmp == CMP_LE
    with np.errstate(over="ignore"):  # x <= float32 max: every finite x, i.e. x < inf
        result[less_equal] = np.nextafter(result[less_equal], np.float32(np.inf))
    unknown = ~leaf & (cmp != CMP_LT) & (cmp != CMP_LE)
    if unknown.any():
        raise BadInput("tree splits other than < and <= have no C path", "use the onnx target")
    return result


def _leaf_values(tree: Any, order: np.ndarray, leaf: np.ndarray, width: int) -> np.ndarray:
    if width == 1:
        return np.asarray(tree.get_field("leaf_value"), dtype=np.float64)[order][leaf]
    vector = np.asarray(tree.get_field("leaf_vector"), dtype=np.float64)
    begin = np.asarray(tree.get_field("leaf_vector_begin"), dtype=np.int64)[order][leaf]
    return vector[begin[:, None] + np.arange(width)].reshape(-1)
