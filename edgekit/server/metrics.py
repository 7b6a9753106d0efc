"""Prometheus metrics in the text exposition format, without a client library: request counts
and durations per route template and status, plus gauges read from the database at scrape time."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.durations: dict[str, list[float]] = defaultdict(lambda: [0.0] * (len(BUCKETS) + 2))  # buckets, +Inf, sum

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            histogram = self.durations[route]
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    histogram[index] += 1
            histogram[len(BUCKETS)] += 1
            histogram[len(BUCKETS) + 1] += seconds

    def render(self, gauges: dict[str, float]) -> str:
        lines = ["# TYPE edgekit_http_requests_total counter"]
        with self._lock:
            for (method, route, status), count in sorted(self.requests.items()):
                lines.append(f'edgekit_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}')
            lines.append("# TYPE edgekit_http_request_seconds histogram")
            for route, histogram in sorted(self.durations.items()):
                for index, bound in enumerate(BUCKETS):
                    lines.append(f'edgekit_http_request_seconds_bucket{{route="{route}",le="{bound}"}} {histogram[index]:.0f}')
                lines.append(f'edgekit_http_request_seconds_bucket{{route="{route}",le="+Inf"}} {histogram[len(BUCKETS)]:.0f}')
                lines.append(f'edgekit_http_request_seconds_count{{route="{route}"}} {histogram[len(BUCKETS)]:.0f}')
                lines.append(f'edgekit_http_request_seconds_sum{{route="{route}"}} {histogram[len(BUCKETS) + 1]:.6f}')
        for name, value in sorted(gauges.items()):
            lines += [f"# TYPE edgekit_{name} gauge", f"edgekit_{name} {value}"]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Times every request under its route template (never the raw path: bounded label values)."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status[0], time.perf_counter() - started)
