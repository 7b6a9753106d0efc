"""``edgekit fleet simulate``: N lightweight devices in one process (asyncio), for rollout demos and
load tests against a real server.

Each simulated device enrolls, then polls timestamp.json with its ETag like an agent. The signed
metadata is verified once per version by one python-tuf client shared by the fleet (verifying it
a thousand times would measure this process, not the server); each device evaluates the signed
rollout rule for itself, downloads the release it is assigned (checking the signed sha256), and
reports its status. Whether a release passes its smoke test is decided once per release by the
real harness (unpack, verify, smoke test), and every device that installs it reports that outcome.
With sensor feeds (sim_telemetry.py), each device also predicts rows of its cohort's data with the
release it runs and reports the telemetry the device agent would.

A run leaves no devices behind: each device also carries the run's own tag (``run:simulated-…``, a
bookkeeping tag the monitor makes no cohort of), and ``simulate`` deletes every device with that tag
through the admin API when the run ends, however it ends. Deleting rather than reusing them: a
reused fleet would need its device tokens kept on disk between runs and matched to a server and a
--devices count that may have changed; its telemetry already sits in the server's rollups.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from edgekit_runtime.archive import unpack
from edgekit_runtime.errors import RuntimeFailure
from edgekit_runtime.rollout_rule import DeviceIdentity, choose_release
from edgekit_runtime.smoke import smoke_test

from ..errors import BadInput
from .sim_telemetry import ReleaseModels, SensorFeed, device_report


@dataclass
class SimulatedDevice:
    device_id: str
    token: str
    profile: str
    tags: frozenset[str]
    pin_tag: str | None = None
    installed: str | None = None
    refused: set[str] = field(default_factory=set)
    etag: str | None = None
    index: int = 0  # where this device reads its feed
    reported_at: float = 0.0


@dataclass
class FleetRun:
    devices: int
    seconds: float
    requests: int
    converged: bool
    installed: dict[str, int]  # target path (or "none") -> devices running it
    failed: dict[str, int]  # target path -> devices whose smoke test refused it
    timeline: list[dict[str, Any]]
    unreachable: int = 0  # polls that found no server (each device kept its model and polled again)
    stopped: str = "timed out"  # why the run ended: "converged" (--until-converged), "timed out" (--seconds), "told to"
    run_tag: str = ""  # the tag every device of the run carried
    removed: int | None = None  # devices deleted at the end (None: kept)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class SignedView:
    """The fleet's shared, verified view of the repository (python-tuf), refreshed per timestamp."""

    def __init__(self, server: str, work: Path) -> None:
        import urllib.request

        from tuf.ngclient import Updater

        self.server, self.work = server, work
        self._root = urllib.request.urlopen(f"{server}/metadata/1.root.json", timeout=10).read()
        self._updater_type = Updater
        self.version: int | None = None
        self.targets: dict[str, Any] = {}
        self.smoke: dict[str, str] = {}  # sha256 -> "" (passes) or the reason it fails
        self.models = ReleaseModels(work)  # the releases that passed, unpacked: what devices predict with
        self._smoke_lock = threading.Lock()

    def refresh(self) -> None:
        from tuf.api.metadata import Metadata

        metadata = self.work / "tuf"
        metadata.mkdir(parents=True, exist_ok=True)
        updater = self._updater_type(str(metadata), f"{self.server}/metadata/", str(self.work), f"{self.server}/targets/",
                                     bootstrap=self._root)
        updater.refresh()
        self.targets = Metadata.from_file(str(metadata / "targets.json")).signed.targets
        self.version = Metadata.from_file(str(metadata / "timestamp.json")).signed.version

    def smoke_result(self, sha256: str, archive: bytes) -> str:
        with self._smoke_lock:  # devices download together: one of them tests, the others wait for its verdict
            return self._smoke_result(sha256, archive)

    def _smoke_result(self, sha256: str, archive: bytes) -> str:
        if sha256 not in self.smoke:
            directory = self.models.directory(sha256)
            try:
                unpack(archive, directory)
                smoke_test(directory)
                self.smoke[sha256] = ""
            except RuntimeFailure as exc:
                self.smoke[sha256] = exc.one_line()
                shutil.rmtree(directory, ignore_errors=True)
        return self.smoke[sha256]


