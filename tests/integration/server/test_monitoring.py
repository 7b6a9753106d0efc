"""Fleet monitoring end to end: a real server process, simulated devices predicting sensor data with
the real runtime and reporting telemetry, monitor passes run on demand.

Drift: a cohort whose temperature sensor reads high and whose machines run a new heavy-load regime
raises alerts on exactly the moved features, the others and the undrifted cohorts none, and the
webhook receives them signed. Gates: a canary whose predictions shift, whose latency regresses or
whose build fails its smoke test is rolled back by the monitor, with the reason recorded; a healthy
canary is promoted to 100 %.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from edgekit_runtime.archive import pack
from tests_support import broken_copy, edgekit_script, served_home

from edgekit.compile import compile_bundle
from edgekit.data.synthetic import LABEL, generate_sensors, parse_knobs
from edgekit.fleet.client import AdminClient
from edgekit.fleet.sim_telemetry import SensorFeed
from edgekit.fleet.simulate import FleetSimulator
from edgekit.training import train_bundle

PROFILE = "raspberry-pi-4b"
MOVED = {"temperature_c", "load_pct", "current_a", "rpm", "(predictions)"}  # what offset + regime can move
WEBHOOK_SECRET = "whsec-test-0123456789"


class Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.posts.append((body, self.headers.get("X-Edgekit-Signature", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, webhook):
    env = {"EDGEKIT_MONITOR_SECONDS": "3600", "EDGEKIT_WEBHOOK_URL": webhook, "EDGEKIT_WEBHOOK_SECRET": WEBHOOK_SECRET}
    with served_home(tmp_path_factory.mktemp("monitoring") / "srv", env) as (url, admin_key):
        client = AdminClient(url, admin_key)
        yield url, client, admin_key
        client.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """base: the model in the field; retrained: the same kind of model on fresh data (healthy);
    flipped: trained on inverted labels (its predictions shift); slow: 15x the trees (latency)."""
    work = tmp_path_factory.mktemp("models")
    flipped_data = generate_sensors(parse_knobs("rows=3000&seed=0"))
    flipped_data[LABEL] = 1 - flipped_data[LABEL]
    flipped_data.to_csv(work / "flipped.csv", index=False)
    recipes = {"base": ("synthetic:sensors?rows=3000&seed=0", None),
               "retrained": ("synthetic:sensors?rows=3000&seed=5", None),
               "flipped": (str(work / "flipped.csv"), None),
               "slow": ("synthetic:sensors?rows=3000&seed=0", {"n_estimators": "1500", "max_depth": "10", "learning_rate": "0.02"})}
    built = {}
    for name, (data, params) in recipes.items():
        bundle = train_bundle(data, work / f"{name}-bundle", label=LABEL, name=name, params=params)
        built[name] = compile_bundle(bundle, "onnx", work / f"{name}-onnx").path
    built["broken"] = broken_copy(built["base"], work / "broken-onnx")
    return built


def _publish(admin: AdminClient, model: str, artifact) -> dict:
    upload = admin.upload(pack(artifact))
    return admin.request("POST", "/v1/admin/releases", json={"model": model, "upload": upload["sha256"], "profiles": [PROFILE]})


async def _fleet(url: str, admin: AdminClient, model: str, feeds: dict[str, SensorFeed], per_feed: int, steps) -> FleetSimulator:
    """Enroll ``per_feed`` devices per feed tag, then for each step: call it (it may change rollouts),
    run fleet rounds for its seconds, run a monitor pass; a step returning True ends the run."""
    token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": per_feed * len(feeds), "profile": PROFILE})["token"]
    simulator = FleetSimulator(url, model, PROFILE, [], poll_seconds=0.2, feeds=feeds, telemetry_rows=100, timed_calls=40)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for tag in feeds:
                await simulator.enroll(client, per_feed, token, tags=[tag])
            for seconds, step in steps:
                if step is not None and await asyncio.to_thread(step):
                    break
                await simulator.run(client, seconds, until_converged=False)
                await asyncio.to_thread(admin.request, "POST", "/v1/admin/monitor/run")
    finally:
        simulator.close()
    return simulator


def test_a_drifted_cohort_alarms_on_its_moved_features_only(server, artifacts):
    url, admin, admin_key = server
    release = _publish(admin, "drift-watch", artifacts["base"])
    admin.request("POST", "/v1/admin/rollouts", json={"model": "drift-watch", "release": release["version"], "stages": [100]})
    feeds = {"site-a": SensorFeed("synthetic:sensors?seed=11"), "site-b": SensorFeed("synthetic:sensors?seed=12&offset=8&regime=0.4"),
             "site-c": SensorFeed("synthetic:sensors?seed=13"), "site-d": SensorFeed("synthetic:sensors?seed=14")}
    Receiver.posts.clear()
    asyncio.run(_fleet(url, admin, "drift-watch", feeds, 4, [(3.0, None), (1.0, None)]))

    alerts = admin.request("GET", "/v1/admin/alerts", params={"model": "drift-watch"})
    by_cohort: dict[str, set[str]] = {}
    for alert in alerts:
        by_cohort.setdefault(alert["cohort"], set()).add(alert["feature"])
    assert {"temperature_c", "load_pct", "current_a"} <= by_cohort["site-b"] <= MOVED, by_cohort
    assert not by_cohort.keys() & {"site-a", "site-c", "site-d"}, by_cohort
    assert by_cohort.get("*", set()) <= MOVED
    drift = admin.request("GET", "/v1/admin/drift", params={"model": "drift-watch"})
    undrifted = [row for row in drift if row["cohort"] in ("site-a", "site-c", "site-d")]
    assert len(undrifted) == 3 * 13 and max(row["psi"] for row in undrifted) < 0.1  # 12 features + predictions each

    # one open alert per finding: a second pass updates, it does not duplicate
    admin.request("POST", "/v1/admin/monitor/run")
    assert len(admin.request("GET", "/v1/admin/alerts", params={"model": "drift-watch"})) == len(alerts)

    # the webhook got the new alerts once, signed with the shared secret
    posted = [alert for body, _ in Receiver.posts for alert in json.loads(body)["alerts"]]
    assert sorted(alert["id"] for alert in posted) == sorted(alert["id"] for alert in alerts)
    for body, signature in Receiver.posts:
        assert signature == "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()

    # the CLI: exit 1 while an alert is open, the alerts in its JSON
    shown = subprocess.run([edgekit_script(), "drift", "status", "--server", url, "--model", "drift-watch", "--json"],
                           capture_output=True, text=True, env={**os.environ, "EDGEKIT_ADMIN_KEY": admin_key})
    assert shown.returncode == 1, shown.stderr
    assert {alert["feature"] for alert in json.loads(shown.stdout)["alerts"]} == {alert["feature"] for alert in alerts}
    text = subprocess.run([edgekit_script(), "drift", "status", "--server", url, "--model", "nothing-here"],
                          capture_output=True, text=True, env={**os.environ, "EDGEKIT_ADMIN_KEY": admin_key})
    assert text.returncode == 0 and "no open drift alerts" in text.stdout


def _gated_canary(server, artifacts, model: str, candidate: str, gates: dict) -> dict:
    """``base`` at 100 % on 16 devices, then ``candidate`` at 50 % with ``gates``; the monitor judges
    it after each round of telemetry. Returns the rollout's final status."""
    url, admin, _ = server
    base = _publish(admin, model, artifacts["base"])
    admin.request("POST", "/v1/admin/rollouts", json={"model": model, "release": base["version"], "stages": [100]})
    canary: dict = {}

    def start_canary() -> bool:
        release = _publish(admin, model, artifacts[candidate])
        canary.update(admin.request("POST", "/v1/admin/rollouts", json={
            "model": model, "release": release["version"], "stages": [50, 100],
            "gates": {"hold_seconds": 0, "min_devices": 2, "min_rows": 300, "min_calls": 200, **gates}}))
        return False

    def decided() -> bool:
        return admin.request("GET", f"/v1/admin/rollouts/{canary['id']}")["state"] != "active"

    feeds = {"*": SensorFeed("synthetic:sensors?seed=21")}
    asyncio.run(_fleet(url, admin, model, feeds, 16, [(1.5, None), (0.5, start_canary)] + [(1.0, decided)] * 25))
    return admin.request("GET", f"/v1/admin/rollouts/{canary['id']}")


