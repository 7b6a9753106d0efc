"""An `edgekit server run` process for the fleet benchmarks that put it under load (bench_server.py,
polls.py, telemetry.py, which import it as a sibling module): started on 127.0.0.1 and handed back
once it answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# wrk's connections all come from 127.0.0.1: the per-address rate limit would throttle the load itself
UNLIMITED_ADDRESS_RATE = {"EDGEKIT_IP_RATE_PER_SECOND": "1000000", "EDGEKIT_IP_BURST": "1000000"}


def start_server(home: Path, port: int, workers: int, env: dict[str, str] | None = None, source: Path | None = None,
                 settle_per_worker: float = 0.5, new_session: bool = False) -> subprocess.Popen:
    """`edgekit server run --home HOME --port PORT --workers WORKERS`, returned once /readyz answers 200
    and ``settle_per_worker`` seconds a worker have passed (/readyz answers when the first is up).

    ``env`` is added to this process's environment. ``source`` runs the edgekit of another source tree
    (``python -m edgekit.cli`` from it) instead of the one installed beside this Python. ``new_session``
    puts the server in a process group of its own, so that the caller can signal master and workers
    together (os.killpg). A server that exits or does not answer within 60 s is killed: SystemExit."""
    environment = {**os.environ, **UNLIMITED_ADDRESS_RATE, **(env or {})}
    if source is None:
        command, cwd = [str(Path(sys.executable).parent / "edgekit")], None
    else:  # python -m puts the working directory first on sys.path: it must be the tree's
        command, cwd = [sys.executable, "-m", "edgekit.cli"], source
        environment["PYTHONPATH"] = f"{source}:{source / 'runtimes' / 'python'}"
    process = subprocess.Popen([*command, "server", "run", "--home", str(home), "--port", str(port), "--workers", str(workers)],
                               env=environment, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=new_session)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/readyz", process)
    except SystemExit:
        if process.poll() is None and new_session:
            os.killpg(process.pid, signal.SIGKILL)  # the workers too, not only their master
        elif process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        raise
    time.sleep(settle_per_worker * workers)  # every worker up
    return process


def wait_until_answers(url: str, process: subprocess.Popen, seconds: float = 60.0) -> None:
    """Returns once GET ``url`` answers 200; SystemExit if ``process`` (what serves it) exits first
    or ``seconds`` pass."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")
