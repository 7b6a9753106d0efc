"""Request limits: body size (413 before the body is read when Content-Length says so, or as soon
as a streamed body passes the limit) and rate limits per key (token buckets; 429 with Retry-After).

Rate limits are per server process: with N processes behind a load balancer a client gets at most
N times the rate, which still bounds a misbehaving device or address.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class TokenBuckets:
    """``rate`` requests per second with bursts of ``burst``, per key; bounded memory (LRU)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 200_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if tokens >= 1 else tokens, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


async def _reply(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    raw += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware: body limits per path prefix, and a rate limit per client address on the API
    and the dashboard (signed metadata and artifacts are exempt: they are static, cacheable and cheap)."""

    def __init__(self, app: Callable[..., Awaitable[None]], default_limit: int, limits: dict[str, int],
                 per_ip: TokenBuckets, rate_limited_prefixes: tuple[str, ...] = ("/v1/", "/dashboard")) -> None:
        self.app, self.default_limit, self.limits, self.per_ip = app, default_limit, limits, per_ip
        self.prefixes = rate_limited_prefixes  # the API, and the dashboard (each sign-in attempt is a database lookup)

    def _limit(self, path: str) -> int:
        """The limit for ``path``: a "*suffix" key matches the end of a path, any other key its start."""
        suffixes = [limit for key, limit in self.limits.items() if key.startswith("*") and path.endswith(key[1:])]
        prefixes = [limit for key, limit in self.limits.items() if not key.startswith("*") and path.startswith(key)]
        return next(iter(suffixes or prefixes), self.default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(self.prefixes):
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.per_ip.take(client)
            if wait:
                await _reply(send, 429, "too many requests from this address", {"retry-after": str(math.ceil(wait))})
                return
        limit = self._limit(path)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _reply(send, 413, f"the body of {int(declared)} bytes is over this endpoint's limit of {limit}")
                return
        received, started, refused = 0, False, False

        async def counting_receive() -> dict[str, Any]:
            # Past the limit, answer 413 now and tell the app the client left: frameworks turn an
            # exception raised while reading the body into their own 400, so none is raised.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    if not started:
                        await _reply(send, 413, f"the body is over this endpoint's limit of {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; drop what the app says about the lost body
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
