"""Posting new alerts to the operator's webhook: one JSON POST per monitor pass, signed with
HMAC-SHA256 when a webhook secret is set (header ``X-Edgekit-Signature: sha256=<hex>`` over the
exact body), so the receiver can tell the server's posts from anyone else's."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

TIMEOUT_SECONDS = 5.0


def post_alerts(url: str, secret: str, alerts: list[dict[str, Any]]) -> str:
    """"sent", or one line saying why not (a webhook that is down must not stop the monitor)."""
    body = json.dumps({"source": "edgekit", "alerts": alerts}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Edgekit-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return f"not sent: {exc.__class__.__name__}: {exc}"[:300]
    return "sent" if response.is_success else f"not sent: HTTP {response.status_code}"
