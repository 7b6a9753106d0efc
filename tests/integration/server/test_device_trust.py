"""What a device may claim: a real server process, devices enrolled over HTTP, forged status reports.

A device names releases in its status (``installed``, ``result.target``): each must be a release
of its own model for its own profile, and a rollout's gates count only the devices its signed rule
assigns the release to — never a single device alone.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from edgekit_runtime.archive import pack
from edgekit_runtime.rollout_rule import bucket
from tests_support import pi4_onnx, served_home

from edgekit.fleet.client import AdminClient
from edgekit.server.db import Device
from edgekit.server.home import init_home, open_home
from edgekit.server.migrate import head, revision

MODEL, PROFILE = "victim", "raspberry-pi-4b"
TARGET = f"{MODEL}/1/onnx.tar"
GATE = {"failure_rate": 0.05, "hold_seconds": 0}


@pytest.fixture(scope="module")
def victim(trained_bundle, tmp_path_factory):
    """Release 1 of ``victim`` for the Pi 4, in a rollout at 10/50/100 gated on failure_rate<=0.05."""
    root = tmp_path_factory.mktemp("trust")
    env = {"EDGEKIT_MONITOR_SECONDS": "3600", "EDGEKIT_IP_RATE_PER_SECOND": "400", "EDGEKIT_IP_BURST": "800"}
    with served_home(root / "home", env) as (url, key):
        admin = AdminClient(url, key)
        upload = admin.upload(pack(pi4_onnx(trained_bundle, root, "a")[0]))
        admin.request("POST", "/v1/admin/releases", json={"model": MODEL, "upload": upload["sha256"], "profiles": [PROFILE]})
        rollout = admin.request("POST", "/v1/admin/rollouts", json={"model": MODEL, "stages": [10, 50, 100], "gates": GATE})
        yield {"url": url, "admin": admin, "rollout": rollout["id"], "salt": _signed_salt(url)}
        admin.close()


def _signed_salt(url: str, target: str = TARGET) -> str:
    """The rollout's salt as devices read it from the signed targets (timestamp -> snapshot -> targets)."""
    timestamp = httpx.get(f"{url}/metadata/timestamp.json").json()["signed"]
    snapshot = httpx.get(f"{url}/metadata/{timestamp['meta']['snapshot.json']['version']}.snapshot.json").json()["signed"]
    targets = httpx.get(f"{url}/metadata/{snapshot['meta']['targets.json']['version']}.targets.json").json()["signed"]
    return targets["targets"][target]["custom"]["edgekit"]["rollout"]["salt"]