ALL_GATES = {"failure_rate": 0.05, "prediction_psi": 0.2, "p99_latency_ratio": 2.0}


def test_a_canary_whose_predictions_shift_is_rolled_back(server, artifacts):
    status = _gated_canary(server, artifacts, "gate-shift", "flipped", ALL_GATES)
    assert status["state"] == "rolled_back", status["gates"]
    assert status["history"][-1]["by"] == "monitor" and "prediction_psi" in status["history"][-1]["reason"]
    assert status["gates"]["last"]["verdict"] == "fail"


def test_a_canary_whose_latency_regresses_is_rolled_back(server, artifacts):
    status = _gated_canary(server, artifacts, "gate-latency", "slow", {"p99_latency_ratio": 2.0})
    assert status["state"] == "rolled_back", status["gates"]
    assert "p99_latency_ratio" in status["history"][-1]["reason"]


def test_a_canary_that_fails_its_smoke_test_is_rolled_back(server, artifacts):
    status = _gated_canary(server, artifacts, "gate-broken", "broken", {"failure_rate": 0.05, "on_fail": "pause"})
    assert status["state"] == "paused", status["gates"]
    assert "failure_rate" in status["history"][-1]["reason"]


def test_a_healthy_canary_is_promoted_to_everyone(server, artifacts):
    # The latency gate at 4x here: the p99 of ~200 single-row calls timed by simulated devices on a
    # loaded 2-core CI machine moved 3.1x between two releases of the same size (80 vs 250 µs, seen
    # twice). A real regression still trips 2x: the slow canary (15x the trees) below.
    status = _gated_canary(server, artifacts, "gate-healthy", "retrained", {**ALL_GATES, "p99_latency_ratio": 4.0})
    assert status["state"] == "complete" and status["percent"] == 100, status["history"][-1]["reason"]
    assert [entry["action"] for entry in status["history"]] == ["start", "promote"]
    assert status["history"][-1]["by"] == "monitor" and status["history"][-1]["reason"] == "every gate passed"
    assert {result["gate"]: result["verdict"] for result in status["gates"]["last"]["gates"]} == dict.fromkeys(ALL_GATES, "pass")


