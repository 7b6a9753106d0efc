"""The TFLite tree walk in the real LiteRT interpreter: exact (fp32, 1e-5) against the libraries'
own predictions for binary, multi-class, regression, random forests and missing values, in both
walk forms; and a level step that stays two table GATHERs, not the old five."""

import numpy as np
import pytest
import xgboost as xgb
from edgekit_runtime.predictors.tflite import TflitePredictor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from edgekit.compile.parity import edge_rows
from edgekit.compile.tflite.trees import tree_graph
from edgekit.compile.trees.tables import LEAF, tables_from_treelite, treelite_model

TOLERANCE = 1e-5


def _data(rows=2000, features=6, missing=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    score = X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.3, size=rows)
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X, score


def _probe_rows(tables, X, missing: bool):
    """Training rows, rows on and one float32 step either side of every threshold, infinities,
    and (with missing values) NaN in every column, alone and together."""
    split = tables.feature != LEAF
    thresholds = {int(f): tables.threshold[split & (tables.feature == f)] for f in np.unique(tables.feature[split])}
    blocks = [X[:400], edge_rows(np.nan_to_num(X[:50]), thresholds)]
    for value in (np.inf, -np.inf, np.float32(3.4e38), -0.0):
        block = X[:tables.num_features].copy()
        block[np.arange(tables.num_features), np.arange(tables.num_features)] = value
        blocks.append(block)
    if missing:
        block = np.repeat(np.nan_to_num(X[:1]), tables.num_features + 1, axis=0)
        block[np.arange(tables.num_features), np.arange(tables.num_features)] = np.nan
        block[-1] = np.nan
        blocks.append(block)
    return np.concatenate(blocks).astype(np.float32)


def _in_litert(tables, tmp_path):
    built = tree_graph(tables)
    path = tmp_path / "model.tflite"
    path.write_bytes(built.graph.serialize("test"))
    return built, TflitePredictor(path, tables.num_features, probabilities=True).predict


CASES = {
    "xgboost binary, NaN both ways": lambda X, s: xgb.XGBClassifier(n_estimators=30, max_depth=5).fit(X, s > 0),
    "xgboost multi-class": lambda X, s: xgb.XGBClassifier(n_estimators=10, max_depth=4).fit(X, np.digitize(s, [-0.5, 0.5])),
    "xgboost regression": lambda X, s: xgb.XGBRegressor(n_estimators=20, max_depth=6).fit(X, s),
    "random forest, deep": lambda X, s: RandomForestClassifier(n_estimators=8, random_state=0).fit(X, s > 0),
    "random forest, shallow": lambda X, s: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X, s > 0),
    "random forest regression": lambda X, s: RandomForestRegressor(n_estimators=5, max_depth=7, random_state=0).fit(X, s),
}


@pytest.mark.parametrize("case", list(CASES))
def test_walk_reproduces_the_model_exactly(case, tmp_path):
    xgboost = case.startswith("xgboost")
    X, score = _data(missing=0.1 if xgboost else 0.0)
    model = CASES[case](X, score)
    tables = tables_from_treelite(*treelite_model(model, "xgboost" if xgboost else "random-forest"),
                                  classifier=not case.endswith("regression"))
    if case.startswith("xgboost binary"):  # the point of the case: NaN goes left at some nodes, right at others
        inner = tables.feature != LEAF
        assert tables.default_left[inner].any() and not tables.default_left[inner].all()
    built, predict = _in_litert(tables, tmp_path)
    rows = _probe_rows(tables, X, missing=xgboost)
    got = predict(rows)
    expected = tables.predict(rows)
    assert np.abs(got.reshape(expected.shape) - expected).max() <= TOLERANCE
    if not xgboost:  # scikit-learn refuses infinities: the library checks the finite rows
        finite = np.isfinite(rows).all(axis=1)
        rows, got = rows[finite], got[finite]
    own = model.predict_proba(rows) if hasattr(model, "predict_proba") else model.predict(rows)
    assert np.abs(got.reshape(own.shape) - own).max() <= TOLERANCE
    form = "node walk" if case == "random forest, deep" else "complete trees"  # sparse deep trees would not pad
    assert built.how["walk"].startswith(form)


def _ops_per_level(built):
    """(op, reads a constant table) for every operator, grouped by the level its output belongs to."""
    graph = built.graph
    names = {index: op for (op, _), index in graph.opcodes.items()}
    levels: dict[str, list[tuple[str, bool]]] = {}
    for operator in graph.operators:
        level = graph.tensors[operator.outputs[0]].name.split("/")[0]
        from_table = any(graph.tensors[i].buffer != 0 for i in operator.inputs)
        levels.setdefault(level, []).append((names[operator.opcode], from_table))
    return levels


def test_a_level_step_is_two_table_gathers_and_no_nan_test(tmp_path):
    X, score = _data(missing=0.1)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=6).fit(X, score > 0)
    built, _ = _in_litert(tables_from_treelite(*treelite_model(model, "xgboost")), tmp_path)
    levels = _ops_per_level(built)
    steps = [name for name in levels if name.startswith("level")]
    assert len(steps) == 6
    for name in steps[1:]:  # the root level reads constants only
        ops = [op for op, _ in levels[name]]
        table_gathers = [op for op, from_table in levels[name] if op == "GATHER" and from_table]
        # column and threshold from tables, the row's value, compare, and the child by arithmetic
        assert len(table_gathers) == 2 and ops.count("GATHER") == 3 and len(ops) <= 7, (name, ops)
        assert not {"NOT_EQUAL", "LOGICAL_AND", "LOGICAL_OR", "SELECT_V2"} & set(ops), (name, ops)
    assert sum(len(ops) for ops in levels.values()) <= 45  # the five-GATHER walk took 65 on these trees


def test_deep_sparse_forest_walk_reads_one_child_table_more(tmp_path):
    X, score = _data()
    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, score > 0)
    built, _ = _in_litert(tables_from_treelite(*treelite_model(model, "random-forest")), tmp_path)
    levels = _ops_per_level(built)
    for name in [name for name in levels if name.startswith("level")][1:]:
        ops = [op for op, _ in levels[name]]
        assert ops.count("GATHER") == 4 and len(ops) <= 7, (name, ops)
