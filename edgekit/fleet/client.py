"""The admin side of the server's API, for the command line (``edgekit publish``, ``edgekit rollout``).
Every failure is one BadInput line: what the server said, or why it could not be reached."""

from __future__ import annotations

import os
from typing import Any

import httpx

from ..errors import BadInput

KEY_VARIABLE = "EDGEKIT_ADMIN_KEY"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


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
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BadInput(f"cannot reach the server at {self.url} ({exc.__class__.__name__})", "is edgekit server run up?") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text[:200]
            raise BadInput(f"the server refused {method} {path} (HTTP {response.status_code}): {message}",
                           "check the admin key" if response.status_code == 401 else "")
        return response.json() if response.content else None

    def upload(self, data: bytes) -> dict[str, Any]:
        return self.request("POST", "/v1/admin/uploads", content=data, headers={"Content-Type": "application/x-tar"})

    def close(self) -> None:
        self._client.close()
