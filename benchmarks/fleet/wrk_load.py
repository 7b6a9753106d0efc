"""What the fleet benchmarks share about loading a server with wrk: the Lua hook that prints wrk's
summary as one JSON line, and a free port on 127.0.0.1."""

from __future__ import annotations

import socket

# wrk's done() hook: requests, duration, non-2xx answers, socket errors and latency percentiles (µs)
DONE_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