class FleetSimulator:
    """Simulated devices; with ``feeds`` (device tag -> SensorFeed, "*" for the rest) they report
    telemetry of ``telemetry_rows`` rows (``timed_calls`` of them timed one by one) each round, at
    most once per ``report_seconds``. ``feeds`` may be changed between rounds (the data drifts)."""

    def __init__(self, server: str, model: str, profile: str, tags: list[str], poll_seconds: float, seed: int = 0,
                 feeds: dict[str, SensorFeed] | None = None, telemetry_rows: int = 100, timed_calls: int = 20,
                 report_seconds: float = 0.0) -> None:
        self.server = server.rstrip("/")
        self.model, self.profile, self.tags = model, profile, frozenset(tags)
        self.poll_seconds = poll_seconds
        self.rng = random.Random(seed)
        self.requests = 0
        self.devices: list[SimulatedDevice] = []
        self._work = tempfile.TemporaryDirectory(prefix="edgekit-fleet-")
        self.view = SignedView(self.server, Path(self._work.name))
        self._refreshing = asyncio.Lock()
        self.failed: dict[str, int] = {}
        self.feeds = feeds or {}
        self.telemetry_rows, self.timed_calls, self.report_seconds = telemetry_rows, timed_calls, report_seconds
        self.telemetry_sent = 0
        self.unreachable = 0  # polls that found no server

    async def _request(self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 429 (the server's per-address limit: the whole fleet is one address here)
        is retried after the Retry-After it names. A connection the server closed under a reused
        keep-alive socket is retried a few times, as a device would on its next poll."""
        transport_failures = 0
        for _ in range(60):
            self.requests += 1
            try:
                response = await client.request(method, f"{self.server}{path}", **kwargs)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                transport_failures += 1
                if transport_failures > 3:
                    raise
                await asyncio.sleep(0.1 * transport_failures)
                continue
            if response.status_code != 429:
                return response
            await asyncio.sleep(float(response.headers.get("retry-after", "1")) * (1 + self.rng.random()))
        return response

    async def enroll(self, client: httpx.AsyncClient, count: int, token: str, concurrency: int = 32,
                     tags: list[str] | None = None) -> None:
        """Enroll ``count`` more devices (with ``tags``, default the simulator's)."""
        limit = asyncio.Semaphore(concurrency)
        tags = sorted(self.tags if tags is None else tags)

        async def one(_: int) -> SimulatedDevice:
            async with limit:
                response = await self._request(client, "POST", "/v1/devices", json={
                    "enrollment_token": token, "profile": self.profile, "tags": tags, "model": self.model})
            if response.status_code != 201:
                raise BadInput(f"enrollment refused (HTTP {response.status_code}): {response.text[:200]}",
                               "use an enrollment token with enough uses for --devices")
            body = response.json()
            return SimulatedDevice(body["device_id"], body["device_token"], body["profile"], frozenset(body["tags"]), body.get("pin_tag"))

        enrolled = list(await asyncio.gather(*(one(index) for index in range(count))))
        for device in enrolled:
            device.index = len(self.devices) * 997  # devices read different rows of their feed
            self.devices.append(device)

    def assigned(self, device: SimulatedDevice) -> str | None:
        identity = DeviceIdentity(device.device_id, device.profile, device.tags, device.pin_tag)
        return choose_release(((path, target.custom) for path, target in self.view.targets.items() if path not in device.refused),
                              self.model, identity)

    async def _poll(self, client: httpx.AsyncClient, device: SimulatedDevice) -> None:
        from tuf.api.exceptions import DownloadError

        try:
            await self._update(client, device)
            if self.feeds and device.installed is not None and time.monotonic() - device.reported_at >= self.report_seconds:
                await self._report(client, device)
        except (httpx.TransportError, DownloadError):
            self.unreachable += 1  # the server (or nginx before it) is down: the device keeps its model, polls again

    async def _report(self, client: httpx.AsyncClient, device: SimulatedDevice) -> None:
        feed = next((self.feeds[tag] for tag in sorted(device.tags) if tag in self.feeds), self.feeds.get("*"))
        release = self.view.models.get(self.view.targets[device.installed].hashes["sha256"]) if device.installed in self.view.targets else None
        if feed is None or release is None or release[0].schema is None:
            return
        model, baseline = release
        now = time.monotonic()
        rows = feed.rows(model, device.index, self.telemetry_rows)
        device.index += self.telemetry_rows
        payload = device_report(model, baseline, device.installed, rows, self.timed_calls,
                                now - device.reported_at if device.reported_at else 0.0)
        device.reported_at = now
        response = await self._request(client, "POST", f"/v1/devices/{device.device_id}/telemetry",
                                       headers={"Authorization": f"Bearer {device.token}"}, json=payload)
        if response.status_code == 202:
            self.telemetry_sent += 1

    async def _update(self, client: httpx.AsyncClient, device: SimulatedDevice) -> None:
        headers = {"If-None-Match": device.etag} if device.etag else {}
        response = await self._request(client, "GET", "/metadata/timestamp.json", headers=headers)
        if response.status_code == 200:
            device.etag = response.headers.get("etag")
            version = response.json()["signed"]["version"]
            async with self._refreshing:
                if self.view.version != version:
                    await asyncio.to_thread(self.view.refresh)
        elif response.status_code != 304:
            return
        chosen = self.assigned(device)
        if chosen is None or chosen == device.installed:
            return
        target = self.view.targets[chosen]
        sha256 = target.hashes["sha256"]
        directory, name = chosen.rsplit("/", 1)
        download = await self._request(client, "GET", f"/targets/{directory}/{sha256}.{name}",
                                       headers={"Authorization": f"Bearer {device.token}"})
        if download.status_code != 200 or hashlib.sha256(download.content).hexdigest() != sha256:
            return  # refused like the agent: a later poll tries again
        problem = await asyncio.to_thread(self.view.smoke_result, sha256, download.content)
        if problem:
            device.refused.add(chosen)
            self.failed[chosen] = self.failed.get(chosen, 0) + 1
            result = {"outcome": "failed", "target": chosen, "detail": f"smoke test: {problem}"[:2000]}
        else:
            device.installed = chosen
            result = {"outcome": "installed", "target": chosen, "detail": ""}
        await self._request(client, "PUT", f"/v1/devices/{device.device_id}/status",
                            headers={"Authorization": f"Bearer {device.token}"},
                            json={"installed": device.installed, "result": result})

    def converged(self) -> bool:
        return all(self.assigned(device) in (None, device.installed) for device in self.devices)

    def census(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for device in self.devices:
            counts[device.installed or "none"] = counts.get(device.installed or "none", 0) + 1
        return dict(sorted(counts.items()))

    async def run(self, client: httpx.AsyncClient, seconds: float, until_converged: bool, on_round=None, until=None) -> FleetRun:
        """Poll rounds for at most ``seconds``; stop early when converged (if asked) or ``until()`` says so."""
        started = time.monotonic()
        timeline = []
        while True:
            round_started = time.monotonic()
            await asyncio.gather(*(self._poll(client, device) for device in self.devices))
            elapsed = time.monotonic() - started
            snapshot = {"seconds": round(elapsed, 2), "installed": self.census()}
            if not timeline or timeline[-1]["installed"] != snapshot["installed"]:
                timeline.append(snapshot)
                if on_round is not None:
                    on_round(snapshot)
            if until_converged and self.view.version is not None and self.converged():
                stopped = "converged"
                break
            if elapsed >= seconds:
                stopped = "timed out"
                break
            if until is not None and await asyncio.to_thread(until):
                stopped = "told to"
                break
            await asyncio.sleep(max(0.0, self.poll_seconds * (1 + self.rng.uniform(-0.2, 0.2)) - (time.monotonic() - round_started)))
        return FleetRun(len(self.devices), round(time.monotonic() - started, 3), self.requests,
                        self.view.version is not None and self.converged(), self.census(), dict(self.failed), timeline, self.unreachable,
                        stopped)

    def close(self) -> None:
        self._work.cleanup()


def new_run_tag() -> str:
    """The tag that marks one run's devices (a bookkeeping tag: server/monitoring/drift.py)."""
    return f"run:simulated-{secrets.token_hex(6)}"


def delete_devices(admin: Any, tag: str) -> int:
    """Delete every device carrying ``tag`` through the admin API (an AdminClient); how many there were."""
    return int(admin.request("DELETE", "/v1/admin/devices", params={"tag": tag})["deleted"])


async def simulate(server: str, devices: int, model: str, profile: str, tags: list[str], enrollment_token: str,
                   poll_seconds: float, seconds: float, until_converged: bool, on_round=None,
                   feeds: dict[str, SensorFeed] | None = None, remove: Callable[[str], int] | None = None) -> FleetRun:
    """Enroll ``devices`` tagged with ``tags`` and a new run tag, run them; then ``remove(run tag)``
    (e.g. delete_devices), also when the run failed or was interrupted. ``remove`` None keeps them."""
    run_tag = new_run_tag()
    simulator = FleetSimulator(server, model, profile, [*tags, run_tag], poll_seconds, feeds=feeds,
                               report_seconds=1.0 if feeds else 0.0)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await simulator.enroll(client, devices, enrollment_token)
            run = await simulator.run(client, seconds, until_converged, on_round)
    finally:
        simulator.close()
        removed = await asyncio.to_thread(remove, run_tag) if remove is not None else None
    run.run_tag, run.removed = run_tag, removed
    return run


def served_requests(server: str) -> int:
    """The requests the server has answered so far, from its Prometheus counters."""
    text = httpx.get(f"{server.rstrip('/')}/metrics", timeout=10).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("edgekit_http_requests_total{")))
