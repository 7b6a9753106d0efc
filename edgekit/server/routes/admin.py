"""The admin API (admin key: writes; operator key: reads). Every write is audited, and every change
to what devices should run re-signs targets, snapshot and timestamp in the same transaction;
publish, rollout and pin writes honour an Idempotency-Key (idempotency.py)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import String, cast, delete, select
from starlette.requests import ClientDisconnect

from ...devices.check import check_descriptor
from ...devices.profiles import all_profiles, load_profile
from ...errors import BadInput
from ..audit import record
from ..auth import AdminActor, ReaderActor
from ..db import (
    AuditEntry,
    Device,
    DeviceEvent,
    EnrollmentToken,
    Release,
    Rollout,
    RolloutGate,
    TelemetryReport,
    utcnow,
)
from ..home import KEY_ID, UnknownApiKey, list_api_keys, revoke_api_key
from ..idempotency import IdempotentWrite
from ..repository import rollouts
from ..repository.releases import register
from ..schemas import (
    MAX_ID,
    ApiKeyOut,
    DeviceOut,
    EnrollmentTokenRequest,
    PinRequest,
    ReleaseOut,
    ReleaseRequest,
    RolloutRequest,
    TokenOut,
    UploadOut,
)
from ..tokens import new_token, token_hash
from .devices import devices_page

router = APIRouter(prefix="/v1/admin", tags=["admin"])
RolloutId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=1000)]
QueryText = Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")]
ACTIONS = tuple(rollouts.TRANSITIONS)


def _resign(request: Request, session: Any) -> None:
    """Re-sign the targets from the database's releases and rollouts (the caller holds the lock)."""
    request.app.state.repository.update_targets(session, lambda: rollouts.target_files(session, request.app.state.settings.token_secret))


@router.post("/uploads", status_code=201, response_model=UploadOut)
async def upload(request: Request, actor: AdminActor) -> UploadOut:
    """The artifact archive as the raw body (what ``edgekit publish`` sends); verified, then stored."""
    try:
        data = await request.body()
    except ClientDisconnect as exc:
        raise HTTPException(400, "the upload was cut off; nothing was stored") from exc
    settings = request.app.state.settings
    summary = await run_in_threadpool(request.app.state.blobs.put, data, settings.max_unpacked_bytes, settings.max_upload_members)
    await run_in_threadpool(_audit, request, actor.name, "upload", {"sha256": summary["sha256"], "length": summary["length"]})
    return UploadOut(**{key: summary[key] for key in UploadOut.model_fields})


def _audit(request: Request, actor: str, action: str, detail: dict[str, Any]) -> None:
    with request.app.state.database.session() as session:
        record(session, actor, action, detail)


def _device_figures(bench: dict[str, Any]) -> dict[str, Any]:
    """The p99 figures of an uploaded bench.json, each a finite number, else a clear 422."""
    devices = bench.get("devices") or {}
    if not isinstance(devices, dict):
        raise BadInput("bench.devices must be an object of device id -> figures", "send the artifact's bench.json as it is")
    figures = {}
    for device, entry in devices.items():
        if isinstance(entry, dict) and "p99_ms" in entry:
            try:
                p99 = float(entry["p99_ms"])
            except (TypeError, ValueError):
                raise BadInput(f"bench.devices.{device}.p99_ms is not a number", "send the artifact's bench.json as it is") from None
            if not math.isfinite(p99):
                raise BadInput(f"bench.devices.{device}.p99_ms is not finite", "send the artifact's bench.json as it is")
            figures[device] = {**entry, "p99_ms": p99}
    return figures


def _release_profiles(summary: dict[str, Any], asked: list[str], bench: dict[str, Any]) -> list[str]:
    """The profiles a release is for: those asked (each must pass edgekit check), else every one that passes."""
    profiles = [load_profile(profile) for profile in dict.fromkeys(asked)] if asked else all_profiles()
    reports = check_descriptor({**summary["descriptor"], "benchmarks": _device_figures(bench)}, profiles)
    failing = [report for report in reports if report.verdict == "fail"]
    if asked and failing:
        first = failing[0].failures()[0]
        raise BadInput(f"the artifact fails edgekit check on {failing[0].device}: {first.reason}", first.fix or "publish it for other profiles")
    passing = [report.device for report in reports if report.verdict != "fail"]
    if not passing:
        raise BadInput("the artifact passes edgekit check on no device profile", "compile it for a device: edgekit compile --device ID")
    return passing


