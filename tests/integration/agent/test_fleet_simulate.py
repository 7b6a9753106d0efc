"""edgekit fleet simulate against a real server: a 1 000-device fleet completes a 100 % rollout,
a 10 % stage reaches about a tenth of it, and a broken release is refused by every device."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest
from tests_support import broken_copy, edgekit_script, pi4_onnx, served_home

MODEL = "bc"


@pytest.fixture(scope="module")
def server(trained_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    good = pi4_onnx(trained_bundle, root, "good-0", "good-1")
    with served_home(root / "home", {"EDGEKIT_IP_RATE_PER_SECOND": "20000", "EDGEKIT_IP_BURST": "20000"}) as (url, key):
        env = {**os.environ, "EDGEKIT_ADMIN_KEY": key}
        for artifact in [*good, broken_copy(good[0], root / "broken")]:  # releases 1, 2, 3 (broken)
            subprocess.run([edgekit_script(), "publish", str(artifact), "--server", url, "--model", MODEL], check=True,
                           capture_output=True, env=env)
        yield {"url": url, "env": env, "admin": httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)}


def simulate(server, devices: int) -> dict:
    result = subprocess.run([edgekit_script(), "fleet", "simulate", "--server", server["url"], "--devices", str(devices),
                             "--profile", "raspberry-pi-4b", "--model", MODEL, "--poll-seconds", "0.5", "--until-converged",
                             "--seconds", "120", "--json"], capture_output=True, text=True, env=server["env"], timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    progress = result.stderr.splitlines()  # --json: the document on stdout, each change of the fleet a line on stderr
    assert progress and all(line.startswith(f"simulating {devices} devices") for line in progress), result.stderr
    return json.loads(result.stdout)


def test_a_1000_device_fleet_completes_a_100_percent_rollout_and_a_10_percent_stage(server):
    admin = server["admin"]
    assert admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]}).status_code == 201
    full = simulate(server, 1000)
    assert full["converged"] and full["installed"] == {f"{MODEL}/1/onnx.tar": 1000}
    assert full["server_requests"] >= 3000 and full["seconds"] < 120  # enroll, poll, download, report per device
    canary = admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 2, "stages": [10, 100]}).json()
    staged = simulate(server, 1000)
    share = staged["installed"].get(f"{MODEL}/2/onnx.tar", 0) / 1000
    assert 0.07 < share < 0.13 and staged["installed"][f"{MODEL}/1/onnx.tar"] == 1000 - share * 1000
    assert admin.post(f"/v1/admin/rollouts/{canary['id']}/promote").json()["state"] == "complete"


def test_a_broken_release_is_refused_by_every_device_which_stays_on_its_model(server):
    admin = server["admin"]
    admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]})
    rollout = admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 3, "stages": [100]})
    assert rollout.status_code == 201, rollout.text
    run = simulate(server, 50)
    assert run["failed"] == {f"{MODEL}/3/onnx.tar": 50} and f"{MODEL}/3/onnx.tar" not in run["installed"]
    assert sum(run["installed"].values()) == 50 and run["converged"]
    admin.post(f"/v1/admin/rollouts/{rollout.json()['id']}/rollback")


def test_fed_devices_report_telemetry_and_a_feed_without_the_features_is_refused(server):
    admin = server["admin"]
    admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]})
    command = [edgekit_script(), "fleet", "simulate", "--server", server["url"], "--devices", "5", "--profile", "raspberry-pi-4b",
               "--model", MODEL, "--poll-seconds", "0.5", "--seconds", "3", "--json"]
    fed = subprocess.run([*command, "--feed", "bundled:breast-cancer"], capture_output=True, text=True, env=server["env"],
                         timeout=300, check=False)
    assert fed.returncode == 0, fed.stderr
    assert admin.post("/v1/admin/monitor/run").status_code == 200
    running = set(json.loads(fed.stdout)["installed"])  # the release earlier tests left assigned
    drift = [row for row in admin.get("/v1/admin/drift", params={"model": MODEL}).json() if row["release_path"] in running]
    assert len(drift) == 31 and min(row["rows"] for row in drift) >= 500  # 30 features + predictions, fed the training data
    assert admin.get("/v1/admin/alerts", params={"model": MODEL}).json() == []  # its own training data: no drift
    for feed, fragment in (("synthetic:sensors", "has no column for the model's feature"), ("missing.csv", "missing.csv")):
        refused = subprocess.run([*command, "--feed", feed], capture_output=True, text=True, env=server["env"], timeout=300, check=False)
        assert refused.returncode == 2 and fragment in refused.stderr and "Traceback" not in refused.stderr, refused.stderr


def fleet_size(server) -> int:
    """Every enrolled device, page by page."""
    count, after = 0, None
    while page := server["admin"].get("/v1/admin/devices", params={"limit": 1000, **({"after": after} if after else {})}).json():
        count, after = count + len(page), page[-1]["id"]
    return count


def test_runs_leave_no_devices_behind_and_a_run_ended_by_seconds_says_it_timed_out(server):
    server["admin"].post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]})
    before = fleet_size(server)
    tags = set()
    for _ in range(2):  # two runs in a row: the fleet is the size it was after each
        run = simulate(server, 20)
        assert run["stopped"] == "converged" and run["removed"] == 20 and run["run_tag"].startswith("run:simulated-")
        assert fleet_size(server) == before
        tags.add(run["run_tag"])
    assert len(tags) == 2  # each run its own tag: a run deletes its own devices, never another's
    timed = subprocess.run([edgekit_script(), "fleet", "simulate", "--server", server["url"], "--devices", "5", "--profile",
                            "raspberry-pi-4b", "--model", MODEL, "--poll-seconds", "0.2", "--seconds", "1"],
                           capture_output=True, text=True, env=server["env"], timeout=300, check=False)
    assert timed.returncode == 0, timed.stderr  # the command promises no verdict: --seconds is how long to run
    assert "timed out after" in timed.stdout and "converged" not in timed.stdout and "5 deleted" in timed.stdout, timed.stdout
    assert fleet_size(server) == before
    kept = subprocess.run([edgekit_script(), "fleet", "simulate", "--server", server["url"], "--devices", "3", "--profile",
                           "raspberry-pi-4b", "--model", MODEL, "--seconds", "0.5", "--keep-devices", "--json"],
                          capture_output=True, text=True, env=server["env"], timeout=300, check=False)
    assert kept.returncode == 0, kept.stderr
    result = json.loads(kept.stdout)
    assert result["stopped"] == "timed out" and result["removed"] is None and fleet_size(server) == before + 3
    deleted = server["admin"].delete("/v1/admin/devices", params={"tag": result["run_tag"]}).json()
    assert deleted["deleted"] == 3 and fleet_size(server) == before
