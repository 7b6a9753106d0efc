"""The admin side of the server's API, for the command line (``edgekit publish``, ``edgekit rollout``).
Every failure is one BadInput line: what the server said, or why it could not be reached. Writes
are retried safely after a lost connection (Idempotency-Key); a 429 is retried after its Retry-After."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx

from ..errors import BadInput

KEY_VARIABLE = "EDGEKIT_ADMIN_KEY"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
ATTEMPTS = 3  # a lost connection is retried (writes with their Idempotency-Key)
RATE_LIMITED_ATTEMPTS = 6  # a 429 (nothing was done) is sent again after its Retry-After
MAX_RETRY_AFTER = 30.0


class AdminClient:
    def __init__(self, url: str, key: str | None) -> None:
        key = key or os.environ.get(KEY_VARIABLE)
        if not key:
            raise BadInput("no admin key", f"pass --admin-key or set {KEY_VARIABLE} (edgekit server init printed it)")
        if not url.startswith(("http://", "https://")):
            raise BadInput(f"server URL {url!r} is not http(s)", "e.g. --server http://127.0.0.1:8080")
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {key}"})

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call. A write carries a fresh Idempotency-Key and is sent again with the same key
        when the connection fails before an answer arrives: the server applies it at most once."""
        if method == "POST":
            kwargs["headers"] = {"Idempotency-Key": str(uuid.uuid4()), **kwargs.get("headers", {})}
        for _ in range(RATE_LIMITED_ATTEMPTS):
            response = self._send(method, path, **kwargs)
            if response.status_code != 429:
                break
            # the address's rate limit (shared with devices behind the same NAT or on the same host)
            time.sleep(min(MAX_RETRY_AFTER, float(response.headers.get("retry-after", "1") or 1)))
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text[:200]
            raise BadInput(f"the server refused {method} {path} (HTTP {response.status_code}): {message}",
                           "check the admin key" if response.status_code == 401 else "")
        return response.json() if response.content else None

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:  # (a write that timed out and is still running there: the retry waits for its answer)
                    raise BadInput(f"cannot reach the server at {self.url} ({exc.__class__.__name__})", "is edgekit server run up?") from exc
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def upload(self, data: bytes) -> dict[str, Any]:
        return self.request("POST", "/v1/admin/uploads", content=data, headers={"Content-Type": "application/x-tar"})

    def close(self) -> None:
        self._client.close()
