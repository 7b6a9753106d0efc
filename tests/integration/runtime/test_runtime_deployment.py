"""The three ways a device runs a model, end to end with real processes: batch files, JSON lines on
stdin/stdout, and the local REST endpoint over 127.0.0.1; plus the input checks they share."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from edgekit_runtime import load

from edgekit import train_bundle
from edgekit.bundle import ModelBundle
from edgekit.compile import compile_bundle
from edgekit.data.sources import load_table

RUNTIME = [sys.executable, "-m", "edgekit_runtime.cli"]


@pytest.fixture(scope="module")
def sensors(tmp_path_factory):
    """A bundle with a categorical feature and missing values, its C artifact, and test rows."""
    root = tmp_path_factory.mktemp("deployment")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        bundle = train_bundle("synthetic:sensors?rows=1500&missing=0.05", root / "bundle")
    artifact = compile_bundle(bundle.path, "c", root / "artifact").path
    frame = load_table("synthetic:sensors?rows=60&missing=0.05&seed=7").frame
    return artifact, ModelBundle.load(bundle.path), frame


def expected(sensors, frame: pd.DataFrame) -> np.ndarray:
    artifact, bundle, _ = sensors
    return load(artifact).predict(bundle.schema.encode(frame))


# --- input checks -----------------------------------------------------------------------------

def test_inputs_outside_training_are_counted_per_feature_and_still_predicted(sensors):
    artifact, bundle, frame = sensors
    model = load(artifact)
    rows = bundle.schema.encode(frame.head(4))
    rows[0, 1] = 1e9  # runtime_hours far above the training maximum
    rows[1, 2] = -5.0  # load_pct below the minimum
    rows[2, 0] = np.nan  # machine_type was never missing in training
    rows[3, 0] = 1.5  # not a category code
    out = model.predict(rows)
    assert out.shape == (4, 2) and np.isfinite(out).all()
    report = model.input_report()
    assert report["rows"] == 4 and report["rows_with_violations"] == 4
    assert report["features"] == {
        "machine_type": {"missing": 1, "unknown_category": 1},
        "runtime_hours": {"above_max": 1},
        "load_pct": {"below_min": 1},
    }


def test_single_rows_are_all_counted_even_before_a_full_deferred_batch(sensors):
    artifact, bundle, frame = sensors
    model = load(artifact)
    rows = bundle.schema.encode(frame.head(3))
    rows[:, 1] = 1e9
    for row in rows:
        model.predict(row)
    report = model.input_report()
    assert report["rows"] == 3 and report["features"]["runtime_hours"] == {"above_max": 3}


# --- batch ------------------------------------------------------------------------------------

def test_batch_predicts_every_row_of_a_csv_and_names_the_rows_it_refused(sensors, tmp_path):
    artifact, _, frame = sensors
    source = tmp_path / "rows.csv"
    frame.to_csv(source, index=False)
    lines = source.read_text().splitlines()
    lines[3] = lines[3] + ",extra"  # data row 3: one field too many
    cells = lines[5].split(",")
    cells[2] = "lots"  # data row 5: text in the numeric load_pct column
    lines[5] = ",".join(cells)
    source.write_text("\n".join(lines) + "\n")
    result = subprocess.run([*RUNTIME, "predict", artifact, "--input", source, "--output", tmp_path / "out.csv"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "2 of 60 rows were refused (row 3: has" in result.stderr
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert len(out) == 60 and list(out.columns) == ["label", "p_0", "p_1", "error"]
    assert out.loc[2, "error"].startswith("has 14 fields") and "load_pct is numeric but holds 'lots'" in out.loc[4, "error"]
    good = out["error"] == ""
    assert good.sum() == 58 and (out.loc[~good, "label"] == "").all()
    want = expected(sensors, frame)[good.to_numpy()]
    np.testing.assert_allclose(out.loc[good, ["p_0", "p_1"]].to_numpy(float), want, atol=1e-6)


def test_batch_reads_parquet_with_category_strings(sensors, tmp_path):
    artifact, _, frame = sensors
    frame.to_parquet(tmp_path / "rows.parquet")
    result = subprocess.run([*RUNTIME, "predict", artifact, "--input", tmp_path / "rows.parquet", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(pd.io.common.StringIO(result.stdout), keep_default_na=False)
    np.testing.assert_allclose(out[["p_0", "p_1"]].to_numpy(float), expected(sensors, frame), atol=1e-6)
    assert json.loads(result.stderr)["rows"] == 60


@pytest.mark.parametrize(
    "problem, message",
    [
        ("missing column", "the input has no column for feature rpm"),
        ("no directory", "directory does not exist"),
        ("empty file", "is empty"),
    ],
)
def test_batch_refuses_an_unusable_file_and_writes_nothing(sensors, tmp_path, problem, message):
    artifact, _, frame = sensors
    source, output = tmp_path / "rows.csv", tmp_path / "out.csv"
    frame.drop(columns=["rpm"] if problem == "missing column" else []).to_csv(source, index=False)
    if problem == "no directory":
        output = tmp_path / "absent" / "out.csv"
    if problem == "empty file":
        source.write_text("")
    result = subprocess.run([*RUNTIME, "predict", artifact, "--input", source, "--output", output], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not output.exists() and sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]


# --- real time: JSON lines --------------------------------------------------------------------

def test_json_lines_are_answered_one_by_one_as_they_arrive(sensors):
    artifact, _, frame = sensors
    records = json.loads(frame.drop(columns=["failure"]).head(3).to_json(orient="records"))
    records[1]["machine_type"] = "turbine"  # unknown category: predicted, and counted
    process = subprocess.Popen([*RUNTIME, "predict", artifact], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        answers = []
        for line in [json.dumps(records[0]), "{not json", json.dumps(list(records[1].values())[:5]),
                     json.dumps(records[1]), "x" * (1 << 20 + 1), json.dumps(records[2])]:
            process.stdin.write(line + "\n")
            process.stdin.flush()
            answers.append(json.loads(process.stdout.readline()))  # answered before the next line is sent
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert [sorted(answer) for answer in answers] == [
        ["label", "probabilities"], ["error"], ["error"], ["label", "probabilities"], ["error"], ["label", "probabilities"]]
    assert "not JSON" in answers[1]["error"] and "expected 12 values, got 5" in answers[2]["error"]
    assert "longer than" in answers[4]["error"]
    codes = frame.drop(columns=["failure"]).head(3).copy()
    codes.loc[1, "machine_type"] = None
    want = expected(sensors, codes)
    got = np.array([[answer["probabilities"][c] for c in ("0", "1")] for answer in answers if "label" in answer])
    np.testing.assert_allclose(got, want, atol=1e-6)


# --- local REST -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(sensors):
    artifact, _, _ = sensors
    process = subprocess.Popen([*RUNTIME, "serve", artifact, "--port", "0", "--max-body-bytes", "20000", "--max-rows", "50"],
                               stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    assert "serving" in line, line
    host, port = line.rsplit("http://", 1)[1].strip().split(":")
    yield host, int(port)
    process.terminate()
    process.wait(timeout=10)


def request(server, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*server, timeout=10)
    connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    status, document = response.status, json.loads(response.read())
    connection.close()
    return status, document


def test_rest_predicts_rows_and_counts_their_inputs(server, sensors):
    _, _, frame = sensors
    records = json.loads(frame.drop(columns=["failure"]).head(5).to_json(orient="records"))
    records[0]["load_pct"] = 999.0
    status, document = request(server, "POST", "/v1/predict", json.dumps({"rows": records}).encode())
    assert status == 200 and len(document["predictions"]) == 5
    shifted = frame.drop(columns=["failure"]).head(5).copy()
    shifted.loc[0, "load_pct"] = 999.0
    got = np.array([[p["probabilities"][c] for c in ("0", "1")] for p in document["predictions"]])
    np.testing.assert_allclose(got, expected(sensors, shifted), atol=1e-6)
    status, inputs = request(server, "GET", "/v1/inputs")
    assert status == 200 and inputs["features"]["load_pct"]["above_max"] >= 1
    status, model = request(server, "GET", "/v1/model")
    assert status == 200 and model["features"][0] == "machine_type" and model["runtime"] == "c"


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{not json", 400, "not JSON"),
        (b'{"rows": []}', 400, "at least one row"),
        (b'[1, 2]', 400, '{"rows": [row, ...]}'),
        (json.dumps({"rows": [[1.0] * 11]}).encode(), 422, "expected 12 values, got 11"),
        (json.dumps({"rows": [{"rpm": 3}]}).encode(), 422, "lacks feature machine_type"),
        (json.dumps({"rows": [[None] * 12] * 51}).encode(), 413, "at most 50"),
        (b'{"rows": [' + b"1," * 20000 + b"1]}", 413, "the limit is 20000"),
    ],
)
def test_rest_refuses_bad_requests_with_a_clear_4xx(server, body, status, message):
    got, document = request(server, "POST", "/v1/predict", body)
    assert got == status and message in document["error"], document
    assert request(server, "GET", "/healthz") == (200, {"ok": True})  # still serving


def test_rest_without_content_length_or_on_a_wrong_path(server):
    assert request(server, "GET", "/nowhere")[0] == 404
    with socket.create_connection(server, timeout=10) as raw:
        raw.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(4096).split(b"\r\n")[0].endswith(b"411 Length Required")


def test_serve_on_a_busy_port_is_a_one_line_error(sensors, server):
    artifact, _, _ = sensors
    result = subprocess.run([*RUNTIME, "serve", artifact, "--port", str(server[1])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "choose another --port" in result.stderr


def test_an_artifact_without_a_schema_still_loads(sensors, tmp_path):
    artifact, bundle, frame = sensors
    copy = tmp_path / "old"
    shutil.copytree(artifact, copy)
    descriptor = json.loads((copy / "artifact.json").read_text())
    del descriptor["files"]["schema.json"]
    (copy / "schema.json").unlink()
    (copy / "artifact.json").write_text(json.dumps(descriptor))
    model = load(copy)
    assert model.monitor is None and model.predict(bundle.schema.encode(frame.head(2))).shape == (2, 2)


# --- a row the model has no finite answer for (issue 20) ----------------------------------------
# float32 cannot hold 1e39: the row reaches the model as infinities, and a dense model's output is
# NaN. That is no prediction: every mode serves it as that row's error, never as a label.

NAN_ROW = ["1e39"] * 6


def _strict_json(text: str):
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def logistic_c(tmp_path_factory):
    from tests_support import six_feature_logistic

    root = tmp_path_factory.mktemp("nan-output")
    bundle = six_feature_logistic(root)
    return compile_bundle(bundle.path, "c", root / "artifact").path


def test_batch_puts_a_nan_output_in_the_error_column_not_a_label(logistic_c, tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text("f0,f1,f2,f3,f4,f5\n0,0,0,0,9,6\n" + ",".join(NAN_ROW) + "\n0.1,0,0,0,9,6\n")
    result = subprocess.run([*RUNTIME, "predict", logistic_c, "--input", source, "--output", tmp_path / "out.csv"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "1 of 3 rows were refused (row 2: the model's output for this row is NaN or infinite" in result.stderr
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, dtype=str)
    assert list(out["label"]) == ["0", "", "1"] and out.loc[1, "p_0"] == out.loc[1, "p_1"] == ""
    assert out.loc[1, "error"].startswith("the model's output for this row is NaN or infinite") and (out.loc[[0, 2], "error"] == "").all()


def test_json_lines_answer_a_nan_output_with_a_valid_json_error(logistic_c):
    lines = [json.dumps([0, 0, 0, 0, 9, 6]), "[" + ", ".join(NAN_ROW) + "]", json.dumps({f"f{i}": 1e39 for i in range(6)})]
    result = subprocess.run([*RUNTIME, "predict", logistic_c], input="\n".join(lines) + "\n", capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "2 of 3 lines were refused" in result.stderr, result.stderr
    answers = [_strict_json(line) for line in result.stdout.splitlines()]
    assert answers[0]["label"] == "0" and set(answers[1]) == set(answers[2]) == {"error"}
    assert "NaN or infinite" in answers[1]["error"]


def test_rest_refuses_a_nan_output_with_422_naming_the_row(logistic_c):
    process = subprocess.Popen([*RUNTIME, "serve", logistic_c, "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        host, port = line.rsplit("http://", 1)[1].strip().split(":")
        body = ('{"rows": [[0, 0, 0, 0, 9, 6], [' + ", ".join(NAN_ROW) + "]]}").encode()
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        status, document = response.status, _strict_json(response.read().decode())
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert status == 422 and "row 1:" in document["error"] and "nothing was returned" in document["error"], document
    assert document["rows"] == [{"index": 1, "error": document["rows"][0]["error"]}] and "NaN" in document["rows"][0]["error"]


def test_python_predict_raises_for_a_nan_output_naming_the_row(logistic_c):
    from edgekit_runtime.errors import NonFiniteOutput

    model = load(logistic_c)
    rows = np.array([[0, 0, 0, 0, 9, 6], [np.inf] * 6, [0.1, 0, 0, 0, 9, 6]], dtype=np.float32)
    with pytest.raises(NonFiniteOutput, match="1 of 3 rows have no finite output .* row 1") as raised:
        model.predict(rows)
    assert raised.value.rows == [1] and np.isfinite(raised.value.outputs[[0, 2]]).all()
    with pytest.raises(NonFiniteOutput, match="row 0"):
        model.predict(rows[1])  # the single-row path too