@router.post("/releases", status_code=201, response_model=ReleaseOut)
def create_release(body: ReleaseRequest, request: Request, actor: AdminActor) -> Any:
    state = request.app.state
    write = IdempotentWrite(request, actor, body)
    summary = state.blobs.summary(body.upload)
    if summary is None:
        raise HTTPException(404, f"no upload {body.upload[:12]}…; upload the archive first")
    profiles = _release_profiles(summary, body.profiles, body.bench)
    with state.database.session() as session:
        state.database.take_metadata_lock(session)
        if (replayed := write.replay(session)) is not None:
            return replayed
        release = register(session, summary, body.model, profiles, body.bench, actor.name)
        _resign(request, session)
        record(session, actor.name, "publish", {"model": release.model, "release": release.version, "sha256": release.sha256,
                                                "profiles": profiles})
        out = write.remember(session, 201, ReleaseOut.model_validate(release, from_attributes=True))
    state.metadata.forget_timestamp()
    return out


@router.get("/releases", response_model=list[ReleaseOut])
def list_releases(request: Request, actor: ReaderActor, model: QueryText = None) -> list[ReleaseOut]:
    with request.app.state.database.session() as session:
        query = select(Release).order_by(Release.model, Release.version)
        found = session.scalars(query.where(Release.model == model) if model else query)
        return [ReleaseOut.model_validate(release, from_attributes=True) for release in found]


@router.post("/rollouts", status_code=201)
def start_rollout(body: RolloutRequest, request: Request, actor: AdminActor) -> Any:
    state = request.app.state
    write = IdempotentWrite(request, actor, body)
    stages = rollouts.parse_stages(",".join(str(stage) for stage in body.stages))
    with state.database.session() as session:
        state.database.take_metadata_lock(session)
        if (replayed := write.replay(session)) is not None:
            return replayed
        release = rollouts.find_release(session, body.model, body.release)
        rollout = rollouts.start(session, release, stages, list(dict.fromkeys(body.profiles)), list(dict.fromkeys(body.tags)), actor.name)
        if body.gates is not None:
            if not body.gates.declared():
                raise HTTPException(422, "gates: declare at least one gate (failure_rate, error_rate, p99_latency_ratio, prediction_psi)")
            if stages[0] >= 100:
                raise HTTPException(422, "gates: a gated rollout needs a first stage below 100 % (a canary to judge)")
            if body.gates.prediction_psi is not None and release.artifact.get("bundle", {}).get("task") == "regression":
                # each regression bundle has its own decile bins, so two releases' histograms do not line up
                raise HTTPException(422, "gates: prediction_psi compares class and score histograms; this release is a "
                                         "regression model: gate it on failure_rate, error_rate and p99_latency_ratio")
            session.add(RolloutGate(rollout_id=rollout.id, spec=body.gates.model_dump(), stage_started=rollout.created, last={}))
            session.flush()
        _resign(request, session)
        record(session, actor.name, "rollout.start", {"rollout": rollout.id, "model": release.model, "release": release.version,
                                                      "stages": stages, "profiles": rollout.profiles, "tags": rollout.tags,
                                                      "gates": body.gates.model_dump() if body.gates else None})
        result = write.remember(session, 201, rollouts.status(session, rollout))
    state.metadata.forget_timestamp()
    return result


@router.get("/rollouts")
def list_rollouts(request: Request, actor: ReaderActor, model: QueryText = None) -> list[dict[str, Any]]:
    with request.app.state.database.session() as session:
        query = select(Rollout).join(Release, Release.id == Rollout.release_id).order_by(Rollout.id)
        found = session.scalars(query.where(Release.model == model) if model else query)
        return [rollouts.status(session, rollout) for rollout in found]


@router.get("/rollouts/{rollout_id}")
def rollout_status(rollout_id: RolloutId, request: Request, actor: ReaderActor) -> dict[str, Any]:
    with request.app.state.database.session() as session:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            raise HTTPException(404, f"no rollout {rollout_id}")
        return rollouts.status(session, rollout)


@router.post("/rollouts/{rollout_id}/{action}")
def change_rollout(rollout_id: RolloutId, action: str, request: Request, actor: AdminActor) -> Any:
    if action not in ACTIONS:
        raise HTTPException(404, f"no action {action[:40]!r}; one of {', '.join(ACTIONS)}")
    state = request.app.state
    write = IdempotentWrite(request, actor)
    with state.database.session() as session:
        state.database.take_metadata_lock(session)
        if (replayed := write.replay(session)) is not None:
            return replayed
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            raise HTTPException(404, f"no rollout {rollout_id}")
        rollouts.change(session, rollout, action, actor.name)
        _resign(request, session)
        record(session, actor.name, f"rollout.{action}", {"rollout": rollout.id, "state": rollout.state, "percent": rollout.percent})
        result = write.remember(session, 200, rollouts.status(session, rollout))
    state.metadata.forget_timestamp()
    return result