def test_gates_are_checked_when_a_rollout_starts(server, artifacts, tmp_path):
    url, admin, admin_key = server
    _publish(admin, "gate-input", artifacts["base"])
    for gates, fragment, stages in (({"prediction_psi": -1}, "prediction_psi", [10, 100]),
                                    ({"hold_seconds": 5}, "declare at least one gate", [10, 100]),
                                    ({"no_such_gate": 1}, "no_such_gate", [10, 100]),
                                    ({"failure_rate": 0.1}, "first stage below 100", [100])):
        response = httpx.post(f"{url}/v1/admin/rollouts", headers={"Authorization": f"Bearer {admin_key}"},
                              json={"model": "gate-input", "gates": gates, "stages": stages})
        assert response.status_code == 422 and fragment in response.json()["error"], response.text
    assert admin.request("GET", "/v1/admin/rollouts", params={"model": "gate-input"}) == []
    regression = train_bundle("bundled:diabetes", tmp_path / "diabetes", name="diabetes")
    _publish(admin, "gate-regression", compile_bundle(regression, "onnx", tmp_path / "diabetes-onnx").path)
    response = httpx.post(f"{url}/v1/admin/rollouts", headers={"Authorization": f"Bearer {admin_key}"},
                          json={"model": "gate-regression", "stages": [10, 100], "gates": {"prediction_psi": 0.2}})
    assert response.status_code == 422 and "regression" in response.json()["error"]
    assert admin.request("GET", "/v1/admin/rollouts", params={"model": "gate-regression"}) == []
    for gate, fragment in (("psi<=0.2", "unknown gate"), ("prediction_psi=0.2", "prediction_psi<=VALUE"),
                           ("hold_seconds<=3", "hold_seconds=VALUE"), ("failure_rate<=2", "failure_rate")):
        result = subprocess.run([edgekit_script(), "rollout", "start", "--server", url, "--model", "gate-input", "--gate", gate],
                                capture_output=True, text=True, env={**os.environ, "EDGEKIT_ADMIN_KEY": admin_key})
        assert result.returncode == 2 and fragment in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert admin.request("GET", "/v1/admin/rollouts", params={"model": "gate-input"}) == []


