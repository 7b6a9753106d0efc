"""The device's calls to the update server's API (enroll, status, telemetry), with its token.
Every failure is one ServerUnavailable (retry later) or a RuntimeFailure (the server said no)."""

from __future__ import annotations

import json
from typing import Any

import urllib3

from ..errors import InvalidInput, RuntimeFailure
from .config import AgentConfig


class ServerUnavailable(RuntimeFailure):
    """Network down, DNS failure, timeout or a 5xx: keep serving the current model, try later."""


class DeviceApi:
    def __init__(self, server: str, config: AgentConfig, token: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.config = config
        timeout = urllib3.Timeout(connect=config.request_timeout_seconds, read=config.request_timeout_seconds)
        self._pool = urllib3.PoolManager(timeout=timeout, retries=urllib3.Retry(total=0))
        self._token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, limit: int = 1 << 20) -> Any:
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        payload = json.dumps(body).encode() if body is not None else None
        if payload is not None and len(payload) > limit:
            raise InvalidInput(f"{path}: a {len(payload)}-byte report is over the {limit}-byte limit", "report less")
        try:
            response = self._pool.request(method, f"{self.server}{path}", body=payload, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ServerUnavailable(f"{self.server} is unreachable ({exc.__class__.__name__})", "the agent retries later") from exc
        if response.status >= 500 or response.status == 429:
            raise ServerUnavailable(f"{method} {path}: HTTP {response.status}", "the agent retries later")
        try:
            document = json.loads(response.data) if response.data else None
        except ValueError:  # not JSON, or not even UTF-8 (a captive portal's page)
            document = None
        if response.status >= 400:
            reason = document.get("error") if isinstance(document, dict) else response.data[:200].decode(errors="replace")
            raise RuntimeFailure(f"{method} {path}: HTTP {response.status}: {reason}", "check the device's enrollment")
        return document

    def enroll(self, enrollment_token: str, profile: str | None, tags: list[str], model: str) -> dict[str, Any]:
        """Enroll for ``model``: the server then accepts reports about that model's releases only."""
        return self._call("POST", "/v1/devices", {"enrollment_token": enrollment_token, "profile": profile, "tags": tags,
                                                  "model": model})

    def trusted_root(self) -> bytes:
        """The first root version, fetched at enrollment (trust on first use; --root FILE avoids it)."""
        try:
            response = self._pool.request("GET", f"{self.server}/metadata/1.root.json")
        except urllib3.exceptions.HTTPError as exc:
            raise ServerUnavailable(f"{self.server} is unreachable ({exc.__class__.__name__})", "try again") from exc
        if response.status != 200:
            raise RuntimeFailure(f"{self.server}/metadata/1.root.json: HTTP {response.status}", "is this an edgekit server?")
        return response.data

    def own_record(self, device_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/devices/{device_id}")

    def report_status(self, device_id: str, installed: str | None, result: dict[str, Any] | None) -> None:
        self._call("PUT", f"/v1/devices/{device_id}/status", {"installed": installed, "result": result})

    def report_telemetry(self, device_id: str, report: dict[str, Any]) -> None:
        self._call("POST", f"/v1/devices/{device_id}/telemetry", report, limit=self.config.max_telemetry_bytes)
