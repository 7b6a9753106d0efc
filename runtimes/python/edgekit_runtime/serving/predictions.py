"""Records in, results out: what the three ways of deployment (batch files, JSON lines, REST)
share. A record that cannot become a row gets an error result; the others are predicted together.
A row whose output is NaN or infinite gets an error result too: that is no answer, and no label."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..inputs.schema import InputSchema, RowError
from ..loader import LoadedModel, non_finite_rows

NO_FINITE_OUTPUT = "the model's output for this row is NaN or infinite, which is no prediction; check the row for infinite or overflowing values"


def schema_of(model: LoadedModel) -> InputSchema:
    """The model's input schema; without one (an artifact from before schemas), names only."""
    if model.schema is not None:
        return model.schema
    names = model.feature_names or [f"f{index}" for index in range(model.features)]
    document = {"features": [{"name": name, "kind": "numeric", "missing_rate": 1.0} for name in names]}
    return InputSchema.from_document(document)


def encode_records(schema: InputSchema, records: list[Any]) -> tuple[np.ndarray, np.ndarray, list[int], dict[int, str]]:
    """Records as rows: (rows, unknown-category cells, the record index of each row, and the
    reason each record that could not become a row was refused)."""
    rows, unknown, positions, errors = [], [], [], {}
    for position, record in enumerate(records):
        try:
            row, cells = schema.encode_record(record)
        except RowError as exc:
            errors[position] = exc.one_line()
            continue
        rows.append(row)
        unknown.append(cells)
        positions.append(position)
    if not rows:
        empty = np.empty((0, schema.features), dtype=np.float32)
        return empty, empty.astype(bool), positions, errors
    return np.vstack(rows), np.vstack(unknown), positions, errors


def predict_records(model: LoadedModel, records: list[Any]) -> list[dict[str, Any]]:
    """One result per record, in order: a prediction, or {"error": reason}."""
    rows, unknown, positions, errors = encode_records(schema_of(model), records)
    results: list[dict[str, Any]] = [{"error": errors[index]} if index in errors else {} for index in range(len(records))]
    if positions:
        outputs = model.predict_encoded(rows, unknown)
        answers = output_records(model, outputs)
        for index in non_finite_rows(outputs).tolist():
            answers[index] = {"error": NO_FINITE_OUTPUT}
        for position, result in zip(positions, answers, strict=True):
            results[position] = result
    return results


def output_records(model: LoadedModel, outputs: np.ndarray) -> list[dict[str, Any]]:
    """Predictions as JSON-ready records: {"label", "probabilities": {class: p}} or {"prediction"}."""
    if model.task != "classification":
        return [{"prediction": float(value)} for value in outputs.reshape(-1).tolist()]
    classes = model.classes or [str(index) for index in range(outputs.shape[1])]
    labels = np.asarray(classes, dtype=object)[np.argmax(outputs, axis=1)]
    return [
        {"label": label, "probabilities": dict(zip(classes, probabilities, strict=True))}
        for label, probabilities in zip(labels.tolist(), outputs.astype(np.float64).round(7).tolist(), strict=True)
    ]


def output_columns(model: LoadedModel) -> list[str]:
    """The columns of a predictions file."""
    if model.task != "classification":
        return ["prediction"]
    return ["label", *(f"p_{name}" for name in model.classes)]
