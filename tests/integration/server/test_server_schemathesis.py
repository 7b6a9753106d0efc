"""schemathesis generates requests from the server's OpenAPI schema (as the admin, then as a
device) against a real server on 127.0.0.1: no request may get a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests_support import edgekit_script, pi4_onnx, served_home


@pytest.fixture(scope="module")
def served(trained_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("schemathesis")
    (artifact,) = pi4_onnx(trained_bundle, root, "onnx")
    env = {"EDGEKIT_IP_RATE_PER_SECOND": "100000", "EDGEKIT_IP_BURST": "100000", "EDGEKIT_DEVICE_RATE_PER_SECOND": "100000",
           "EDGEKIT_DEVICE_BURST": "100000"}
    with served_home(root / "home", env) as (url, key):
        headers = {"Authorization": f"Bearer {key}"}
        subprocess.run([edgekit_script(), "publish", str(artifact), "--server", url, "--model", "bc"], check=True,
                       capture_output=True, env={**__import__("os").environ, "EDGEKIT_ADMIN_KEY": key})
        token = httpx.post(f"{url}/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b"}, headers=headers).json()["token"]
        device = httpx.post(f"{url}/v1/devices", json={"enrollment_token": token}).json()
        yield {"url": url, "admin": key, "device": device, "root": root}


@pytest.mark.parametrize("who", ["admin", "device"])
def test_no_generated_request_gets_a_server_error(served, who):
    token = served["admin"] if who == "admin" else served["device"]["device_token"]
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(schemathesis), "run", f"{served['url']}/openapi.json", "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=served["root"],
    )
    assert result.returncode == 0, result.stdout[-3000:]
