"""The Dask cluster a run uses: a LocalCluster of worker processes it starts and tears down, or an
existing scheduler it connects to (and leaves running)."""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import BadInput

DEFAULT_WORKERS = 2
CONNECT_TIMEOUT = 10.0  # seconds to reach a --scheduler before saying it does not answer
# A worker with pandas, pyarrow and XGBoost loaded holds ~240 MiB before any data, and peaked at
# 350-440 MB while training (the Dask memory test, benchmarks/fleet/training.py); Dask pauses a worker
# at 80 % of its limit. 512 MiB is the smallest limit the test suite proves a run completes in.
MIN_WORKER_MEMORY = 512 * 2**20


@dataclass(frozen=True)
class ClusterInfo:
    scheduler: str  # "local" or the address given
    workers: int
    threads_per_worker: int
    memory_limit: int | None  # bytes per worker; None when the scheduler's workers set their own


def parse_memory(text: str) -> int:
    from dask.utils import parse_bytes

    try:
        limit = int(parse_bytes(text))
    except (ValueError, TypeError) as exc:
        raise BadInput(f"--worker-memory {text!r} is not a size", "e.g. --worker-memory 2GiB or 512MB") from exc
    if limit < MIN_WORKER_MEMORY:
        raise BadInput(f"--worker-memory {text}: below {MIN_WORKER_MEMORY // 2**20} MiB a worker cannot hold XGBoost itself",
                       f"give each worker at least {MIN_WORKER_MEMORY // 2**20}MiB")
    return limit


@contextmanager
def dask_client(scheduler: str | None, workers: int | None, worker_memory: str | None) -> Iterator[tuple[object, ClusterInfo]]:
    """A connected ``distributed.Client`` and what it runs on."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if workers is not None or worker_memory is not None:
            raise BadInput("--workers and --worker-memory size a local cluster; a --scheduler's cluster is sized already",
                           "drop them, or drop --scheduler to start a local cluster")
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BadInput(f"no Dask scheduler answers at {scheduler} (waited {CONNECT_TIMEOUT:g} s)",
                           "start one (dask scheduler) and pass its tcp://HOST:PORT, or leave out --scheduler for a local cluster") from exc
        with client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            if not info:
                raise BadInput(f"the Dask scheduler at {scheduler} has no workers", "start workers (dask worker ADDRESS)")
            threads = min(worker["nthreads"] for worker in info.values())
            yield client, ClusterInfo(scheduler, len(info), threads, None)
        return
    count = DEFAULT_WORKERS if workers is None else workers
    if count < 1:
        raise BadInput(f"--workers {count}: a cluster needs at least one worker", f"e.g. --workers {DEFAULT_WORKERS}")
    limit = parse_memory(worker_memory) if worker_memory is not None else None
    cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, memory_limit=limit or "auto",
                           host="127.0.0.1", scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR)
    try:
        with Client(cluster, set_as_default=False) as client:
            memory = min(worker["memory_limit"] for worker in client.scheduler_info(n_workers=-1)["workers"].values())
            yield client, ClusterInfo("local", count, 1, memory)
    finally:
        cluster.close()


def prepare_workers(client: object, modules: tuple[str, ...]) -> int:
    """Import what the tasks will use on every worker, up front; the largest resident size a worker
    then has before it reads any data (what its memory limit leaves for data is the limit minus this)."""
    return max(client.run(_import_and_measure, modules).values())  # type: ignore[attr-defined]


def _import_and_measure(modules: tuple[str, ...]) -> int:
    import importlib

    import psutil

    for module in modules:
        importlib.import_module(module)
    return int(psutil.Process().memory_info().rss)


def worker_processes(client: object) -> dict[str, tuple[int, int]]:
    """(pid, peak resident bytes) of every worker process: a worker Dask killed and restarted for
    exceeding its memory limit shows up as a new pid."""
    return client.run(_pid_and_peak)  # type: ignore[attr-defined]


def _pid_and_peak() -> tuple[int, int]:
    return os.getpid(), _own_peak_rss()


def _own_peak_rss() -> int:
    """This process's peak resident bytes. Linux: VmHWM, the high-water mark of this process's own
    memory map — getrusage's ru_maxrss survives fork and exec, so a worker spawned by a large parent
    (a long test process) would report the parent's size. Elsewhere ru_maxrss (KiB on Linux and BSD)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
