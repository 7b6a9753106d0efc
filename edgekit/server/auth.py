"""Who is calling: an admin or operator API key, or a device token (``Authorization: Bearer …``).
A device token opens only that device's own records; the operator key reads, the admin key writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select

from .db import ApiKey, Device, utcnow
from .tokens import token_hash

CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Actor:
    kind: str  # admin, operator or device
    name: str  # "admin:<key id>", "device:<id>"
    device_id: str | None = None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send Authorization: Bearer <token>", headers=CHALLENGE)
    return token.strip()


def _holder(request: Request, table: type[ApiKey | Device], column: Any, token: str | None = None) -> Any:
    """The row whose stored token hash matches ``token`` (default: the request's bearer token), or None."""
    state = request.app.state
    token = _bearer(request) if token is None else token
    with state.database.session() as session:
        return session.scalar(select(table).where(column == token_hash(state.settings.token_secret, token)))


def api_key(request: Request, roles: tuple[str, ...], token: str | None = None, challenge: dict[str, str] = CHALLENGE) -> Actor:
    """The API key holder (of ``token``, default the bearer token) if its role is one of ``roles``;
    401 with ``challenge`` for an unknown or revoked key, 403 for another role."""
    key = _holder(request, ApiKey, ApiKey.key_hash, token)
    if key is None or key.revoked:
        raise HTTPException(401, "unknown or revoked API key", headers=challenge)
    if key.role not in roles:
        raise HTTPException(403, f"this endpoint needs the {' or '.join(roles)} key; this is a {key.role} key")
    return Actor(key.role, f"{key.role}:{key.key_id}")


def admin(request: Request) -> Actor:
    return api_key(request, ("admin",))


def reader(request: Request) -> Actor:
    return api_key(request, ("admin", "operator"))


def device(request: Request, device_id: str) -> Actor:
    """The device the token belongs to; it must be the one in the path. Rate-limited per device."""
    return device_holding(request, device_id, _holder(request, Device, Device.token_hash))


async def reporting_device(request: Request, device_id: str) -> Actor:
    """``device``, its row read with other requests' in one batch (``devices_by_token``); the row is
    left in ``request.state.device`` for the route."""
    state = request.app.state
    found = await state.device_lookups.submit(token_hash(state.settings.token_secret, _bearer(request)))
    return device_holding(request, device_id, found)


REPORTING_COLUMNS = (Device.id, Device.profile, Device.tags, Device.model, Device.installed, Device.revoked, Device.token_expires,
                     Device.token_hash)


def devices_by_token(database: Any, hashes: list[str]) -> list[Any]:
    """What the report routes read of the device of each token hash (None for an unknown one), in
    one query; plain rows, not ORM objects: a report only reads them."""
    with database.session() as session:
        rows = {row.token_hash: row for row in session.execute(select(*REPORTING_COLUMNS).where(Device.token_hash.in_(set(hashes))))}
    return [rows.get(hashed) for hashed in hashes]


def device_holding(request: Request, device_id: str, found: Device | None) -> Actor:
    """The checks of ``device`` on the row ``found`` for the request's token."""
    state = request.app.state
    if found is None or found.revoked:
        raise HTTPException(401, "unknown or revoked device token", headers=CHALLENGE)
    if found.token_expires < utcnow():
        raise HTTPException(401, "the device token has expired; enroll the device again", headers=CHALLENGE)
    if found.id != device_id:
        raise HTTPException(403, "a device token opens only its own device's records")
    wait = state.device_buckets.take(device_id)
    if wait:
        raise HTTPException(429, "too many requests from this device", headers={"Retry-After": str(max(1, round(wait + 0.5)))})
    request.state.device = found
    return Actor("device", f"device:{device_id}", device_id)


def artifact_reader(request: Request) -> Actor:
    """Anyone when the server's artifacts are public; else a device with a valid token or an API key
    (a download is not rate-limited per device: the per-IP limit and Range resumes cover it)."""
    if request.app.state.settings.artifacts == "public":
        return Actor("public", "public")
    token = _bearer(request)
    found = _holder(request, Device, Device.token_hash, token)
    if found is not None and not found.revoked and found.token_expires >= utcnow():
        return Actor("device", f"device:{found.id}", found.id)
    key = _holder(request, ApiKey, ApiKey.key_hash, token)
    if key is not None and not key.revoked:
        return Actor(key.role, f"{key.role}:{key.key_id}")
    raise HTTPException(401, "artifacts need a device token or an API key (unknown, expired or revoked token)", headers=CHALLENGE)


AdminActor = Annotated[Actor, Depends(admin)]
ReaderActor = Annotated[Actor, Depends(reader)]