def _enroll(world, profile: str = PROFILE, model: str | None = MODEL, tags: tuple[str, ...] = ()) -> dict:
    token = world["admin"].request("POST", "/v1/admin/enrollment-tokens", json={"profile": profile})["token"]
    body = {"enrollment_token": token, "tags": list(tags), **({"model": model} if model else {})}
    response = httpx.post(f"{world['url']}/v1/devices", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def _report(world, device: dict, outcome: str = "failed", installed: str | None = None, target: str = TARGET) -> httpx.Response:
    return httpx.put(f"{world['url']}/v1/devices/{device['device_id']}/status", timeout=10,
                     headers={"Authorization": f"Bearer {device['device_token']}"},
                     json={"installed": installed, "result": {"outcome": outcome, "target": target}})


def _judge(world) -> dict:
    world["admin"].request("POST", "/v1/admin/monitor/run")
    return world["admin"].request("GET", f"/v1/admin/rollouts/{world['rollout']}")


def test_a_device_cannot_report_on_a_release_it_may_not_run(victim):
    other_profile = _enroll(victim, profile="raspberry-pi-5")
    forged = _report(victim, other_profile)
    assert forged.status_code == 422 and "profile raspberry-pi-5" in forged.json()["error"]
    other_model = _enroll(victim, model="another-model")
    forged = _report(victim, other_model)
    assert forged.status_code == 422 and "this device follows another-model" in forged.json()["error"]
    unknown = _report(victim, _enroll(victim), installed="<script>alert(1)</script>")
    assert unknown.status_code == 422 and unknown.json()["error"].startswith("installed: ")
    assert _report(victim, _enroll(victim), target="victim/9/onnx.tar").status_code == 422
    listed = victim["admin"].request("GET", "/v1/admin/devices", params={"limit": 1000})
    assert not any("script" in str(device["installed"]) for device in listed)  # nothing of it was stored
    assert _judge(victim)["state"] == "active"


def test_a_gate_counts_only_assigned_devices_and_never_one_device_alone(victim):
    inside, outside = [], []
    while len(inside) < 3 and len(inside) + len(outside) < 300:
        device = _enroll(victim)
        (inside if bucket(victim["salt"], device["device_id"]) < 1000 else outside).append(device)
    assert len(inside) == 3
    legacy = _enroll(victim, model=None)  # enrolled without a model (an older agent): judged by its profile and bucket
    for device in [*outside[:5], legacy] if bucket(victim["salt"], legacy["device_id"]) >= 1000 else outside[:5]:
        assert _report(victim, device).status_code == 204  # a device outside the canary may say so: it is not counted
    status = _judge(victim)
    assert status["state"] == "active", status["gates"]
    assert status["gates"]["last"]["evidence"]["devices_tried"] == 0
    assert _report(victim, inside[0]).status_code == 204
    status = _judge(victim)
    assert status["state"] == "active" and status["gates"]["last"]["verdict"] == "wait", status["gates"]  # 1 of 3 needed
    for device in inside[1:]:
        assert _report(victim, device, installed=TARGET, outcome="installed").status_code == 204
    status = _judge(victim)
    assert status["state"] == "rolled_back", status["gates"]
    assert "1 of 3 canary device(s)" in status["history"][-1]["reason"]


def test_a_stage_holding_fewer_devices_than_min_devices_passes_once_all_of_them_installed(victim, trained_bundle, tmp_path):
    """A 10 % stage that drew two devices: waiting for a third would wait forever. (Tagged, so the
    model-less devices of the test above are out of its scope.)"""
    admin, few = victim["admin"], "few"
    upload = admin.upload(pack(pi4_onnx(trained_bundle, tmp_path, "b")[0]))
    admin.request("POST", "/v1/admin/releases", json={"model": few, "upload": upload["sha256"], "profiles": [PROFILE]})
    rollout = admin.request("POST", "/v1/admin/rollouts", json={"model": few, "stages": [10, 100], "gates": GATE, "tags": ["few"]})
    world = {**victim, "rollout": rollout["id"]}
    salt, target = _signed_salt(victim["url"], f"{few}/1/onnx.tar"), f"{few}/1/onnx.tar"
    inside = []
    while len(inside) < 2:
        device = _enroll(victim, model=few, tags=("few",))
        if bucket(salt, device["device_id"]) < 1000:
            inside.append(device)
    assert _report(world, inside[0], "installed", target, target).status_code == 204
    status = _judge(world)
    assert status["state"] == "active" and status["gates"]["last"]["evidence"] == {
        "seconds_at_stage": status["gates"]["last"]["evidence"]["seconds_at_stage"], "devices_tried": 1, "devices_in_stage": 2}
    assert _report(world, inside[1], "installed", target, target).status_code == 204
    status = _judge(world)
    assert status["state"] == "complete", status["gates"]
    assert "every device of this stage" in status["gates"]["last"]["gates"][0]["detail"]


def test_a_home_from_before_devices_had_a_model_gains_the_column_and_keeps_its_devices(tmp_path):
    home = tmp_path / "home"
    init_home(home, None, 3, 2, None)
    with sqlite3.connect(home / "server.db") as old:  # the devices table as edgekit 0.1 made it, before Alembic
        old.execute("ALTER TABLE devices DROP COLUMN model")
        old.execute("DROP TABLE alembic_version")
        old.execute("DROP TABLE telemetry_rollups")
        old.execute("INSERT INTO devices (id, profile, tags, token_hash, token_expires, revoked, enrolled) "
                    "VALUES ('dev-old', 'raspberry-pi-4b', '[]', 'h', '2030-01-01 00:00:00', 0, '2026-01-01 00:00:00')")
    _, database = open_home(home)
    with database.session() as session:
        device = session.get(Device, "dev-old")
        assert device.profile == "raspberry-pi-4b" and device.model is None
    assert revision(database) == head()  # stamped at the first schema, then upgraded
    database.engine.dispose()
