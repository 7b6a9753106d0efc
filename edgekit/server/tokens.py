"""Bearer tokens: API keys, enrollment tokens and device tokens. Only an HMAC of each token is
stored (keyed with the server's token secret), so a copy of the database lets nobody in."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(kind: str) -> str:
    """A fresh token, its kind readable in logs and bug reports: ``ek<kind>_<43 random chars>``."""
    return f"ek{kind}_{secrets.token_urlsafe(32)}"


def token_hash(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def pin_tag(secret: str, device_id: str) -> str:
    """What the signed targets name a pinned device by: a keyed hash of its id, so the public
    metadata does not list the fleet's device ids; the device learns its own tag at enrollment."""
    return hmac.new(secret.encode(), f"pin\x00{device_id}".encode(), hashlib.sha256).hexdigest()[:32]


def new_id(length: int = 12) -> str:
    return secrets.token_hex(length // 2)
