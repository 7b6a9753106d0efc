"""edgekit pipeline run|watch through the real CLI against a real server: a run ships a gated
rollout, a failed quality gate ships nothing, bad pipeline files are one-line errors, and the
watcher retrains on fresh data (from a command) after a drift alert, once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from tests_support import edgekit_script, served_home

from edgekit.fleet.client import AdminClient
from edgekit.fleet.sim_telemetry import SensorFeed
from edgekit.fleet.simulate import FleetSimulator

PROFILE = "x86-64-gateway-n100"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served_home(tmp_path_factory.mktemp("pipeline") / "srv", {"EDGEKIT_MONITOR_SECONDS": "3600"}) as (url, admin_key):
        client = AdminClient(url, admin_key)
        yield url, client, admin_key
        client.close()


def _pipeline(path: Path, url: str, **changes) -> Path:
    config = {"model": "pipe", "data": "synthetic:sensors?rows=2000&seed=0", "label": "failure", "devices": [PROFILE],
              "min_metrics": {"roc_auc": 0.8}, "server": url, "workdir": "runs",
              "rollout": {"stages": [20, 100], "gates": {"failure_rate": 0.05, "prediction_psi": 0.25}}, **changes}
    path.write_text(yaml.safe_dump(config))
    return path


def _edgekit(admin_key: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([edgekit_script(), *map(str, args)], capture_output=True, text=True, check=False,
                          env={**os.environ, "EDGEKIT_ADMIN_KEY": admin_key}, timeout=600)


def _one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    error = result.stderr.strip()
    assert "\n" not in error and "Traceback" not in error and all(fragment in error for fragment in fragments), error


def test_a_run_ships_a_gated_rollout_and_a_failed_quality_gate_ships_nothing(server, tmp_path):
    url, admin, admin_key = server
    done = _edgekit(admin_key, "pipeline", "run", _pipeline(tmp_path / "pipeline.yaml", url), "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert [step["name"] for step in run["steps"]] == [
        "train", "quality gate", f"compile for {PROFILE}", f"check on {PROFILE}", f"bench for {PROFILE}",
        f"publish for {PROFILE}", "rollout of release 1"]
    assert run["ok"] and Path(run["directory"], "run.json").is_file() and Path(run["directory"]).parent == tmp_path / "runs"
    status = admin.request("GET", f"/v1/admin/rollouts/{run['rollouts'][0]['id']}")
    assert status["state"] == "active" and status["percent"] == 20 and status["profiles"] == [PROFILE]
    assert status["gates"]["spec"]["prediction_psi"] == 0.25 and status["gates"]["spec"]["failure_rate"] == 0.05

    strict = _pipeline(tmp_path / "strict.yaml", url, min_metrics={"roc_auc": 0.999})
    refused = _edgekit(admin_key, "pipeline", "run", strict)
    _one_line_error(refused, 1, "stopped at 'quality gate'", "roc_auc")
    assert [release["version"] for release in admin.request("GET", "/v1/admin/releases", params={"model": "pipe"})] == [1]


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"no_such_key": 1}, "no_such_key"),
    ({"devices": ["no-such-board"]}, "no-such-board"),
    ({"devices": []}, "devices"),
    ({"model": "Bad Name"}, "model"),
    ({"watch": {"fresh_data": "x.csv", "fresh_command": "make-data {out}"}}, "exactly one"),
    ({"watch": {"fresh_command": "make-data"}}, "{out}"),
    ({"rollout": {"gates": {"prediction_psi": -1}}}, "prediction_psi"),
])
def test_bad_pipeline_files_are_one_line_errors(server, tmp_path, changes, fragment):
    url, _, admin_key = server
    result = _edgekit(admin_key, "pipeline", "run", _pipeline(tmp_path / "p.yaml", url, **changes))
    _one_line_error(result, 2, fragment)
    assert not (tmp_path / "runs").exists()


def test_unreadable_pipeline_files_are_one_line_errors(server, tmp_path):
    _, _, admin_key = server
    _one_line_error(_edgekit(admin_key, "pipeline", "run", tmp_path / "missing.yaml"), 2, "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    _one_line_error(_edgekit(admin_key, "pipeline", "run", tmp_path / "list.yaml"), 2, "mapping")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    _one_line_error(_edgekit(admin_key, "pipeline", "run", tmp_path / "broken.yaml"), 2, "cannot read")


def test_watch_retrains_on_fresh_data_after_a_drift_alert_once(server, tmp_path):
    url, admin, admin_key = server
    writer = tmp_path / "export.py"  # the user's export command: labelled readings since the plant changed
    writer.write_text("import sys\nfrom edgekit.data.synthetic import generate_sensors, parse_knobs\n"
                      "generate_sensors(parse_knobs('rows=2000&seed=9&offset=8&regime=0.4')).to_csv(sys.argv[1], index=False)\n")
    path = _pipeline(tmp_path / "watch.yaml", url, model="watched", rollout={"stages": [100]},
                     watch={"fresh_command": f"{sys.executable} {writer} {{out}}", "min_interval_seconds": 3600, "poll_seconds": 0.5})
    first = _edgekit(admin_key, "pipeline", "run", path)
    assert first.returncode == 0, first.stderr
    quiet = _edgekit(admin_key, "pipeline", "watch", path, "--once", "--max-seconds", "1")
    assert quiet.returncode == 0 and "no drift alert needed a run" in quiet.stdout

    _drift(url, admin, "watched")
    watched = _edgekit(admin_key, "pipeline", "watch", path, "--once", "--max-seconds", "30", "--json")
    assert watched.returncode == 0, watched.stderr
    run = json.loads(watched.stdout)
    assert run["ok"] and run["data"].endswith("fresh.csv") and "temperature_c" in watched.stderr
    assert [release["version"] for release in admin.request("GET", "/v1/admin/releases", params={"model": "watched"})] == [1, 2]
    # the same alerts do not retrain again, and the interval holds back the next run
    again = _edgekit(admin_key, "pipeline", "watch", path, "--once", "--max-seconds", "1")
    assert again.returncode == 0 and "no drift alert needed a run" in again.stdout
    state = json.loads((tmp_path / "runs" / "watch-state.json").read_text())
    assert state["server"] == url and state["seen"]


def test_a_failing_fresh_command_is_reported_ships_nothing_and_is_retried(server, tmp_path):
    url, admin, admin_key = server
    path = _pipeline(tmp_path / "watch.yaml", url, model="exported", rollout={"stages": [100]},
                     watch={"fresh_command": f"{sys.executable} -c 'raise SystemExit(\"export failed\")' {{out}}",
                            "min_interval_seconds": 0, "poll_seconds": 0.5})
    assert _edgekit(admin_key, "pipeline", "run", path).returncode == 0
    _drift(url, admin, "exported")
    result = _edgekit(admin_key, "pipeline", "watch", path, "--once", "--max-seconds", "5")
    _one_line_error(result, 1, "fresh_command exited 1", "export failed")
    assert len(admin.request("GET", "/v1/admin/releases", params={"model": "exported"})) == 1
    assert not (tmp_path / "runs" / "watch-state.json").exists()  # the alerts stay new: the next watch tries again


def _drift(url: str, admin: AdminClient, model: str) -> None:
    """Eight devices of ``model`` whose plant drifted report telemetry; a monitor pass raises alerts."""
    async def fleet() -> None:
        token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": 8, "profile": PROFILE})["token"]
        feeds = {"*": SensorFeed("synthetic:sensors?seed=3&offset=8&regime=0.4")}
        simulator = FleetSimulator(url, model, PROFILE, [], poll_seconds=0.2, feeds=feeds)
        async with httpx.AsyncClient(timeout=30) as client:
            await simulator.enroll(client, 8, token)
            await simulator.run(client, 3, until_converged=False)
        simulator.close()

    asyncio.run(fleet())
    admin.request("POST", "/v1/admin/monitor/run")
    assert admin.request("GET", "/v1/admin/alerts", params={"model": model})