@router.post("/pins")
def pin_device(body: PinRequest, request: Request, actor: AdminActor) -> Any:
    state = request.app.state
    write = IdempotentWrite(request, actor, body)
    with state.database.session() as session:
        state.database.take_metadata_lock(session)
        if (replayed := write.replay(session)) is not None:
            return replayed
        release = rollouts.find_release(session, body.model, body.release)
        rollouts.pin(session, release, body.device_id, body.unpin)
        _resign(request, session)
        record(session, actor.name, "unpin" if body.unpin else "pin",
               {"model": body.model, "release": body.release, "device": body.device_id})
        result = write.remember(session, 200, {"model": body.model, "release": body.release, "pins": list(release.pins)})
    state.metadata.forget_timestamp()
    return result


@router.post("/enrollment-tokens", status_code=201, response_model=TokenOut)
def create_enrollment_token(body: EnrollmentTokenRequest, request: Request, actor: AdminActor) -> TokenOut:
    state = request.app.state
    if body.profile is not None:
        load_profile(body.profile)
    token = new_token("e")
    expires = utcnow() + timedelta(hours=body.expires_hours)
    with state.database.session() as session:
        session.add(EnrollmentToken(token_hash=token_hash(state.settings.token_secret, token), uses_left=body.uses,
                                    expires=expires, profile=body.profile, tags=body.tags, created_by=actor.name))
        record(session, actor.name, "enrollment-token", {"uses": body.uses, "profile": body.profile, "tags": body.tags})
    return TokenOut(token=token, uses=body.uses, expires=expires, profile=body.profile, tags=body.tags)


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(request: Request, actor: ReaderActor, limit: Limit = 100, after: QueryText = None) -> list[DeviceOut]:
    with request.app.state.database.session() as session:
        return [DeviceOut.model_validate(device, from_attributes=True) for device in devices_page(session, limit, after)]


@router.post("/devices/{device_id}/revoke")
def revoke_device(device_id: Annotated[str, Path(max_length=40, pattern=r"^[^\x00]*$")], request: Request,
                  actor: AdminActor) -> dict[str, Any]:
    with request.app.state.database.session() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise HTTPException(404, f"no device {device_id[:40]}")
        device.revoked = True
        record(session, actor.name, "device.revoke", {"device": device_id})
    return {"device": device_id, "revoked": True}


@router.delete("/devices")
def delete_devices(tag: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[^\x00]*$")], request: Request,
                   actor: AdminActor) -> dict[str, Any]:
    """Delete every device carrying ``tag``, with its raw reports and update events (what a simulated
    fleet leaves behind: ``fleet simulate`` tags its devices with its run). The rollups their
    telemetry was summed into stay, like the audit log. A tag is required: there is no "delete all"."""
    with request.app.state.database.session() as session:
        # The tags are a JSON list: a text match narrows the rows in SQL (SQLite and PostgreSQL alike),
        # the exact check keeps a tag that merely contains this one.
        quoted = json.dumps(tag)
        candidates = session.execute(select(Device.id, Device.tags).where(cast(Device.tags, String).contains(quoted, autoescape=True)))
        doomed = [device_id for device_id, tags in candidates if tag in (tags or [])]
        for start in range(0, len(doomed), 500):  # bounded IN lists
            chunk = doomed[start:start + 500]
            session.execute(delete(TelemetryReport).where(TelemetryReport.device_id.in_(chunk)))
            session.execute(delete(DeviceEvent).where(DeviceEvent.device_id.in_(chunk)))
            session.execute(delete(Device).where(Device.id.in_(chunk)))
        record(session, actor.name, "device.delete", {"tag": tag, "devices": len(doomed)})
    return {"tag": tag, "deleted": len(doomed)}


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_keys(request: Request, actor: ReaderActor) -> list[ApiKeyOut]:
    """Every API key's id, role, creation time and whether it is revoked (never a hash)."""
    return [ApiKeyOut(**key) for key in list_api_keys(request.app.state.database)]


@router.post("/api-keys/{key_id}/revoke")
def revoke_key(key_id: Annotated[str, Path(pattern=KEY_ID.pattern)], request: Request, actor: AdminActor) -> dict[str, Any]:
    """Revoke an API key: every server process refuses it from the next request. Audited; the last
    active admin key cannot be revoked (422)."""
    try:
        return revoke_api_key(request.app.state.database, key_id, actor.name)
    except UnknownApiKey as exc:
        raise HTTPException(404, exc.one_line()) from exc


@router.get("/audit")
def audit_log(request: Request, actor: ReaderActor, limit: Limit = 100) -> list[dict[str, Any]]:
    with request.app.state.database.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [{"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action, "detail": entry.detail} for entry in entries]
