"""The update server under fleet load: 100 000 enrolled devices, one and two uvicorn workers.

  polls      conditional GETs of timestamp.json (If-None-Match: the current ETag) -> 304: what a
             device does every poll interval
  fetches    full GETs of timestamp.json (200)
  status     PUT /v1/devices/{id}/status with each device's own token, rotating over 10 000 devices
  publish    upload + register a release, and start / promote a rollout, with the fleet enrolled

Load comes from wrk (Debian package wrk) in its own process on 127.0.0.1, each run bounded in time;
wrk's Lua done() hook reports requests, duration and latency percentiles as JSON. Requests per
second and p50/p99 are measured with few connections (latency at high throughput without a
queue) and with many (throughput under contention).

    .venv/bin/python benchmarks/fleet/bench_server.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_process import start_server
from timing import arguments, machine_line, scratch, write_results
from wrk_load import DONE_HOOK

DEVICES = 100_000
REPORTING_DEVICES = 10_000
POLL = 'wrk.headers["If-None-Match"] = {etag!r}\n'
STATUS = """
local devices = {{}}
for line in io.lines({tokens!r}) do
  local id, token = line:match("([^ ]+) ([^ ]+)")
  devices[#devices + 1] = {{id, token}}
end
local counter = 0
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local device = devices[(counter % #devices) + 1]
  wrk.headers["Authorization"] = "Bearer " .. device[2]
  local body = '{{"installed": "fleet/1/onnx.tar", "result": {{"outcome": "installed", "target": "fleet/1/onnx.tar"}}}}'
  return wrk.format("PUT", "/v1/devices/" .. device[1] .. "/status", nil, body)
end
"""


def edgekit(*args: str, env: dict[str, str] | None = None) -> str:
    script = str(Path(sys.executable).parent / "edgekit")
    return subprocess.run([script, *args], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}).stdout


def enroll_fleet(home: Path, tokens_file: Path) -> float:
    """DEVICES devices straight into the database (as enrollment would leave them); seconds taken.
    The first REPORTING_DEVICES tokens are written for the status load."""
    from datetime import timedelta

    from sqlalchemy import insert

    from edgekit.server.db import Database, Device, utcnow
    from edgekit.server.settings import load_settings
    from edgekit.server.tokens import new_token, token_hash

    settings = load_settings(home)
    database = Database(settings.database_url)
    started = time.perf_counter()
    expires, now = utcnow() + timedelta(days=365), utcnow()
    lines = []
    with database.session() as session:
        for first in range(0, DEVICES, 10_000):
            rows = []
            for index in range(first, first + 10_000):
                token = new_token("d")
                rows.append({"id": f"dev-{index:06d}", "profile": "raspberry-pi-4b", "tags": [],
                             "token_hash": token_hash(settings.token_secret, token), "token_expires": expires,
                             "revoked": False, "enrolled": now})
                if index < REPORTING_DEVICES:
                    lines.append(f"dev-{index:06d} {token}")
            session.execute(insert(Device), rows)
    tokens_file.write_text("\n".join(lines) + "\n")
    database.engine.dispose()
    return time.perf_counter() - started


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict:
    result = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                            capture_output=True, text=True, check=True, timeout=seconds + 60)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    summary["requests_per_second"] = summary["requests"] / (summary["duration_us"] / 1e6)
    summary["connections"] = connections
    return summary


def publish_timings(url: str, admin_key: str, artifact: Path) -> dict:
    from edgekit_runtime.archive import pack

    from edgekit.artifact import Artifact, read_benchmarks
    from edgekit.fleet.client import AdminClient

    client = AdminClient(url, admin_key)
    timings = {}
    started = time.perf_counter()
    loaded = Artifact.load(artifact)
    uploaded = client.upload(pack(loaded.path))
    client.request("POST", "/v1/admin/releases", json={"model": "fleet", "upload": uploaded["sha256"],
                                                       "profiles": ["raspberry-pi-4b"], "bench": read_benchmarks(loaded)})
    timings["publish_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    rollout = client.request("POST", "/v1/admin/rollouts", json={"model": "fleet", "stages": [1, 10, 50, 100]})
    timings["rollout_start_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    client.request("POST", f"/v1/admin/rollouts/{rollout['id']}/promote")
    timings["rollout_promote_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    status = client.request("GET", f"/v1/admin/rollouts/{rollout['id']}")
    timings["rollout_status_seconds"] = time.perf_counter() - started
    timings["devices_in_scope"] = status["devices"]["in_scope"]
    client.close()
    return timings


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# The update server under fleet load",
        "",
        (f"{machine_line(machine)}; the server (uvicorn, SQLite) and "
         f"wrk share it. {DEVICES:,} enrolled devices; status reports rotate over {REPORTING_DEVICES:,} device tokens."),
        "",
    ]
    for result in results:
        if "publish_seconds" in result:
            lines += ["## Publishing and rollout changes", "",
                      f"- enrolling {DEVICES:,} devices into the database: {result['enroll_seconds']:.1f} s",
                      f"- publish (upload + verify + register + re-sign): {result['publish_seconds']:.3f} s",
                      (f"- rollout start: {result['rollout_start_seconds']:.3f} s; promote: {result['rollout_promote_seconds']:.3f} s;"
                       f" status over {result['devices_in_scope']:,} devices: {result['rollout_status_seconds']:.3f} s"), ""]
            continue
        lines += [f"## {result['workers']} worker(s)", "",
                  "| load | connections | requests/s | p50 ms | p90 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, run in result["runs"].items():
            lines.append(f"| {name} | {run['connections']} | {run['requests_per_second']:,.0f} | {run['p50_us'] / 1000:.2f} | "
                         f"{run['p90_us'] / 1000:.2f} | {run['p99_us'] / 1000:.2f} | {run['status_errors'] + run['socket_errors']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "5-second runs instead of 10")
    if shutil.which("wrk") is None:
        raise SystemExit("bench_server needs wrk: apt-get install wrk")
    seconds = 5 if args.quick else 10
    import httpx

    from edgekit import compile_bundle, train_bundle
    from edgekit.devices import load_profile

    with scratch() as work:
        bundle = train_bundle("bundled:breast-cancer", work / "bundle")
        artifact = compile_bundle(bundle, "onnx", work / "onnx", device=load_profile("raspberry-pi-4b")).path
        admin_key = json.loads(edgekit("server", "init", "--home", str(work / "server"), "--json"))["admin_key"]
        tokens = work / "tokens.txt"
        enroll_seconds = enroll_fleet(work / "server", tokens)
        results = []
        for workers in (1, 2):
            port = 18_000 + workers
            url = f"http://127.0.0.1:{port}"
            process = start_server(work / "server", port, workers)
            try:
                if workers == 1:
                    results.append({"enroll_seconds": enroll_seconds, **publish_timings(url, admin_key, artifact)})
                etag = httpx.get(f"{url}/metadata/timestamp.json").headers["etag"]
                (work / "poll.lua").write_text(POLL.format(etag=etag) + DONE_HOOK)
                (work / "fetch.lua").write_text(DONE_HOOK)
                (work / "status.lua").write_text(STATUS.format(tokens=str(tokens)) + DONE_HOOK)
                runs = {}
                for connections in (8, 64):
                    runs[f"304 polls, {connections} connections"] = wrk(f"{url}/metadata/timestamp.json", work / "poll.lua", connections, seconds)
                runs["full timestamp fetches"] = wrk(f"{url}/metadata/timestamp.json", work / "fetch.lua", 8, seconds)
                runs["status reports"] = wrk(url, work / "status.lua", 8, seconds)
                results.append({"workers": workers, "runs": runs})
            finally:
                process.terminate()
                process.wait(timeout=30)
    stem = "bench_server_quick" if args.quick else "bench_server"
    version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    print(write_results(args.out, stem, results, markdown, wrk=version).read_text())


if __name__ == "__main__":
    main()
