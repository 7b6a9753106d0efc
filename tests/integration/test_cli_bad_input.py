"""Every bad input of `edgekit train` gets exit code 2 and one line naming the file, column or row."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _good_frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "label": [0, 1] * (rows // 2)})


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_file(cli, tmp_path):
    _assert_one_line_error(cli("train", tmp_path / "nope.csv", "--out", tmp_path / "b"), "nope.csv: no such file")


def test_empty_file(cli, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    _assert_one_line_error(cli("train", tmp_path / "empty.csv", "--out", tmp_path / "b"), "empty.csv: file is empty")


def test_header_only_file(cli, tmp_path):
    (tmp_path / "header.csv").write_text("a,b,label\n")
    _assert_one_line_error(cli("train", tmp_path / "header.csv", "--out", tmp_path / "b"), "header but no data rows")


def test_unreadable_encoding(cli, tmp_path):
    (tmp_path / "latin.csv").write_bytes("temp,label\n1,caf\xe9\n".encode("latin-1"))
    _assert_one_line_error(cli("train", tmp_path / "latin.csv", "--out", tmp_path / "b"), "latin.csv: not UTF-8 text", "line 2")


def test_label_column_missing(cli, tmp_path):
    data = _write_csv(tmp_path / "d.csv", _good_frame())
    _assert_one_line_error(cli("train", data, "--label", "outcome", "--out", tmp_path / "b"), "label column 'outcome' not found", "a, b, label")


def test_label_with_nan(cli, tmp_path):
    frame = _good_frame().astype({"label": "float64"})
    frame.loc[7, "label"] = np.nan
    data = _write_csv(tmp_path / "d.csv", frame)
    _assert_one_line_error(cli("train", data, "--out", tmp_path / "b"), "label 'label' is empty at data row 8")


def test_single_class(cli, tmp_path):
    data = _write_csv(tmp_path / "d.csv", _good_frame().assign(label=1))
    _assert_one_line_error(cli("train", data, "--task", "classification", "--out", tmp_path / "b"), "single class")


def test_fewer_rows_than_the_split_needs(cli, tmp_path):
    data = _write_csv(tmp_path / "d.csv", _good_frame(10))
    _assert_one_line_error(cli("train", data, "--out", tmp_path / "b"), "has 10 rows", "needs at least 20")


def test_duplicate_column_names(cli, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,a,label\n" + "1,2,3,0\n" * 30)
    _assert_one_line_error(cli("train", tmp_path / "d.csv", "--out", tmp_path / "b"), "duplicate column names 'a'")


def test_duplicate_column_names_in_parquet(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([1.0] * 30), pa.array([2.0] * 30), pa.array([0, 1] * 15)], names=["a", "a", "label"])
    pq.write_table(table, tmp_path / "d.parquet")
    _assert_one_line_error(cli("train", tmp_path / "d.parquet", "--out", tmp_path / "b"), "duplicate column names 'a'")


def test_non_numeric_column_that_is_not_categorical(cli, tmp_path):
    frame = _good_frame().assign(notes=[f"free text {i}" for i in range(60)])
    data = _write_csv(tmp_path / "d.csv", frame)
    _assert_one_line_error(cli("train", data, "--out", tmp_path / "b"), "column 'notes' is text with 60 distinct values")


def test_unknown_model_family(cli, tmp_path):
    _assert_one_line_error(
        cli("train", "bundled:wine", "--model", "catboost", "--out", tmp_path / "b"),
        "unknown model family 'catboost'", "random-forest", "xgboost",
    )


def test_unknown_bundled_dataset(cli, tmp_path):
    _assert_one_line_error(
        cli("train", "bundled:iris", "--out", tmp_path / "b"),
        "unknown bundled dataset 'iris'", "breast-cancer, diabetes, digits, wine",
    )


def test_out_pointing_at_a_user_directory_is_refused_and_left_untouched(cli, tmp_path):
    mine = tmp_path / "my-documents"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    _assert_one_line_error(cli("train", "bundled:wine", "--out", mine), "is not an edgekit bundle")
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]
    assert (mine / "thesis.txt").read_text() == "years of work"


def test_out_pointing_at_a_file_is_refused(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    _assert_one_line_error(cli("train", "bundled:wine", "--out", tmp_path / "file"), "exists and is not a directory")


def test_negative_tune_and_bad_name_are_refused(cli, tmp_path):
    _assert_one_line_error(cli("train", "bundled:wine", "--tune", "-1", "--out", tmp_path / "b"), "--tune -1")
    _assert_one_line_error(cli("train", "bundled:wine", "--name", "Bad Name", "--out", tmp_path / "b"), "bundle name 'Bad Name'")


def test_family_that_cannot_do_the_task(cli, tmp_path):
    _assert_one_line_error(cli("train", "bundled:diabetes", "--model", "logistic", "--out", tmp_path / "b"), "does not do regression")


def test_binary_file_passed_as_csv(cli, tmp_path):
    (tmp_path / "d.csv").write_bytes(b"a,b\n\x00\x01\x02\n")
    _assert_one_line_error(cli("train", tmp_path / "d.csv", "--out", tmp_path / "b"), "NUL bytes")


def test_unknown_synthetic_knob(cli, tmp_path):
    _assert_one_line_error(cli("train", "synthetic:sensors?speed=9", "--out", tmp_path / "b"), "knob 'speed'")


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("--debug", "train", tmp_path / "nope.csv", "--out", tmp_path / "b")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "no such file" in result.stderr


@pytest.mark.parametrize("args", [["train"], ["train", "bundled:wine"], ["bundle", "show"], ["nonsense"]])
def test_usage_errors_exit_2(cli, args):
    assert cli(*args).exit_code == 2
