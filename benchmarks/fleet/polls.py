"""Conditional polls (If-None-Match → 304 on timestamp.json) through nginx serving the static mirror,
against uvicorn alone with 1 and 2 workers: what a fleet does every poll interval.

Every server runs on 127.0.0.1 at once (idle while another is measured); wrk (Debian package wrk, 2
threads) drives one of them at a time for a bounded number of seconds, in interleaved rounds (the
order rotates each round, so drift in the machine's load falls on every server alike); the figures
are medians over the rounds. wrk's Lua done() hook reports requests and latency percentiles. wrk,
nginx and uvicorn share this machine's cores: a client elsewhere would leave nginx more of them.

    .venv/bin/python benchmarks/fleet/polls.py [--out benchmarks/results] [--quick]

``measure_polls(work, seconds, rounds)`` is the function a fleet-wide benchmark calls.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_process import start_server, wait_until_answers
from timing import arguments, machine_line, scratch, write_results
from wrk_load import DONE_HOOK, free_port

CONNECTIONS = 64
TARGET = {"requests_per_second": 20_000, "p99_ms": 20.0}


def _edgekit() -> str:
    return str(Path(sys.executable).parent / "edgekit")


def _uvicorn(home: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = start_server(home, port, workers, new_session=True)  # its own group: measure_polls stops master and workers
    return process, f"http://127.0.0.1:{port}"


def _nginx(home: Path, upstream: str, prefix: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    subprocess.run([_edgekit(), "server", "nginx-config", "--home", str(home), "--listen", f"127.0.0.1:{port}",
                    "--upstream", upstream.removeprefix("http://"), "--standalone", str(prefix), "--out", str(prefix / "nginx.conf")],
                   check=True, capture_output=True)
    process = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(f"{url}/metadata/timestamp.json", process)
    return process, url


def _wrk(url: str, etag: str, script: Path, seconds: int) -> dict:
    script.write_text(f'wrk.headers["If-None-Match"] = {json.dumps(etag)}\n' + DONE_HOOK)
    result = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), f"{url}/metadata/timestamp.json"],
                            capture_output=True, text=True, check=True, timeout=seconds + 60)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"requests_per_second": summary["requests"] / (summary["duration_us"] / 1e6), "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000, "errors": summary["status_errors"] + summary["socket_errors"]}


def measure_polls(work: Path, seconds: int = 5, rounds: int = 3) -> list[dict]:
    """Polls/s and latency (medians over ``rounds`` interleaved runs of ``seconds``) for uvicorn with
    1 and 2 workers and for nginx in front of the 1-worker server; one dict per server."""
    import httpx

    if shutil.which("wrk") is None or shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise SystemExit("the poll benchmark needs wrk and nginx: apt-get install wrk nginx")
    home = work / "server"
    subprocess.run([_edgekit(), "server", "init", "--home", str(home), "--json"], check=True, capture_output=True)
    processes: list[subprocess.Popen] = []
    try:
        servers = {}
        for workers in (1, 2):
            process, url = _uvicorn(home, workers)
            processes.append(process)
            servers[f"uvicorn, {workers} worker{'s' if workers > 1 else ''}"] = url
        process, url = _nginx(home, servers["uvicorn, 1 worker"], work / "nginx")
        processes.append(process)
        servers["nginx (static mirror)"] = url
        etags = {name: httpx.get(f"{url}/metadata/timestamp.json").headers["etag"] for name, url in servers.items()}
        samples: dict[str, list[dict]] = {name: [] for name in servers}
        names = list(servers)
        for index in range(rounds):
            for name in names[index % len(names):] + names[:index % len(names)]:
                run = _wrk(servers[name], etags[name], work / "poll.lua", seconds)
                if run["errors"]:
                    raise SystemExit(f"{name}: {run['errors']} errors (a 304 was expected for every poll)")
                samples[name].append(run)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    return [{"server": name, "connections": CONNECTIONS, "seconds": seconds, "rounds": rounds,
             **{key: statistics.median(run[key] for run in runs) for key in ("requests_per_second", "p50_ms", "p99_ms")},
             "samples": runs} for name, runs in samples.items()]


def markdown(results: list[dict], machine: dict) -> str:
    lines = ["# Conditional polls: nginx serving the static mirror vs. uvicorn alone", "",
             (f"{machine_line(machine)}; wrk (2 threads, {results[0]['connections']} connections), nginx and uvicorn share it. "
              f"Each figure is the median of {results[0]['rounds']} interleaved runs of {results[0]['seconds']} s; every answer "
              f"was a 304. Target: {TARGET['requests_per_second']:,} polls/s through nginx with p99 <= {TARGET['p99_ms']:.0f} ms."), "",
             "| server | polls/s (304) | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    for result in results:
        lines.append(f"| {result['server']} | {result['requests_per_second']:,.0f} | {result['p50_ms']:.2f} | {result['p99_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "1 round of 2-second runs instead of 3 rounds of 5")
    with scratch() as work:
        results = measure_polls(work, *((2, 1) if args.quick else (5, 3)))
    version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    nginx = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True, check=False).stderr.strip()
    print(write_results(args.out, "fleet_polls_quick" if args.quick else "fleet_polls", results, markdown, wrk=version, nginx=nginx).read_text())


if __name__ == "__main__":
    main()
