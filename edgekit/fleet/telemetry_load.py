"""Telemetry load from outside: enrolled devices (over HTTP) sending reports concurrently to one
or more server URLs, counting every answer, so a test can compare what got a 202 with what the
server's rollups hold."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class LoadDevice:
    device_id: str
    token: str


@dataclass
class LoadResult:
    sent: int = 0
    accepted_reports: int = 0
    accepted_rows: int = 0  # the sum of counters.rows over the reports that got a 202
    answers: dict[str, int] = field(default_factory=dict)  # status code (or the transport error's name) -> count
    latencies: list[float] = field(default_factory=list)  # seconds, of the 202s
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None
        return {"sent": self.sent, "accepted": self.accepted_reports, "answers": self.answers,
                "accepted_per_second": round(self.accepted_reports / self.seconds, 1) if self.seconds else 0.0,
                "p99_ms": round(p99 * 1000, 2) if p99 is not None else None, "seconds": round(self.seconds, 2)}


async def enroll(client: httpx.AsyncClient, url: str, admin_key: str, count: int, profile: str, model: str,
                 installed: str | None, tags_of=lambda index: []) -> list[LoadDevice]:
    """``count`` devices enrolled with one multi-use token; each reports ``installed`` in its status."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    token = (await client.post(f"{url}/v1/admin/enrollment-tokens", headers=headers,
                               json={"profile": profile, "uses": count})).raise_for_status().json()["token"]
    gate = asyncio.Semaphore(16)

    async def one(index: int) -> LoadDevice:
        async with gate:
            body = {"enrollment_token": token, "model": model, "tags": tags_of(index)}
            enrolled = (await client.post(f"{url}/v1/devices", json=body)).raise_for_status().json()
            device = LoadDevice(enrolled["device_id"], enrolled["device_token"])
            if installed is not None:
                (await client.put(f"{url}/v1/devices/{device.device_id}/status", json={"installed": installed},
                                  headers={"Authorization": f"Bearer {device.token}"})).raise_for_status()
            return device

    return list(await asyncio.gather(*(one(index) for index in range(count))))


def report_body(release: str | None, index: int) -> dict[str, Any]:
    """A report whose row count is known from ``index`` (1..97), so sums can be checked exactly."""
    rows = 1 + index % 97
    return {"release": release, "period_seconds": 60, "counters": {"rows": rows, "rows_with_violations": index % 2},
            "predictions": {"kind": "classes", "counts": [rows, 0]},
            "latency_us": {"buckets": [100.0, 1000.0], "counts": [rows, 0, 0]}}


async def send(urls: list[str], devices: list[LoadDevice], release: str | None, reports: int, concurrency: int,
               seconds: float, timeout: float = 30.0) -> LoadResult:
    """Up to ``reports`` reports (or until ``seconds`` pass) from ``devices`` in turn, ``concurrency``
    at a time, spread over ``urls``."""
    result = LoadResult()
    counter = iter(range(reports))
    started = time.monotonic()
    deadline = started + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for index in counter:
            if time.monotonic() > deadline:
                return
            device = devices[index % len(devices)]
            body = report_body(release, index)
            result.sent += 1
            began = time.monotonic()
            try:
                response = await client.post(f"{urls[index % len(urls)]}/v1/devices/{device.device_id}/telemetry", json=body,
                                             headers={"Authorization": f"Bearer {device.token}"})
                answer = str(response.status_code)
            except httpx.HTTPError as exc:
                answer = type(exc).__name__
            result.answers[answer] = result.answers.get(answer, 0) + 1
            if answer == "202":
                result.latencies.append(time.monotonic() - began)
                result.accepted_reports += 1
                result.accepted_rows += body["counters"]["rows"]

    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result
