"""The local run registry and the reporting commands, through the CLI."""

import json

import pytest

from edgekit.registry import RunRegistry


def test_runs_lists_each_training_with_increasing_versions(cli, tmp_path):
    for out in ("a", "b"):
        assert cli("train", "bundled:wine", "--model", "logistic", "--out", tmp_path / out).exit_code == 0
    assert cli("train", "bundled:diabetes", "--model", "linear", "--name", "sugar", "--out", tmp_path / "c").exit_code == 0
    rows = json.loads(cli("runs", "--json").stdout)
    assert [(r["name"], r["version"]) for r in rows] == [("wine", 1), ("wine", 2), ("sugar", 1)]
    assert rows[2]["metrics"]["test"]["rmse"] > 0 and rows[0]["bundle_path"].endswith("/a")
    assert [r["name"] for r in json.loads(cli("runs", "--name", "sugar", "--json").stdout)] == ["sugar"]
    table = cli("runs").stdout
    assert "wine" in table and "sugar" in table and "rmse " in table and str(tmp_path / "c") in table


def test_runs_with_no_history_says_how_to_start(cli):
    assert "no runs yet" in cli("runs").stdout


def test_a_failed_write_records_no_version(tmp_path):
    registry = RunRegistry(tmp_path / "r.sqlite")

    def explode(version):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        registry.register("m", explode, lambda made: {})
    assert registry.runs() == []


def test_a_corrupt_registry_file_is_a_clear_error(cli, edgekit_home):
    edgekit_home.mkdir(parents=True)
    (edgekit_home / "registry.sqlite").write_bytes(b"this is not sqlite" * 100)
    result = cli("runs")
    assert result.exit_code == 2 and "run registry is unusable" in result.stderr


def test_edgekit_home_that_is_a_file_is_a_clear_error(cli, tmp_path, monkeypatch):
    (tmp_path / "home-file").write_text("x")
    monkeypatch.setenv("EDGEKIT_HOME", str(tmp_path / "home-file"))
    result = cli("runs")
    assert result.exit_code == 2 and "is not a writable directory" in result.stderr


def test_bundle_show_and_verify_report_as_json(cli, trained_bundle):
    shown = json.loads(cli("bundle", "show", trained_bundle, "--json").stdout)
    assert shown["family"] == "xgboost" and len(shown["feature_names"]) == 30
    verified = json.loads(cli("bundle", "verify", trained_bundle, "--json").stdout)
    assert verified["ok"] and verified["reference_max_abs_diff"] == 0.0
    human = cli("bundle", "show", trained_bundle).stdout
    assert "content hash" in human and "model.ubj" in human


def test_version_flag(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("edgekit ")