def test_bad_telemetry_is_refused_and_changes_nothing(server, artifacts):
    url, admin, _ = server
    release = _publish(admin, "telemetry-input", artifacts["base"])
    admin.request("POST", "/v1/admin/rollouts", json={"model": "telemetry-input", "release": release["version"], "stages": [100]})
    token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": 2, "profile": PROFILE})["token"]
    devices = [httpx.post(f"{url}/v1/devices", json={"enrollment_token": token}).json() for _ in range(2)]
    mine, other = devices
    auth = {"Authorization": f"Bearer {mine['device_token']}"}
    path = release["target_path"]
    assert httpx.put(f"{url}/v1/devices/{mine['device_id']}/status", headers=auth, json={"installed": path}).status_code == 204
    good = {"release": path, "counters": {"rows": 10, "rows_with_violations": 0, "histogram_rows": 10},
            "features": {"voltage_v": {"counts": [1] * 10, "missing": 0}}}
    before = admin.request("GET", "/v1/admin/drift", params={"model": "telemetry-input"})
    cases = [
        ("not json", 422, {"content": b"{", "headers": {**auth, "Content-Type": "application/json"}}),
        ("unknown field", 422, {"json": {**good, "extra": 1}}),
        ("negative count", 422, {"json": {**good, "features": {"voltage_v": {"counts": [-1] * 10}}}}),
        ("more counted than rows", 422, {"json": {**good, "features": {"voltage_v": {"counts": [5] * 10}}}}),
        ("unknown feature", 422, {"json": {**good, "features": {"nope": {"counts": [1]}}}}),
        ("wrong bins", 422, {"json": {**good, "features": {"voltage_v": {"counts": [1, 2]}}}}),
        ("bad latency shape", 422, {"json": {**good, "latency_us": {"buckets": [1, 2], "counts": [1]}}}),
        ("oversized", 413, {"content": b'{"release": "' + b"x" * (70 << 10) + b'"}', "headers": {**auth, "Content-Type": "application/json"}}),
        ("another release", 409, {"json": {**good, "release": "telemetry-input/9/onnx.tar"}}),
    ]
    for name, code, request in cases:
        response = httpx.post(f"{url}/v1/devices/{mine['device_id']}/telemetry", **{"headers": auth, **request})
        assert response.status_code == code, (name, response.text)
    # another device's release: the other device has not installed it; and no device token at all
    other_auth = {"Authorization": f"Bearer {other['device_token']}"}
    assert httpx.post(f"{url}/v1/devices/{other['device_id']}/telemetry", headers=other_auth, json=good).status_code == 409
    assert httpx.post(f"{url}/v1/devices/{mine['device_id']}/telemetry", headers=other_auth, json=good).status_code == 403
    assert httpx.post(f"{url}/v1/devices/{mine['device_id']}/telemetry", json=good).status_code == 401
    assert httpx.post(f"{url}/v1/devices/dev-unknown/telemetry", headers={"Authorization": "Bearer d_nope"}, json=good).status_code == 401
    admin.request("POST", "/v1/admin/monitor/run")
    assert admin.request("GET", "/v1/admin/drift", params={"model": "telemetry-input"}) == before == []
    # the well-formed report is taken
    assert httpx.post(f"{url}/v1/devices/{mine['device_id']}/telemetry", headers=auth, json=good).status_code == 202
