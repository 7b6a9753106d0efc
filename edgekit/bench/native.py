"""The artifact on this machine, through the device-side harness (``edgekit-runtime bench``) in a
child process: the loader that is timed is the loader that ships, and the peak memory is the
harness's own. A device profile sets the thread count (its cores) and a memory cap (its RAM
budget): the child is stopped the moment its resident memory passes the cap. Threads only split
batches (a single row always runs on the caller's thread), and never more than this machine has
cores: past that a run times the threads' contention, not the device.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckFailed

POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class NativeSettings:
    threads: int = 1
    memory_cap_bytes: int | None = None
    runs: int = 2000
    warmup: int = 200
    batch: int = 1000


def host_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def host_cores() -> int:
    """The cores this process may run on (its affinity mask: a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _resident_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_native(artifact: Path, settings: NativeSettings, checked: bool = True) -> dict[str, Any]:
    """Time the artifact here; the harness's figures plus the peak RSS the kernel saw and the cap."""
    command = [sys.executable, "-m", "edgekit_runtime.cli", "bench", str(artifact), "--json",
               "--runs", str(settings.runs), "--warmup", str(settings.warmup), "--batch", str(settings.batch),
               "--threads", str(settings.threads)]
    if not checked:
        command.append("--no-input-checks")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        returncode, peak, over_cap = _wait_watching(process.pid, settings.memory_cap_bytes)
        process.returncode = returncode
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if over_cap:
        return {"fits_memory_cap": False, "memory_cap_bytes": settings.memory_cap_bytes, "resident_bytes_when_stopped": peak,
                "threads": settings.threads, "note": "stopped: resident memory passed the device's RAM budget"}
    if returncode != 0:
        detail = " | ".join(stderr.strip().splitlines()[-2:]) or "no message"
        raise CheckFailed(f"the harness failed on {artifact} (exit {returncode}): {detail}", "run edgekit artifact verify on it")
    result = json.loads(stdout)
    result.update(memory_cap_bytes=settings.memory_cap_bytes, fits_memory_cap=True, host=host_cpu())
    return result


def _wait_watching(pid: int, cap: int | None) -> tuple[int, int, bool]:
    """Wait for the child, killing it if its resident memory passes ``cap`` or it runs too long:
    (exit code, the resident bytes last seen, whether the cap stopped it). One thread polls and
    reaps, so a signal never reaches a reused pid. (The harness reports its own peak: the rusage
    maximum of a child spawned by this large process would include this process's memory.)"""
    deadline, over_cap, resident = time.monotonic() + TIMEOUT_SECONDS, False, 0
    while True:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return os.waitstatus_to_exitcode(status), resident, over_cap
        resident = _resident_bytes(pid) or resident
        if not over_cap and cap is not None and resident > cap:
            over_cap = True
            os.kill(pid, signal.SIGKILL)
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(POLL_SECONDS)
