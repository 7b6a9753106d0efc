"""The update server as devices and operators meet it: a real uvicorn process on 127.0.0.1, the
CLI, and python-tuf's own client verifying what it serves."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from edgekit_runtime.agent.config import AgentConfig
from edgekit_runtime.agent.fetcher import DeadlineFetcher
from edgekit_runtime.archive import pack
from edgekit_runtime.rollout_rule import DeviceIdentity, choose_release
from tests_support import (
    HOSTILE_ARCHIVES,
    artifact_tar,
    edgekit_script,
    free_port,
    init_server,
    pi4_onnx,
    served_home,
    start_server,
)
from tuf.api.exceptions import RepositoryError
from tuf.ngclient import Updater

from edgekit.fleet.client import AdminClient

MODEL = "breast-cancer"


@pytest.fixture(scope="module")
def fleet(trained_bundle, tmp_path_factory):
    """A server home, a running server, an admin key, and two ONNX artifacts for raspberry-pi-4b."""
    root = tmp_path_factory.mktemp("server")
    artifacts = pi4_onnx(trained_bundle, root, "onnx-0", "onnx-1")
    env = {"EDGEKIT_IP_RATE_PER_SECOND": "400", "EDGEKIT_IP_BURST": "800", "EDGEKIT_METADATA_CACHE_SECONDS": "0"}
    with served_home(root / "home", env) as (url, admin_key):
        for artifact in artifacts:  # releases 1 and 2; release 1 runs on every Pi 4
            published = run_cli("publish", artifact, "--server", url, "--model", MODEL, "--device-profile", "raspberry-pi-4b",
                                "--json", key=admin_key)
            assert published.returncode == 0, published.stderr
        started = run_cli("rollout", "start", "--server", url, "--model", MODEL, "--release", "1", "--stages", "100", "--json",
                          key=admin_key)
        assert json.loads(started.stdout)["state"] == "complete"
        yield {"root": root, "home": root / "home", "url": url, "admin": admin_key, "artifacts": artifacts,
               "release": json.loads(published.stdout)}


def admin(fleet) -> httpx.Client:
    return httpx.Client(base_url=fleet["url"], headers={"Authorization": f"Bearer {fleet['admin']}"}, timeout=30)


def run_cli(*args: str | Path, key: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}), **({"EDGEKIT_ADMIN_KEY": key} if key else {})}
    return subprocess.run([edgekit_script(), *map(str, args)], capture_output=True, text=True, env=env, timeout=120, check=False)


def tuf_client(fleet, directory: Path) -> Updater:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "targets").mkdir(exist_ok=True)
    root = urllib.request.urlopen(f"{fleet['url']}/metadata/1.root.json").read()  # the root a device is provisioned with
    # artifacts are private in a new home: the device's fetcher sends a token for them (an API key here)
    fetcher = DeadlineFetcher(AgentConfig(), credentials=(f"{fleet['url']}/targets/", fleet["admin"]))
    return Updater(str(directory), f"{fleet['url']}/metadata/", str(directory / "targets"), f"{fleet['url']}/targets/",
                   fetcher=fetcher, bootstrap=root)


def assigned_fraction(updater: Updater, devices: int = 2000) -> float:
    updater.refresh()
    pairs = [(path, target.custom) for path, target in updater._trusted_set["targets"].targets.items()]
    chosen = [choose_release(pairs, MODEL, DeviceIdentity(f"dev-{index}", "raspberry-pi-4b")) for index in range(devices)]
    return sum(path == f"{MODEL}/2/onnx.tar" for path in chosen) / devices


def enroll(fleet, **token_options) -> dict:
    with admin(fleet) as client:
        token = client.post("/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b", **token_options}).json()["token"]
    response = httpx.post(f"{fleet['url']}/v1/devices", json={"enrollment_token": token}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


# --- publishing and rollouts ------------------------------------------------------------------

def test_publish_and_a_staged_rollout_reach_a_verifying_tuf_client(fleet, tmp_path):
    url, key = fleet["url"], fleet["admin"]
    release = fleet["release"]
    assert release["version"] == 2 and release["target_path"] == f"{MODEL}/2/onnx.tar"
    assert assigned_fraction(tuf_client(fleet, tmp_path / "before")) == 0  # published, assigned to nobody yet
    start = json.loads(run_cli("rollout", "start", "--server", url, "--model", MODEL, "--stages", "10,50", "--json", key=key).stdout)
    rollout = str(start["id"])
    assert 0.07 < assigned_fraction(tuf_client(fleet, tmp_path / "ten")) < 0.13
    assert json.loads(run_cli("rollout", "promote", rollout, "--server", url, "--json", key=key).stdout)["percent"] == 50
    assert 0.45 < assigned_fraction(tuf_client(fleet, tmp_path / "fifty")) < 0.55
    assert json.loads(run_cli("rollout", "pause", rollout, "--server", url, "--json", key=key).stdout)["state"] == "paused"
    refused = run_cli("rollout", "pause", rollout, "--server", url, key=key)
    assert refused.returncode == 2 and "it cannot pause" in refused.stderr and refused.stderr.count("\n") == 1
    assert json.loads(run_cli("rollout", "resume", rollout, "--server", url, "--json", key=key).stdout)["state"] == "active"
    assert json.loads(run_cli("rollout", "rollback", rollout, "--server", url, "--json", key=key).stdout)["state"] == "rolled_back"
    updater = tuf_client(fleet, tmp_path / "rolled-back")
    assert assigned_fraction(updater) == 0
    info = updater.get_targetinfo(f"{MODEL}/1/onnx.tar")  # every device is back on release 1: download and verify it
    assert Path(updater.download_target(info)).read_bytes() == pack(fleet["artifacts"][0])
    status = json.loads(run_cli("rollout", "status", "--server", url, "--model", MODEL, "--json", key=key).stdout)
    assert [entry["state"] for entry in status] == ["complete", "rolled_back"]
    actions = [entry["action"] for entry in admin(fleet).get("/v1/admin/audit").json()]
    for action in ("publish", "rollout.start", "rollout.promote", "rollout.pause", "rollout.resume", "rollout.rollback"):
        assert action in actions


def test_rollout_status_takes_the_id_promote_takes_and_the_server_from_edgekit_server(fleet):
    url, key = fleet["url"], fleet["admin"]
    every = json.loads(run_cli("rollout", "status", "--server", url, "--json", key=key).stdout)
    first = every[0]
    environment = {"EDGEKIT_SERVER": url}
    one = run_cli("rollout", "status", str(first["id"]), "--json", key=key, env=environment)
    assert one.returncode == 0, one.stderr
    assert {name: json.loads(one.stdout)[name] for name in ("id", "model", "release")} == \
        {name: first[name] for name in ("id", "model", "release")}
    shown = run_cli("rollout", "status", str(first["id"]), key=key, env=environment)
    assert shown.stdout.startswith(f"rollout {first['id']}: {MODEL} release ") and shown.stdout.count("\n") == 1
    missing = run_cli("rollout", "status", "9999", key=key, env=environment)
    assert missing.returncode == 2 and "no rollout 9999" in missing.stderr and missing.stderr.count("\n") == 1
    both = run_cli("rollout", "status", str(first["id"]), "--model", MODEL, key=key, env=environment)
    assert both.returncode == 2 and "not both" in both.stderr


def test_a_pin_sends_one_device_to_a_release(fleet):
    device = enroll(fleet)
    pinned = run_cli("rollout", "pin", "--server", fleet["url"], "--model", MODEL, "--release", "1", "--device", device["device_id"],
                     key=fleet["admin"])
    assert pinned.returncode == 0 and f"pinned {device['device_id']} to {MODEL} release 1" in pinned.stdout
    with admin(fleet) as client:
        response = client.post("/v1/admin/pins", json={"model": MODEL, "release": 2, "device_id": device["device_id"]})
        assert response.status_code == 200 and device["device_id"] in response.json()["pins"]
        assert client.post("/v1/admin/pins", json={"model": MODEL, "release": 2, "device_id": "dev-nobody"}).status_code == 422


# --- HTTP done right --------------------------------------------------------------------------

def test_metadata_has_etags_304_and_cache_control_and_a_missing_root_is_404(fleet):
    first = httpx.get(f"{fleet['url']}/metadata/timestamp.json")
    assert first.status_code == 200 and first.headers["cache-control"] == "public, max-age=0, must-revalidate"
    again = httpx.get(f"{fleet['url']}/metadata/timestamp.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    root = httpx.get(f"{fleet['url']}/metadata/1.root.json")
    assert "immutable" in root.headers["cache-control"]
    for missing in ("999.root.json", "9999999999.targets.json", "timestamp.json.bak", "..%2F..%2Fserver.json", "1.root.json%00"):
        assert httpx.get(f"{fleet['url']}/metadata/{missing}").status_code == 404


def test_artifacts_support_ranges_and_refuse_paths_outside_the_store(fleet, tmp_path):
    updater = tuf_client(fleet, tmp_path / "ranges")
    updater.refresh()
    info = updater.get_targetinfo(f"{MODEL}/1/onnx.tar")
    url = f"{fleet['url']}/targets/{MODEL}/1/{info.hashes['sha256']}.onnx.tar"
    device = {"Authorization": f"Bearer {enroll(fleet)['device_token']}"}
    whole = httpx.get(url, headers=device)
    part = httpx.get(url, headers={**device, "Range": "bytes=100-199"})
    assert whole.status_code == 200 and part.status_code == 206 and part.content == whole.content[100:200]
    assert whole.headers["etag"] and whole.headers["cache-control"] == "private, max-age=31536000, immutable"
    for bad in ("../../home/server.json", "%2e%2e/%2e%2e/server.json", "/etc/passwd", f"{MODEL}/1/{'0' * 64}.onnx.tar",
                "x%00y/1/a.tar"):
        assert httpx.get(f"{fleet['url']}/targets/{bad}", headers=device).status_code in (404, 422)


def test_artifacts_of_a_new_home_need_a_device_token_or_an_api_key(fleet):
    """A model is a company's IP: anyone who can reach the server must not download it. The signed
    metadata stays public (a CDN may cache it) and names no device id: pins are keyed hashes."""
    updater = tuf_client(fleet, fleet["root"] / "private")
    updater.refresh()
    info = updater.get_targetinfo(f"{MODEL}/1/onnx.tar")
    url = f"{fleet['url']}/targets/{MODEL}/1/{info.hashes['sha256']}.onnx.tar"
    revoked = enroll(fleet)
    with admin(fleet) as client:
        assert client.post(f"/v1/admin/devices/{revoked['device_id']}/revoke").status_code == 200
        assert client.get(url).status_code == 200  # an API key may download (publish checks, mirrors)
    for headers in ({}, {"Authorization": "Bearer ekd_not-a-token"}, {"Authorization": f"Bearer {revoked['device_token']}"}):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer" and refused.content.startswith(b'{"error"')
    assert httpx.get(url, headers={"Authorization": f"Bearer {enroll(fleet)['device_token']}"}).status_code == 200
    pinned = enroll(fleet)
    with admin(fleet) as client:
        assert client.post("/v1/admin/pins", json={"model": MODEL, "release": 1, "device_id": pinned["device_id"]}).status_code == 200
    updater = tuf_client(fleet, fleet["root"] / "private-pins")
    updater.refresh()
    signed = json.dumps({path: target.custom for path, target in updater._trusted_set["targets"].targets.items()})
    assert pinned["pin_tag"] in signed and pinned["device_id"] not in signed and "dev-" not in signed
    pairs = [(path, target.custom) for path, target in updater._trusted_set["targets"].targets.items()]
    device = DeviceIdentity(pinned["device_id"], "raspberry-pi-4b", pin_tag=pinned["pin_tag"])
    assert choose_release(pairs, MODEL, device) == f"{MODEL}/1/onnx.tar"


def test_health_readiness_metrics_and_openapi(fleet):
    assert httpx.get(f"{fleet['url']}/readyz").json() == {"ready": True}
    assert httpx.get(f"{fleet['url']}/metadata/timestamp.json").status_code == 200
    metrics = httpx.get(f"{fleet['url']}/metrics").text
    assert "edgekit_http_requests_total" in metrics and "edgekit_devices " in metrics
    assert '/metadata/{name}' in metrics  # labelled by route template, not raw path
    schema = httpx.get(f"{fleet['url']}/openapi.json").json()
    assert "/v1/devices" in schema["paths"] and "/v1/admin/releases" in schema["paths"]


# --- devices ----------------------------------------------------------------------------------

def test_enrollment_status_and_telemetry_of_a_device(fleet):
    device = enroll(fleet, tags=["canary"])
    headers = {"Authorization": f"Bearer {device['device_token']}"}
    base = f"{fleet['url']}/v1/devices/{device['device_id']}"
    assert device["profile"] == "raspberry-pi-4b" and device["tags"] == ["canary"]
    status = {"installed": f"{MODEL}/1/onnx.tar", "result": {"outcome": "installed", "target": f"{MODEL}/1/onnx.tar"}}
    assert httpx.put(f"{base}/status", json=status, headers=headers).status_code == 204
    telemetry = {"release": f"{MODEL}/1/onnx.tar", "period_seconds": 60, "counters": {"predictions": 12}}
    assert httpx.post(f"{base}/telemetry", json=telemetry, headers=headers).status_code == 202
    record = httpx.get(base, headers=headers).json()
    assert record["installed"] == f"{MODEL}/1/onnx.tar" and record["last_result"]["outcome"] == "installed"
    wrong_release = {**telemetry, "release": f"{MODEL}/2/onnx.tar"}
    assert httpx.post(f"{base}/telemetry", json=wrong_release, headers=headers).status_code == 409


def test_the_report_routes_skip_the_router_yet_are_documented_counted_and_refused_like_every_route(fleet):
    """Status and telemetry are served by routes/direct.py (no router, no dependency machinery):
    their bodies are still in the OpenAPI document, their requests in the metrics under the route
    template, and a bad request gets the same one-line 422 as any other route."""
    schema = httpx.get(f"{fleet['url']}/openapi.json").json()
    for path, method, body in (("/v1/devices/{device_id}/telemetry", "post", "TelemetryReport"),
                               ("/v1/devices/{device_id}/status", "put", "StatusReport")):
        reference = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert reference == f"#/components/schemas/{body}"
        nested = json.dumps(schema["components"]["schemas"][body])
        for name in {part.split('"')[0] for part in nested.split("#/components/schemas/")[1:]}:
            assert name in schema["components"]["schemas"], name  # every nested reference resolves
    device = enroll(fleet)
    base = f"{fleet['url']}/v1/devices/{device['device_id']}"
    headers = {"Authorization": f"Bearer {device['device_token']}"}
    refused = httpx.post(f"{base}/telemetry", json={"counters": {"rows": -1}}, headers=headers)
    assert refused.status_code == 422 and refused.json() == {"error": "counters.rows: Input should be greater than or equal to 0"}
    assert httpx.put(f"{base}/status", content=b"{", headers=headers).json()["error"].startswith("body: Invalid JSON")
    nul = httpx.post(f"{base}/telemetry", json={"counters": {"rows\u0000": 1}}, headers=headers)
    assert nul.status_code == 422 and nul.json()["error"].endswith(": NUL characters are not allowed"), nul.text
    enrolling = httpx.post(f"{fleet['url']}/v1/devices", json={"enrollment_token": "t" * 20, "tags": ["a\u0000"]})
    assert enrolling.json() == {"error": "tags.0: NUL characters are not allowed"}  # a body FastAPI parses: the same words
    assert httpx.post(f"{base}/telemetry", json={}, headers={"Authorization": "Bearer d_nope"}).status_code == 401  # before the body
    assert httpx.post(f"{base}/telemetry", json={}, headers=headers).json() == {"accepted": True}
    metrics = httpx.get(f"{fleet['url']}/metrics").text
    assert 'route="/v1/devices/{device_id}/telemetry",status="422"' in metrics
    assert 'route="/v1/devices/{device_id}/telemetry",status="202"' in metrics


def test_an_enrollment_token_is_used_once(fleet):
    with admin(fleet) as client:
        token = client.post("/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b"}).json()["token"]
    assert httpx.post(f"{fleet['url']}/v1/devices", json={"enrollment_token": token}).status_code == 201
    again = httpx.post(f"{fleet['url']}/v1/devices", json={"enrollment_token": token})
    assert again.status_code == 401 and "used up" in again.json()["error"]


def test_devices_racing_for_an_enrollment_token_get_exactly_its_uses(fleet):
    from concurrent.futures import ThreadPoolExecutor

    with admin(fleet) as client:
        token = client.post("/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b", "uses": 3}).json()["token"]

    def attempt(_: int) -> int:
        return httpx.post(f"{fleet['url']}/v1/devices", json={"enrollment_token": token}, timeout=30).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = sorted(pool.map(attempt, range(10)))
    assert statuses == [201] * 3 + [401] * 7


@pytest.mark.parametrize("case", ["no token", "another device's token", "revoked token", "expired token", "garbage token"])
def test_device_records_need_that_devices_valid_token(fleet, case):
    mine, other = enroll(fleet), enroll(fleet)
    token = {"no token": None, "another device's token": other["device_token"], "garbage token": "ekd_nothing",
             "revoked token": mine["device_token"], "expired token": mine["device_token"]}[case]
    if case == "revoked token":
        assert admin(fleet).post(f"/v1/admin/devices/{mine['device_id']}/revoke").status_code == 200
    if case == "expired token":  # time passes: the token's expiry is moved into the past
        with sqlite3.connect(fleet["home"] / "server.db") as db:
            db.execute("UPDATE devices SET token_expires = '2020-01-01 00:00:00' WHERE id = ?", (mine["device_id"],))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{fleet['url']}/v1/devices/{mine['device_id']}", headers=headers)
    assert response.status_code == (403 if case == "another device's token" else 401), response.text
    assert "error" in response.json()
    write = httpx.put(f"{fleet['url']}/v1/devices/{mine['device_id']}/status", json={"installed": "x"}, headers=headers)
    assert write.status_code == response.status_code


def test_the_operator_key_reads_but_cannot_act(fleet):
    created = subprocess.run([edgekit_script(), "server", "api-key", "create", "--home", str(fleet["home"]), "--role", "operator", "--json"],
                             capture_output=True, text=True, check=True)
    operator = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    assert httpx.get(f"{fleet['url']}/v1/admin/devices", headers=operator).status_code == 200
    assert httpx.get(f"{fleet['url']}/v1/admin/rollouts", headers=operator).status_code == 200
    refused = httpx.post(f"{fleet['url']}/v1/admin/enrollment-tokens", json={}, headers=operator)
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    assert httpx.post(f"{fleet['url']}/v1/admin/rollouts/1/promote", headers=operator).status_code == 403


def events_of(fleet, devices: list[dict]) -> int:
    with sqlite3.connect(fleet["home"] / "server.db") as db:
        ids = [device["device_id"] for device in devices]
        return db.execute(f"SELECT count(*) FROM device_events WHERE device_id IN ({','.join('?' * len(ids))})", ids).fetchone()[0]


def test_devices_are_deleted_by_tag_with_their_records_by_the_admin_key_alone_and_audited(fleet):
    """What ``fleet simulate`` cleans up with: only the tagged devices go (a tag that merely contains
    the asked one stays), with their reports and update events; a device or operator key is refused."""
    doomed = [enroll(fleet, tags=["run:simulated-t1", "plant-a"]) for _ in range(3)]
    kept = [enroll(fleet, tags=["run:simulated-t1x"]), enroll(fleet, tags=["plant-a"])]
    device = {"Authorization": f"Bearer {doomed[0]['device_token']}"}
    put = httpx.put(f"{fleet['url']}/v1/devices/{doomed[0]['device_id']}/status", headers=device,
                    json={"installed": None, "result": {"outcome": "failed", "target": f"{MODEL}/1/onnx.tar", "detail": "x"}})
    assert put.status_code == 204, put.text
    created = subprocess.run([edgekit_script(), "server", "api-key", "create", "--home", str(fleet["home"]), "--role", "operator", "--json"],
                             capture_output=True, text=True, check=True)
    operator = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    assert events_of(fleet, doomed) == 1
    for headers, status in ((device, 401), (operator, 403), ({}, 401)):
        refused = httpx.delete(f"{fleet['url']}/v1/admin/devices", params={"tag": "run:simulated-t1"}, headers=headers)
        assert refused.status_code == status, refused.text
    with admin(fleet) as client:
        assert client.delete("/v1/admin/devices").status_code == 422  # no tag: no "delete every device"
        assert client.delete("/v1/admin/devices", params={"tag": "run:simulated-t1"}).json() == {"tag": "run:simulated-t1", "deleted": 3}
        remaining = {row["id"] for row in client.get("/v1/admin/devices", params={"limit": 1000}).json()}
        assert not remaining & {d["device_id"] for d in doomed} and {d["device_id"] for d in kept} <= remaining
        entry = client.get("/v1/admin/audit", params={"limit": 1}).json()[0]
        assert entry["action"] == "device.delete" and entry["detail"] == {"tag": "run:simulated-t1", "devices": 3}
    assert events_of(fleet, doomed) == 0
    assert httpx.get(f"{fleet['url']}/v1/devices/{doomed[0]['device_id']}", headers=device).status_code == 401


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", "/v1/devices", b"{not json", 422),
        ("POST", "/v1/devices", b'{"enrollment_token": 5}', 422),
        ("POST", "/v1/devices", b'{"enrollment_token": "ekeXXXXXXXXXXXXXXXXX", "extra": 1}', 422),
        ("POST", "/v1/admin/rollouts", b'{"model": "breast-cancer", "stages": [50, 10]}', 422),
        ("POST", "/v1/admin/rollouts", b'{"model": "no-such-model"}', 422),
        ("POST", "/v1/admin/releases", b'{"model": "x", "upload": "' + b"a" * 64 + b'"}', 404),
        ("POST", "/v1/admin/rollouts/1/explode", b"", 404),
        ("POST", "/v1/admin/enrollment-tokens", b"[]", 422),
        ("POST", "/v1/admin/pins", b'{"model": "breast-cancer", "release": 1, "device_id": "a\\u0000b"}', 422),
        ("POST", "/v1/admin/releases", b'{"model": "x", "upload": "' + b"a" * 64 + b'", "bench": {"devices": [1]}}', 404),
        ("GET", "/v1/admin/devices?after=a%00b", b"", 422),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_reason(fleet, method, path, body, status):
    response = admin(fleet).request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_oversized_bodies_are_refused_before_they_are_read(fleet):
    big = b'{"enrollment_token": "' + b"x" * (300 << 10) + b'"}'
    assert httpx.post(f"{fleet['url']}/v1/devices", content=big, headers={"Content-Type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: the limit applies as the body streams in
        for _ in range(400):
            yield b"x" * 1024

    assert httpx.post(f"{fleet['url']}/v1/devices", content=chunks()).status_code == 413


def test_an_upload_that_does_not_match_its_artifact_json_is_refused(fleet, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(fleet["artifacts"][0], copy)
    model = bytearray((copy / "model.onnx").read_bytes())
    model[len(model) // 2] ^= 0xFF  # one byte: the archive no longer matches its artifact.json
    (copy / "model.onnx").write_bytes(bytes(model))
    response = admin(fleet).post("/v1/admin/uploads", content=pack(copy))
    assert response.status_code == 422 and "sha256 does not match" in response.json()["error"]
    assert admin(fleet).post("/v1/admin/uploads", content=b"not a tar at all").status_code == 422


@pytest.mark.parametrize("attack", list(HOSTILE_ARCHIVES))
def test_a_hostile_upload_is_refused_with_422_and_its_reason(fleet, attack):
    files, manifest, reason = HOSTILE_ARCHIVES[attack]
    before = sorted(path.name for path in (fleet["home"] / "targets").iterdir())
    response = admin(fleet).post("/v1/admin/uploads", content=artifact_tar(files, manifest))
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("the upload is not a valid artifact: ") and reason in response.json()["error"]
    assert sorted(path.name for path in (fleet["home"] / "targets").iterdir()) == before


def test_an_interrupted_upload_stores_nothing_and_registers_nothing(fleet):
    before = sorted(path.name for path in (fleet["home"] / "targets").iterdir())
    releases = len(admin(fleet).get("/v1/admin/releases").json())
    data = pack(fleet["artifacts"][1])
    with socket.create_connection(("127.0.0.1", int(fleet["url"].rsplit(":", 1)[1]))) as raw:
        raw.sendall(f"POST /v1/admin/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {fleet['admin']}\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode() + data[: len(data) // 2])
    time.sleep(0.5)
    assert sorted(path.name for path in (fleet["home"] / "targets").iterdir()) == before
    assert len(admin(fleet).get("/v1/admin/releases").json()) == releases


def test_a_device_that_floods_gets_429_with_retry_after(fleet):
    device = enroll(fleet)
    headers = {"Authorization": f"Bearer {device['device_token']}"}
    statuses = [httpx.get(f"{fleet['url']}/v1/devices/{device['device_id']}", headers=headers) for _ in range(30)]
    limited = [response for response in statuses if response.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1


# --- keys and secrets -------------------------------------------------------------------------

def test_rotating_online_and_root_keys_is_followed_by_clients_provisioned_with_root_v1(fleet, tmp_path):
    early = tuf_client(fleet, tmp_path / "early")
    early.refresh()
    for role in ("timestamp", "targets", "snapshot", "root"):
        rotated = run_cli("server", "rotate-keys", role, "--home", fleet["home"], "--json")
        assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["root_version"] == 5
    late = tuf_client(fleet, tmp_path / "late")  # bootstrapped with 1.root.json: walks 2 to 5
    late.refresh()
    assert late._trusted_set.root.version == 5
    assert late.get_targetinfo(f"{MODEL}/1/onnx.tar") is not None  # targets and snapshot signed by their new keys
    retired = list((fleet["root"] / "home-root-keys" / "retired").rglob("root-*.pem"))
    assert len(retired) == 3


def test_a_tampered_root_version_is_rejected_by_the_client(fleet, tmp_path):
    home = fleet["home"]
    with sqlite3.connect(home / "server.db") as db:
        version, data = db.execute("SELECT version, data FROM tuf_metadata WHERE role = 'root' ORDER BY version DESC").fetchone()
        document = json.loads(data)
        document["signed"]["expires"] = "2099-01-01T00:00:00Z"  # a change without the root keys' signatures
        db.execute("INSERT INTO tuf_metadata (role, version, data, expires, created) VALUES ('root', ?, ?, '2099-01-01', '2026-01-01')",
                   (version + 1, json.dumps({**document, "signed": {**document["signed"], "version": version + 1}}).encode()))
    try:
        with pytest.raises(RepositoryError):
            tuf_client(fleet, tmp_path / "victim").refresh()
    finally:
        with sqlite3.connect(home / "server.db") as db:
            db.execute("DELETE FROM tuf_metadata WHERE role = 'root' AND version = ?", (version + 1,))


def test_the_server_refuses_to_start_with_a_default_secret(fleet):
    result = subprocess.run([edgekit_script(), "server", "run", "--home", str(fleet["home"]), "--port", "0"],
                            env={**os.environ, "EDGEKIT_TOKEN_SECRET": "change-me"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "token secret" in result.stderr


def test_init_refuses_a_used_directory_and_a_bad_threshold(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    used = run_cli("server", "init", "--home", tmp_path / "used")
    assert used.returncode == 2 and "exists and is not empty" in used.stderr and used.stderr.count("\n") == 1
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"
    bad = run_cli("server", "init", "--home", tmp_path / "new", "--root-key-count", "1", "--root-threshold", "2")
    assert bad.returncode == 2 and "root threshold" in bad.stderr
    assert not (tmp_path / "new").exists() and not (tmp_path / "new-root-keys").exists()


def test_publish_without_a_key_or_server_is_a_one_line_error(fleet, tmp_path):
    no_key = subprocess.run([edgekit_script(), "publish", str(fleet["artifacts"][0]), "--server", fleet["url"], "--model", "m"],
                            capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "EDGEKIT_ADMIN_KEY"})
    assert no_key.returncode == 2 and "no admin key" in no_key.stderr
    down = run_cli("publish", fleet["artifacts"][0], "--server", f"http://127.0.0.1:{free_port()}", "--model", "m", key="k")
    assert down.returncode == 2 and "cannot reach the server" in down.stderr and down.stderr.count("\n") == 1
    wrong = run_cli("publish", fleet["artifacts"][0], "--server", fleet["url"], "--model", "m", key="ekx_wrong")
    assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr


def test_a_revoked_api_key_is_refused_at_once_by_every_server_process_on_the_home(tmp_path):
    home = tmp_path / "home"
    made = init_server(home, "--root-key-count", "1", "--root-threshold", "1")
    admin_headers = {"Authorization": f"Bearer {made['admin_key']}"}
    servers = [start_server(home), start_server(home)]  # two processes on one SQLite home, as replicas share one database
    try:
        urls = [url for _, url in servers]
        operator = json.loads(run_cli("server", "api-key", "create", "--home", home, "--role", "operator", "--json").stdout)
        headers = {"Authorization": f"Bearer {operator['key']}"}
        assert [httpx.get(f"{url}/v1/admin/devices", headers=headers).status_code for url in urls] == [200, 200]
        revoked = httpx.post(f"{urls[0]}/v1/admin/api-keys/{operator['key_id']}/revoke", headers=admin_headers)
        assert revoked.status_code == 200 and revoked.json()["revoked"], revoked.text
        for url in urls:  # the next request, on either process
            refused = httpx.get(f"{url}/v1/admin/devices", headers=headers)
            assert refused.status_code == 401 and "revoked" in refused.json()["error"]
        second = json.loads(run_cli("server", "api-key", "create", "--home", home, "--role", "admin", "--json").stdout)
        headers = {"Authorization": f"Bearer {second['key']}"}
        assert [httpx.get(f"{url}/v1/admin/api-keys", headers=headers).status_code for url in urls] == [200, 200]
        by_cli = run_cli("server", "api-key", "revoke", second["key_id"], "--home", home)
        assert by_cli.returncode == 0 and f"admin key {second['key_id']} is revoked" in by_cli.stdout, by_cli.stderr
        assert [httpx.get(f"{url}/v1/admin/api-keys", headers=headers).status_code for url in urls] == [401, 401]
        audit = httpx.get(f"{urls[1]}/v1/admin/audit", headers=admin_headers).json()
        revocations = [(entry["actor"], entry["detail"]) for entry in audit if entry["action"] == "api-key.revoke"]
        assert revocations == [("cli", {"key_id": second["key_id"], "role": "admin"}),
                               (f"admin:{made['admin_key_id']}", {"key_id": operator["key_id"], "role": "operator"})]
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=30)


def test_api_keys_are_listed_without_hashes_and_bad_ids_and_the_last_admin_key_are_refused(tmp_path):
    home = tmp_path / "home"
    made = init_server(home, "--root-key-count", "1", "--root-threshold", "1")
    admin_headers = {"Authorization": f"Bearer {made['admin_key']}"}
    older_form = run_cli("server", "api-key", "--home", home, "--role", "operator", "--json")  # the form before create
    assert older_form.returncode == 0, older_form.stderr
    operator = json.loads(older_form.stdout)
    process, url = start_server(home)
    try:
        with httpx.Client(base_url=url, headers=admin_headers) as client:
            listed = client.get("/v1/admin/api-keys").json()
            assert [(key["key_id"], key["role"], key["revoked"]) for key in listed] == [
                (made["admin_key_id"], "admin", False), (operator["key_id"], "operator", False)]
            assert all(set(key) == {"key_id", "role", "created", "revoked"} for key in listed)
            as_operator = {"Authorization": f"Bearer {operator['key']}"}
            assert client.get("/v1/admin/api-keys", headers=as_operator).status_code == 200
            assert client.post(f"/v1/admin/api-keys/{made['admin_key_id']}/revoke", headers=as_operator).status_code == 403
            assert client.post("/v1/admin/api-keys/0123abcd/revoke").status_code == 404
            assert client.post("/v1/admin/api-keys/not-an-id!/revoke").status_code == 422
            last = client.post(f"/v1/admin/api-keys/{made['admin_key_id']}/revoke")
            assert last.status_code == 422 and "last active admin key" in last.json()["error"]
            assert client.get("/v1/admin/api-keys").status_code == 200  # still in
    finally:
        process.terminate()
        process.wait(timeout=30)
    for key_id, reason in [("not-an-id!", "'not-an-id!' is not an API key id"), ("0123abcd", "no API key 0123abcd"),
                           (made["admin_key_id"], "is the last active admin key")]:
        refused = run_cli("server", "api-key", "revoke", key_id, "--home", home)
        assert refused.returncode == 2 and reason in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    shown = run_cli("server", "api-key", "list", "--home", home)
    assert shown.returncode == 0 and f"{operator['key_id']}" in shown.stdout and "operator" in shown.stdout
    listed = json.loads(run_cli("server", "api-key", "list", "--home", home, "--json").stdout)
    assert [(key["key_id"], key["revoked"]) for key in listed] == [(made["admin_key_id"], False), (operator["key_id"], False)]


def test_the_server_re_signs_the_timestamp_before_it_expires(tmp_path):
    init = run_cli("server", "init", "--home", tmp_path / "home", "--root-key-count", "1", "--root-threshold", "1")
    assert init.returncode == 0, init.stderr
    # init signs a timestamp valid for a day; a refresh window of 25 h makes it due at once, and
    # the re-signed one (valid ~27.8 h) is not due again
    env = {"EDGEKIT_TIMESTAMP_CHECK_SECONDS": "0.2", "EDGEKIT_TIMESTAMP_REFRESH_SECONDS": "90000",
           "EDGEKIT_TIMESTAMP_EXPIRY_SECONDS": "100000", "EDGEKIT_METADATA_CACHE_SECONDS": "0"}
    process, url = start_server(tmp_path / "home", env)
    try:
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/metadata/timestamp.json").json()["signed"]["version"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # several more checks: none may sign again
        signed = httpx.get(f"{url}/metadata/timestamp.json").json()["signed"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert signed["version"] == 2
    expires = datetime.strptime(signed["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 99_000 < (expires - datetime.now(UTC)).total_seconds() <= 100_000


def test_an_address_that_floods_the_api_gets_429_but_metadata_stays_open_and_uploads_have_a_size_limit(fleet, tmp_path):
    init = run_cli("server", "init", "--home", tmp_path / "home", "--root-key-count", "1", "--root-threshold", "1", "--json")
    key = json.loads(init.stdout)["admin_key"]
    process, url = start_server(tmp_path / "home", {"EDGEKIT_IP_RATE_PER_SECOND": "5", "EDGEKIT_IP_BURST": "10",
                                                    "EDGEKIT_MAX_ARTIFACT_BYTES": "4096"})
    try:
        with httpx.Client(base_url=url) as client:
            too_big = client.post("/v1/admin/uploads", content=pack(fleet["artifacts"][0]), headers={"Authorization": f"Bearer {key}"})
            assert too_big.status_code == 413 and "limit of 4096" in too_big.json()["error"]
            assert not list((tmp_path / "home").glob("targets/*"))
            api = [client.post("/v1/devices", json={"enrollment_token": "ekeNOPE-NOPE-NOPE"}) for _ in range(30)]
            polls = [client.get("/metadata/timestamp.json").status_code for _ in range(30)]
        admin = AdminClient(url, key)  # the operator on the same (flooded) address waits its Retry-After, then gets through
        assert admin.request("GET", "/v1/admin/rollouts") == []
        admin.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    limited = [response for response in api if response.status_code == 429]
    assert len(limited) >= 15 and int(limited[0].headers["retry-after"]) >= 1 and "too many requests" in limited[0].json()["error"]
    assert polls == [200] * 30


def test_a_rotation_that_clients_would_reject_is_refused_before_anything_changes(tmp_path):
    assert run_cli("server", "init", "--home", tmp_path / "home").returncode == 0  # 2 of 3 root keys
    keys = tmp_path / "home-root-keys"
    short = tmp_path / "one-key"
    short.mkdir()
    for suffix in (".pem", ".pub.json"):
        shutil.copy(keys / f"root-1{suffix}", short / f"root-1{suffix}")
    refused = run_cli("server", "rotate-keys", "timestamp", "--home", tmp_path / "home", "--root-keys", short)
    assert refused.returncode == 2 and "would not verify" in refused.stderr and refused.stderr.count("\n") == 1
    stray = tmp_path / "stray"
    shutil.copytree(keys, stray)
    other = tmp_path / "other-home"
    assert run_cli("server", "init", "--home", other, "--root-keys", tmp_path / "other-keys").returncode == 0
    for suffix in (".pem", ".pub.json"):
        shutil.copy(tmp_path / "other-keys" / f"root-1{suffix}", stray / f"root-9{suffix}")
    foreign = run_cli("server", "rotate-keys", "root", "--home", tmp_path / "home", "--root-keys", stray)
    assert foreign.returncode == 2 and "root-9 is not a key of the current root" in foreign.stderr
    assert sorted(path.name for path in stray.glob("*.pem")) == ["root-1.pem", "root-2.pem", "root-3.pem", "root-9.pem"]
    with sqlite3.connect(tmp_path / "home" / "server.db") as db:
        assert db.execute("SELECT MAX(version) FROM tuf_metadata WHERE role = 'root'").fetchone()[0] == 1


# --- retries of admin writes --------------------------------------------------------------------

class ResponseDroppingProxy:
    """A TCP proxy to the server that forwards every request but loses the response to the first
    ``drops`` POSTs (the connection closes as the answer arrives): a client's retry must not be
    applied twice."""

    def __init__(self, upstream: str, drops: int) -> None:
        self.upstream = ("127.0.0.1", int(upstream.rsplit(":", 1)[1]))
        self.drops = drops
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as upstream:
            first = client.recv(65536)
            drop = first.startswith(b"POST") and self.drops > 0
            self.drops -= drop
            upstream.sendall(first)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            while chunk := upstream.recv(65536):
                if drop:
                    return  # the write was done; its answer is lost on the way
                client.sendall(chunk)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass


def test_a_promotion_whose_answer_is_lost_is_applied_once_when_the_cli_retries(fleet):
    with admin(fleet) as client:
        rollout = client.post("/v1/admin/rollouts", json={"model": MODEL, "release": 2, "stages": [10, 20, 50, 100]}).json()
    proxy = ResponseDroppingProxy(fleet["url"], drops=1)
    promoted = run_cli("rollout", "promote", str(rollout["id"]), "--server", proxy.url, "--json", key=fleet["admin"])
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["percent"] == 20 and proxy.drops == 0  # one stage, though the server saw two requests
    with admin(fleet) as client:
        assert client.get(f"/v1/admin/rollouts/{rollout['id']}").json()["percent"] == 20
        assert client.post(f"/v1/admin/rollouts/{rollout['id']}/rollback").status_code == 200


def test_an_idempotency_key_replays_its_first_answer_and_refuses_another_request(fleet):
    key = {"Idempotency-Key": f"test-{time.time_ns()}"}
    with admin(fleet) as client:
        body = {"model": MODEL, "release": 1, "device_id": enroll(fleet)["device_id"]}
        first = client.post("/v1/admin/pins", json=body, headers=key)
        again = client.post("/v1/admin/pins", json=body, headers=key)
        assert first.status_code == again.status_code == 200 and first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
        other = client.post("/v1/admin/pins", json={**body, "unpin": True}, headers=key)
        assert other.status_code == 422 and "was used for a different request" in other.json()["error"]
        assert body["device_id"] in client.get("/v1/admin/releases", params={"model": MODEL}).json()[0]["pins"]  # not unpinned
        for bad in ("", "has space", "x" * 129, "é".encode()):
            response = client.post("/v1/admin/pins", json=body, headers={"Idempotency-Key": bad})
            assert response.status_code == 422 and "Idempotency-Key" in response.json()["error"], bad
        pins = [entry["action"] for entry in client.get("/v1/admin/audit", params={"limit": 1000}).json()
                if entry["action"] == "pin" and entry["detail"]["device"] == body["device_id"]]
        assert pins == ["pin"]  # the replay wrote nothing
