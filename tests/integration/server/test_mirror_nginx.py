"""A real nginx on 127.0.0.1 (a standalone configuration from ``edgekit server nginx-config``, under a
private prefix) in front of a real ``edgekit server run``: polls answered from the static mirror
with 304, Range on archives, private artifacts behind auth_request, the agent and ``fleet simulate``
installing through it, a mirror that never shows a timestamp naming a missing file, and a fleet that
rides out nginx being killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from tests_support import (
    assert_one_line_error,
    edgekit_script,
    free_port,
    init_server,
    nginx_in_front,
    pi4_onnx,
    start_server,
    wait_until,
)

MODEL = "bc"
AUTH_CACHE_SECONDS = 1
RUNTIME = [sys.executable, "-m", "edgekit_runtime.cli"]
SERVER_ENV = {"EDGEKIT_WORKERS": "2", "EDGEKIT_IP_RATE_PER_SECOND": "20000", "EDGEKIT_IP_BURST": "20000", "EDGEKIT_DEVICE_BURST": "200",
              "EDGEKIT_METADATA_CACHE_SECONDS": "0", "EDGEKIT_MIRROR_SYNC_SECONDS": "1"}


@pytest.fixture(scope="module")
def stack(trained_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror-nginx")
    home = root / "home"
    key = init_server(home)["admin_key"]
    assert json.loads((home / "server.json").read_text())["artifacts"] == "devices"  # what init writes: private
    app_port = free_port()
    process, app_url = start_server(home, SERVER_ENV, port=app_port)
    nginx = nginx_in_front(home, app_port, root / "nginx", auth_cache_seconds=AUTH_CACHE_SECONDS)
    try:
        nginx.start()
        env = {**os.environ, "EDGEKIT_ADMIN_KEY": key}
        for artifact in pi4_onnx(trained_bundle, root, "good-0", "good-1"):  # releases 1 and 2, published through nginx
            published = subprocess.run([edgekit_script(), "publish", str(artifact), "--server", nginx.url, "--model", MODEL,
                                        "--device-profile", "raspberry-pi-4b"], capture_output=True, text=True, env=env, check=False)
            assert published.returncode == 0, published.stderr
        admin = httpx.Client(base_url=nginx.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]}).status_code == 201
        stack = {"home": home, "app": app_url, "app_port": app_port, "process": process, "nginx": nginx, "admin": admin, "env": env,
                 "mirror": home / "mirror"}
        yield stack
        admin.close()
        process = stack["process"]  # a test may have restarted the app
    finally:
        nginx.stop()
        process.terminate()
        process.wait(timeout=30)


def timestamp_version(url: str) -> int:
    return httpx.get(f"{url}/metadata/timestamp.json", timeout=5).json()["signed"]["version"]


def in_step(stack) -> int:
    """The timestamp version once nginx serves the one the app serves (the mirror syncs after each change)."""
    return wait_until(lambda: (v := timestamp_version(stack["app"])) == timestamp_version(stack["nginx"].url) and v,
                      "the mirror to catch up with the database")


def enroll(stack) -> dict:
    token = stack["admin"].post("/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b"}).json()["token"]
    response = httpx.post(f"{stack['nginx'].url}/v1/devices", json={"enrollment_token": token}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def archive_url(stack, release: int) -> tuple[str, str]:
    found = next(r for r in stack["admin"].get("/v1/admin/releases", params={"model": MODEL}).json() if r["version"] == release)
    return f"{stack['nginx'].url}/targets/{MODEL}/{release}/{found['sha256']}.{found['target']}.tar", found["sha256"]


def test_conditional_polls_get_304_until_a_change_and_the_bytes_are_the_apps(stack):
    nginx = stack["nginx"].url
    version = in_step(stack)
    first = httpx.get(f"{nginx}/metadata/timestamp.json")
    assert first.status_code == 200 and first.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert first.content == httpx.get(f"{stack['app']}/metadata/timestamp.json").content  # the signed bytes, not a copy of them
    etag = first.headers["etag"]
    again = httpx.get(f"{nginx}/metadata/timestamp.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
    assert httpx.get(f"{nginx}/metadata/timestamp.json", headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
    snapshot = first.json()["signed"]["meta"]["snapshot.json"]["version"]
    versioned = httpx.get(f"{nginx}/metadata/{snapshot}.snapshot.json")
    assert versioned.status_code == 200 and versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert httpx.get(f"{nginx}/metadata/99999.root.json").status_code == 404  # how a client learns its root is current
    assert httpx.get(f"{nginx}/.edgekit-mirror.lock").status_code == 404
    stack["admin"].post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]})  # re-signs
    assert (now := in_step(stack)) > version
    metrics = httpx.get(f"{nginx}/metrics").text  # proxied to the app, which reports the mirror's version
    assert f"edgekit_mirror_timestamp_version {now}" in metrics and f"edgekit_timestamp_version {now}" in metrics
    changed = httpx.get(f"{nginx}/metadata/timestamp.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and changed.json()["signed"]["version"] > version


def test_private_artifacts_need_a_token_range_resumes_and_a_revoked_token_is_refused_after_the_cache(stack):
    url, sha256 = archive_url(stack, 1)
    device = enroll(stack)
    bearer = {"Authorization": f"Bearer {device['device_token']}"}
    refused = httpx.get(url)
    assert refused.status_code == 401 and refused.headers.get("www-authenticate") == "Bearer"
    assert httpx.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    whole = httpx.get(url, headers=bearer)
    assert whole.status_code == 200 and whole.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert whole.content == (stack["home"] / "targets" / sha256).read_bytes()
    part = httpx.get(url, headers={**bearer, "Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"
    tail = httpx.get(url, headers={**bearer, "Range": f"bytes={len(whole.content) + 5}-"})
    assert tail.status_code == 416
    assert httpx.get(url, headers=stack["admin"].headers).status_code == 200  # an API key reads archives too
    assert stack["admin"].post(f"/v1/admin/devices/{device['device_id']}/revoke").status_code == 200
    time.sleep(AUTH_CACHE_SECONDS + 1.2)  # --auth-cache-seconds (+1: nginx counts whole seconds): a revoked token's grace
    assert httpx.get(url, headers=bearer).status_code == 401
    direct = httpx.get(f"{stack['nginx'].url}/v1/auth/artifact", headers=bearer)
    assert direct.status_code == 401 and "device_id" not in direct.text


def test_the_agent_installs_through_nginx(stack, tmp_path):
    token = stack["admin"].post("/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b"}).json()["token"]
    state = tmp_path / "device"
    enrolled = subprocess.run([*RUNTIME, "agent", "enroll", "--server", stack["nginx"].url, "--token", token, "--model", MODEL,
                               "--state-dir", str(state)], capture_output=True, text=True, check=False)
    assert enrolled.returncode == 0, enrolled.stderr
    in_step(stack)
    once = subprocess.run([*RUNTIME, "agent", "once", "--state-dir", str(state), "--json"], capture_output=True, text=True,
                          timeout=120, check=False)
    outcome = json.loads(once.stdout.strip().splitlines()[-1])
    assert outcome == {"outcome": "installed", "target": f"{MODEL}/1/onnx.tar", "detail": ""}, once.stderr


def test_with_the_app_down_polls_still_get_304_and_downloads_get_503_not_500(stack):
    """nginx serves the mirror without the app; what needs the app (a token check) says 503, retry."""
    etag = httpx.get(f"{stack['nginx'].url}/metadata/timestamp.json").headers["etag"]
    url, _ = archive_url(stack, 1)
    device = enroll(stack)
    stack["process"].terminate()
    stack["process"].wait(timeout=30)
    try:
        poll = httpx.get(f"{stack['nginx'].url}/metadata/timestamp.json", headers={"If-None-Match": etag})
        assert poll.status_code == 304
        time.sleep(AUTH_CACHE_SECONDS + 1.2)  # past the cached yes
        download = httpx.get(url, headers={"Authorization": f"Bearer {device['device_token']}"})
        assert download.status_code == 503 and download.headers["retry-after"] == "5", download.text
    finally:
        stack["process"], _ = start_server(stack["home"], SERVER_ENV, port=stack["app_port"])
    assert httpx.get(url, headers={"Authorization": f"Bearer {device['device_token']}"}).status_code == 200


def simulate(stack, devices: int, seconds: float, tag: str) -> subprocess.Popen:
    return subprocess.Popen([edgekit_script(), "fleet", "simulate", "--server", stack["nginx"].url, "--devices", str(devices),
                             "--profile", "raspberry-pi-4b", "--model", MODEL, "--poll-seconds", "0.3", "--seconds", str(seconds),
                             "--tag", tag, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=stack["env"])


def running(stack, tag: str, target: str) -> int:
    """How many devices tagged ``tag`` have reported running ``target`` (asked of the app itself)."""
    devices = httpx.get(f"{stack['app']}/v1/admin/devices", params={"limit": 1000}, headers=stack["admin"].headers).json()
    return sum(tag in device["tags"] and device["installed"] == target for device in devices)


def test_a_fleet_rides_out_nginx_being_killed_and_installs_the_promoted_release(stack):
    """Kill nginx mid-run, restart it: every device keeps the model it had, and the run goes on to the new release."""
    stack["admin"].post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]})
    in_step(stack)
    run = simulate(stack, 40, 30, "riding")  # bounded: release 1, the outage, release 2 fit well inside
    wait_until(lambda: running(stack, "riding", f"{MODEL}/1/onnx.tar") == 40, "the fleet to run release 1", seconds=60)
    stack["nginx"].kill()
    time.sleep(1.5)
    stack["nginx"].start()
    assert stack["admin"].post("/v1/admin/rollouts", json={"model": MODEL, "release": 2, "stages": [100]}).status_code == 201
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    result = json.loads(out)
    assert result["installed"] == {f"{MODEL}/2/onnx.tar": 40}, (result, err)
    assert not result["failed"] and result["unreachable"] > 0  # the outage fell inside the run
    before_kill = [point["installed"] for point in result["timeline"]]
    assert {f"{MODEL}/1/onnx.tar": 40} in before_kill  # they ran release 1 across the outage, then moved on


def test_the_mirror_never_shows_a_timestamp_naming_a_missing_file(stack):
    """Readers poll the mirror, on disk and through nginx, while rollouts are started and promoted
    over and over (two server processes syncing it): every timestamp read names a snapshot that is
    there, that snapshot a targets file that is there, and that file archives that are there."""
    metadata, targets_dir = stack["mirror"] / "metadata", stack["mirror"] / "targets"
    seen, broken, stop = {"disk": set(), "nginx": set()}, [], threading.Event()

    def check_chain(where: str, read) -> None:
        timestamp = read("timestamp.json")
        if timestamp is None:
            broken.append(f"{where}: timestamp.json missing")
            return
        snapshot_name = f"{timestamp['signed']['meta']['snapshot.json']['version']}.snapshot.json"
        snapshot = read(snapshot_name)
        if snapshot is None:
            broken.append(f"{where}: timestamp {timestamp['signed']['version']} names missing {snapshot_name}")
            return
        targets_name = f"{snapshot['signed']['meta']['targets.json']['version']}.targets.json"
        targets = read(targets_name)
        if targets is None:
            broken.append(f"{where}: {snapshot_name} names missing {targets_name}")
            return
        for path, target in targets["signed"]["targets"].items():
            directory, name = path.rsplit("/", 1)
            if not (targets_dir / directory / f"{target['hashes']['sha256']}.{name}").is_file():
                broken.append(f"{where}: {targets_name} names a missing archive for {path}")
        seen[where].add(timestamp["signed"]["version"])

    def from_disk(name: str):
        try:
            return json.loads((metadata / name).read_bytes())
        except FileNotFoundError:
            return None

    def read(where: str) -> None:
        with httpx.Client(base_url=f"{stack['nginx'].url}/metadata/", timeout=10) as client:
            def through_nginx(name: str):
                response = client.get(name)
                return response.json() if response.status_code == 200 else None
            while not stop.is_set():
                check_chain(where, from_disk if where == "disk" else through_nginx)

    readers = [threading.Thread(target=read, args=(where,)) for where in seen]
    for reader in readers:
        reader.start()
    try:
        admin = stack["admin"]
        for _ in range(6):
            rollout = admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 2, "stages": [10, 50, 100]}).json()
            for _ in range(2):
                assert admin.post(f"/v1/admin/rollouts/{rollout['id']}/promote").status_code == 200
            time.sleep(0.05)
        in_step(stack)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=10)
    assert not broken, broken[:5]
    assert len(seen["disk"]) >= 5 and len(seen["nginx"]) >= 5, seen  # the readers saw the mirror move, many times


def test_bad_input_gets_one_line(stack, cli, tmp_path, monkeypatch):
    home = stack["home"]
    assert_one_line_error(cli("server", "nginx-config", "--home", home, "--listen", "80; include /etc/passwd"), 2, "--listen")
    assert_one_line_error(cli("server", "nginx-config", "--home", home, "--upstream", "127.0.0.1"), 2, "--upstream")
    assert_one_line_error(cli("server", "nginx-config", "--home", home, "--out", tmp_path), 2, "is a directory")
    (tmp_path / "file").write_text("x")
    assert_one_line_error(cli("server", "mirror", "--home", home, "--out", tmp_path / "file"), 2, "not a directory")
    assert_one_line_error(cli("server", "nginx-config", "--home", home, "--standalone", tmp_path / "file"), 2, "not a directory")
    with monkeypatch.context() as patch:
        patch.setenv("EDGEKIT_MIRROR_DIR", str(tmp_path / "file"))
        assert_one_line_error(cli("server", "run", "--home", home, "--port", "0"), 2, "not a directory")  # before uvicorn starts
    assert_one_line_error(cli("server", "mirror", "--home", tmp_path / "nowhere"), 2, "not an edgekit server home")
    other = tmp_path / "other"
    init_server(other)
    assert_one_line_error(cli("server", "mirror", "--home", other, "--out", stack["mirror"]), 2, "another repository")
    once = cli("server", "mirror", "--home", home, "--out", tmp_path / "copy", "--json")
    assert once.exit_code == 0, once.output
    copied = json.loads(once.stdout)
    assert copied["timestamp_version"] == timestamp_version(stack["app"]) and not copied["missing_archives"]
    assert (tmp_path / "copy" / "metadata" / "timestamp.json").read_bytes() == httpx.get(f"{stack['app']}/metadata/timestamp.json").content


def test_rate_limits_behind_nginx_see_each_client_address_and_a_forged_one_is_replaced(tmp_path):
    """nginx puts the client's address in X-Forwarded-For (replacing any the client sent) and uvicorn
    trusts it from 127.0.0.1: the per-address limit still limits devices, not nginx as a whole."""
    home = tmp_path / "home"
    init_server(home)
    app_port = free_port()
    process, _ = start_server(home, {"EDGEKIT_IP_RATE_PER_SECOND": "0.1", "EDGEKIT_IP_BURST": "3"}, port=app_port)
    nginx = nginx_in_front(home, app_port, tmp_path / "nginx")
    try:
        nginx.start()

        def client(address: str) -> httpx.Client:
            return httpx.Client(base_url=nginx.url, transport=httpx.HTTPTransport(local_address=address), timeout=10)

        with client("127.0.0.2") as greedy, client("127.0.0.3") as other:
            forged = {"X-Forwarded-For": "198.51.100.7"}  # a fresh address every time, if it were believed
            answers = [greedy.get("/v1/auth/artifact", headers=forged).status_code for _ in range(5)]
            assert answers[:3] == [401, 401, 401] and answers[3:] == [429, 429]
            assert other.get("/v1/auth/artifact").status_code == 401  # another device's own allowance
            assert greedy.get("/metadata/timestamp.json").status_code == 200  # the mirror is not rate-limited
    finally:
        nginx.stop()
        process.terminate()
        process.wait(timeout=30)
