"""Scale-out: two server processes against one real PostgreSQL server serve one fleet. A release
and a rollout made through one are served, signed, by the other; concurrent writers through both
never sign two metadata versions with the same number."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests_support import edgekit_script, init_server, pi4_onnx, postgres_server, start_server


@pytest.fixture(scope="module")
def replicas(trained_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("replicas")
    (artifact,) = pi4_onnx(trained_bundle, root, "onnx")
    with postgres_server() as url:
        init = init_server(root / "home", "--db", url)
        started = [start_server(root / "home") for _ in range(2)]
        published = subprocess.run([edgekit_script(), "publish", str(artifact), "--server", started[0][1], "--model", "bc",
                                    "--device-profile", "raspberry-pi-4b", "--json"], capture_output=True, text=True,
                                   env={**os.environ, "EDGEKIT_ADMIN_KEY": init["admin_key"]}, check=False)
        assert published.returncode == 0, published.stderr
        try:
            yield {"urls": [url for _, url in started], "admin": init["admin_key"], "artifact": artifact,
                   "database": init["database"]}
        finally:
            for process, _ in started:
                process.terminate()
                process.wait(timeout=10)


def timestamp_version(url: str) -> int:
    return httpx.get(f"{url}/metadata/timestamp.json").json()["signed"]["version"]


def wait_for_version(url: str, version: int, seconds: float = 5.0) -> int:
    deadline = time.monotonic() + seconds
    while timestamp_version(url) < version and time.monotonic() < deadline:
        time.sleep(0.1)
    return timestamp_version(url)


def test_a_rollout_made_through_one_process_is_served_by_the_other(replicas):
    first, second = replicas["urls"]
    assert replicas["database"].startswith("postgresql+psycopg://edgekit@127.0.0.1")
    env = {**os.environ, "EDGEKIT_ADMIN_KEY": replicas["admin"]}
    started = subprocess.run([edgekit_script(), "rollout", "start", "--server", first, "--model", "bc", "--stages", "10,100",
                              "--json"], capture_output=True, text=True, env=env)
    assert started.returncode == 0, started.stderr
    version = timestamp_version(first)
    assert wait_for_version(second, version) == version  # within the replicas' metadata cache time
    targets = httpx.get(f"{second}/metadata/{httpx.get(f'{second}/metadata/{version}.snapshot.json').json()['signed']['meta']['targets.json']['version']}.targets.json")
    rule = targets.json()["signed"]["targets"]["bc/1/onnx.tar"]["custom"]["edgekit"]["rollout"]
    assert rule["state"] == "active" and rule["basis_points"] == 1000
    promoted = httpx.post(f"{second}/v1/admin/rollouts/{json.loads(started.stdout)['id']}/promote",
                          headers={"Authorization": f"Bearer {replicas['admin']}"})
    assert promoted.status_code == 200 and promoted.json()["state"] == "complete"
    assert wait_for_version(first, version + 1) == version + 1


def test_concurrent_writers_through_both_processes_sign_one_version_each(replicas):
    first, second = replicas["urls"]
    headers = {"Authorization": f"Bearer {replicas['admin']}"}
    token = httpx.post(f"{first}/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b", "uses": 1}, headers=headers).json()
    device = httpx.post(f"{first}/v1/devices", json={"enrollment_token": token["token"]}).json()["device_id"]
    before = wait_for_version(second, timestamp_version(first))

    def pin(index: int) -> int:
        url = (first, second)[index % 2]
        body = {"model": "bc", "release": 1, "device_id": device, "unpin": index % 4 >= 2}
        return httpx.post(f"{url}/v1/admin/pins", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(pin, range(16))) == [200] * 16
    assert wait_for_version(second, before + 16) == before + 16 == timestamp_version(first)
