"""What people read from the command line at 80 columns: identifiers they type back are never cut,
every command's --help ends with examples, and shell completion is there."""

from __future__ import annotations

import io
import os
import re
import subprocess

import pytest
import typer.main
from rich.console import Console
from tests_support import edgekit_script

from edgekit.cli import app
from edgekit.commands.drift import print_drift_table
from edgekit.devices import profile_ids
from edgekit.reporting import print_runs

FEATURES = ("worst_fractal_dimension", "mean_concave_points", "radius_error")


def render(show, *args) -> str:
    console = Console(file=io.StringIO(), width=80, highlight=False, soft_wrap=True)
    show(console, *args)
    return console.file.getvalue()


def lines_holding(text: str, *identifiers: str) -> list[str]:
    """The identifiers missing from ``text`` as whole words on one line (an empty list when all are there)."""
    words = {word.strip(",;:()") for line in text.splitlines() for word in line.split()}
    return [identifier for identifier in identifiers if identifier not in words]


def test_devices_list_shows_every_profile_id_whole_at_80_columns():
    shown = subprocess.run([edgekit_script(), "devices", "list"], capture_output=True, text=True, check=True,
                           env={**os.environ, "COLUMNS": "80"}).stdout
    assert lines_holding(shown, *profile_ids()) == []
    assert max(len(line) for line in shown.splitlines()) <= 80, shown


def drift_row(model: str, profile: str, feature: str, cohort: str = "*") -> dict:
    return {"model": model, "release": 12, "profile": profile, "cohort": cohort, "feature": feature, "rows": 23_968,
            "psi": 0.31, "ks": 0.2, "violation_rate": 0.05}


def test_drift_status_keeps_models_profiles_and_features_whole():
    # one model on one profile: they move into the title and the table fits 80 columns
    one = [drift_row("breast-cancer-xgboost", "raspberry-pi-4b", feature, cohort) for feature in FEATURES
           for cohort in ("*", "site-a")]
    shown = render(print_drift_table, one)
    assert lines_holding(shown, "breast-cancer-xgboost", "raspberry-pi-4b", "site-a", *FEATURES) == []
    assert "23,968" in shown and max(len(line) for line in shown.splitlines()) <= 80, shown
    # several of each: every column stays, wider than 80 rather than cut
    many = [drift_row(model, profile, feature) for model in ("breast-cancer-xgboost", "sensors-lightgbm")
            for profile in ("android-midrange-arm64", "raspberry-pi-4b") for feature in FEATURES]
    shown = render(print_drift_table, many)
    assert lines_holding(shown, "breast-cancer-xgboost", "sensors-lightgbm", "android-midrange-arm64", *FEATURES) == []
    assert "…" not in shown


def test_runs_keep_names_metrics_and_bundle_paths_whole():
    rows = [{"name": f"breast-cancer-xgboost-{index}", "version": 3, "family": "xgboost", "created": "2026-12-02T11:01:00",
             "task": "classification", "metrics": {"test": {"accuracy": 0.9649, "roc_auc": 0.9934}},
             "bundle_path": f"/srv/edgekit/experiments/2026-12/breast-cancer-xgboost-{index}"} for index in range(3)]
    shown = render(print_runs, rows)
    assert lines_holding(shown, *(row["name"] for row in rows), *(row["bundle_path"] for row in rows), "0.965", "0.993") == []
    assert "…" not in shown


def leaf_commands(command=None, path=()):
    command = command or typer.main.get_command(app)
    children = getattr(command, "commands", None)
    if not children:
        yield path
        return
    for name, child in children.items():
        yield from leaf_commands(child, (*path, name))


LEAVES = list(leaf_commands())


def test_the_command_tree_is_walked():
    assert {("devices", "list"), ("rollout", "status"), ("server", "api-key", "create"), ("quickstart",)} <= set(LEAVES)


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_help_ends_with_examples(cli, path):
    shown = cli(*path, "--help")
    assert shown.exit_code == 0, shown.output
    after = shown.output.split("Examples:", 1)
    assert len(after) == 2, f"edgekit {' '.join(path)} --help has no Examples: section"
    examples = [line.strip() for line in after[1].splitlines() if line.strip()]
    # each example on its own line, starting with the command it is an example of
    assert examples and all(line.startswith(("edgekit ", "EDGEKIT_")) for line in examples), examples
    assert any(line.startswith(f"edgekit {' '.join(path)}") for line in examples), examples


def test_quickstart_help_tells_what_it_does_now(cli):
    shown = " ".join(cli("quickstart", "--help").output.split())
    for step in ("compiles", "benchmarks", "update server", "simulated", "drifting", "retrains"):
        assert step in shown


def test_server_options_read_edgekit_server_and_say_so(cli):
    shown = " ".join(cli("rollout", "status", "--help").output.split())
    assert "EDGEKIT_SERVER" in shown
    # with the variable set, --server is not asked for: the command goes on to reach the server
    unreachable = subprocess.run([edgekit_script(), "rollout", "status"], capture_output=True, text=True, check=False,
                                 env={**os.environ, "EDGEKIT_SERVER": "http://127.0.0.1:9", "EDGEKIT_ADMIN_KEY": "k"})
    assert "--server" not in unreachable.stderr and "127.0.0.1:9" in unreachable.stderr, unreachable.stderr


def test_shell_completion_prints_a_script():
    shown = subprocess.run([edgekit_script(), "--show-completion", "bash"], capture_output=True, text=True, check=True)
    assert "_EDGEKIT_COMPLETE=complete_bash" in shown.stdout and "complete " in shown.stdout
    help_text = subprocess.run([edgekit_script(), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--install-completion" in help_text


def test_bench_and_check_tables_keep_device_ids_whole(cli, trained_bundle, tmp_path):
    artifact = tmp_path / "onnx"
    assert cli("compile", trained_bundle, "--target", "onnx", "--device", "raspberry-pi-4b", "--out", artifact).exit_code == 0
    devices = ("android-midrange-arm64", "x86-64-gateway-n100", "raspberry-pi-zero-2w")
    bench = cli("bench", artifact, *(f"--device={device}" for device in devices), "--runs", "10")
    assert bench.exit_code == 0, bench.output
    assert lines_holding(bench.stdout, *devices) == [] and "…" not in bench.stdout
    assert re.search(r"\(onnx, onnxruntime, [0-9.]+ KiB\)", bench.stdout), bench.stdout
    matrix = cli("check", artifact, "--all")
    assert lines_holding(matrix.stdout, *profile_ids()) == [] and "…" not in matrix.stdout
    shown = cli("artifact", "show", artifact)
    assert "written to" not in shown.stdout and "compiled " in shown.stdout


def test_bundle_show_prints_no_python_dicts_or_lists(cli, trained_bundle):
    shown = cli("bundle", "show", trained_bundle)
    assert shown.exit_code == 0, shown.output
    assert not {"{", "[", "]"} & set(shown.stdout), shown.stdout
    assert "classes 0, 1" in shown.stdout and "split train " in shown.stdout and re.search(r"model\.ubj +[0-9.]+ KiB", shown.stdout)
