"""The device API: enrollment with a one-time token, then a device's own record, status and
telemetry with its device token. Nothing here reads or writes another device's records, and
every release a device names is checked against what it may run (its model and profile) before
it is stored or counted. Status and telemetry are checked here, then written in batches
(ingest/): the answer comes once the batch holding the report is committed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update

from .. import auth
from ..audit import record
from ..db import Device, EnrollmentToken, Release, utcnow
from ..ingest.group_commit import GroupCommit
from ..ingest.rollups import Accepted
from ..ingest.status import AcceptedStatus
from ..repository.releases import baseline_of
from ..schemas import DeviceOut, EnrollRequest, EnrollResponse, OwnDeviceOut, StatusReport
from ..schemas import TelemetryReport as TelemetryIn
from ..tokens import new_id, new_token, pin_tag, token_hash
from .bodies import request_body, validated_body

router = APIRouter(prefix="/v1/devices", tags=["devices"])
ACCEPTED = b'{"accepted":true}'
REPORT_ROUTES = ("/v1/devices/{device_id}/status", "/v1/devices/{device_id}/telemetry")  # served by direct.py


def _this_device(request: Request, device_id: str) -> auth.Actor:
    return auth.device(request, device_id)


ThisDevice = Annotated[auth.Actor, Depends(_this_device)]


@router.post("", status_code=201, response_model=EnrollResponse)
def enroll(body: EnrollRequest, request: Request) -> EnrollResponse:
    state = request.app.state
    secret = state.settings.token_secret
    hashed = token_hash(secret, body.enrollment_token)
    with state.database.session() as session:
        grant = session.get(EnrollmentToken, hashed)
        if grant is not None:
            profile = grant.profile or body.profile
            if profile is None:
                raise HTTPException(422, "profile: the enrollment token names none, so the device must send its profile")
            if grant.profile and body.profile and body.profile != grant.profile:
                raise HTTPException(422, f"profile: this enrollment token is for {grant.profile}")
        # One atomic conditional update spends a use: two devices racing for the last use cannot both win.
        spent = session.execute(update(EnrollmentToken).where(
            EnrollmentToken.token_hash == hashed, EnrollmentToken.uses_left > 0, EnrollmentToken.expires > utcnow(),
        ).values(uses_left=EnrollmentToken.uses_left - 1)).rowcount
        if grant is None or spent != 1:
            raise HTTPException(401, "unknown, used up or expired enrollment token")
        token = new_token("d")
        device = Device(id=f"dev-{new_id(16)}", profile=profile, tags=sorted({*grant.tags, *body.tags}), model=body.model,
                        token_hash=token_hash(secret, token), token_expires=utcnow() + timedelta(days=state.settings.device_token_days))
        session.add(device)
        record(session, f"device:{device.id}", "enroll", {"profile": profile, "tags": device.tags, "model": body.model})
    return EnrollResponse(device_id=device.id, device_token=token, token_expires=device.token_expires,
                          profile=device.profile, tags=device.tags, model=device.model, pin_tag=pin_tag(secret, device.id))


@router.get("/{device_id}", response_model=OwnDeviceOut)
def own_record(device_id: str, actor: ThisDevice, request: Request) -> OwnDeviceOut:
    with request.app.state.database.session() as session:
        device = session.get(Device, device_id)
        device.last_seen = utcnow()
        return OwnDeviceOut(**DeviceOut.model_validate(device, from_attributes=True).model_dump(),
                            pin_tag=pin_tag(request.app.state.settings.token_secret, device_id))


# The two routes every device calls every cycle take only the request (served by direct.py without
# FastAPI's router and dependency machinery): auth first, then the body, as FastAPI would order them.
@router.put("/{device_id}/status", status_code=204, openapi_extra=request_body(StatusReport))
async def report_status(device_id: str, request: Request) -> Response:
    await auth.reporting_device(request, device_id)
    body = await validated_body(request, StatusReport)
    state = request.app.state
    device: Device = request.state.device
    named = {"installed": body.installed}
    if body.result is not None:
        named |= {"result.target": body.result.target, "result.from_target": body.result.from_target}
    _check_status(device, named, await _releases(state, {path for path in named.values() if path is not None}))
    now = utcnow()
    last_result, event = None, None
    if body.result is not None:
        result = body.result
        last_result = {**result.model_dump(exclude={"from_target"} if result.from_target is None else None), "at": now.isoformat()}
        if result.outcome != "unchanged":  # agents report every cycle; events are the changes gates count
            about = result.from_target if result.outcome == "rolled_back" and result.from_target else result.target
            event = {"target": about, "outcome": result.outcome, "detail": result.detail}
    await _committed(state.status_batches, AcceptedStatus(device_id, body.installed, last_result, event, now))
    return Response(status_code=204)


@router.post("/{device_id}/telemetry", status_code=202, openapi_extra=request_body(TelemetryIn),
             responses={202: {"content": {"application/json": {"example": {"accepted": True}}}}})
async def report_telemetry(device_id: str, request: Request) -> Response:
    """Checked here, then summed into the minute's rollups with the other reports of its batch: the
    202 comes once that batch is committed."""
    await auth.reporting_device(request, device_id)
    body = await validated_body(request, TelemetryIn)
    state = request.app.state
    device: Device = request.state.device
    if body.release is not None and body.release != device.installed:
        raise HTTPException(409, "telemetry for a release this device has not reported installed; report status first")
    if body.release is not None:
        release = (await _releases(state, {body.release})).get(body.release)
        if release is None:
            raise HTTPException(409, "telemetry for a release this server does not know")
        _check_bins(release, body)
    report = Accepted(device_id, device.profile, tuple(device.tags or ()), body.release or "", body.payload(), utcnow())
    await _committed(state.telemetry_batches, report)
    return Response(ACCEPTED, status_code=202, media_type="application/json")


async def _committed(batches: GroupCommit, item: object) -> None:
    try:
        await batches.submit(item)
    except Exception as exc:
        raise HTTPException(503, "the server could not store the report; send it again later",
                            headers={"Retry-After": "5"}) from exc


@dataclass(frozen=True)
class ReleaseFacts:
    """What the door checks a device's report against; a release never changes once published."""

    model: str
    version: int
    profiles: tuple[str, ...]
    bins: dict[str, int] | None  # feature -> number of baseline bins; None without a baseline


async def _releases(state: Any, paths: set[str]) -> dict[str, ReleaseFacts]:
    """The facts of the releases at ``paths`` that exist, from this process's cache or the database."""
    cache: dict[str, ReleaseFacts] = state.release_facts
    missing = paths - cache.keys()
    if missing:
        await run_in_threadpool(_load_releases, state.database, missing, cache)
    return {path: cache[path] for path in paths if path in cache}


def _load_releases(database: Any, paths: set[str], cache: dict[str, ReleaseFacts]) -> None:
    with database.session() as session:
        for release in session.scalars(select(Release).where(Release.target_path.in_(paths))):
            baseline = baseline_of(session, release)
            bins = None if baseline is None else {feature["name"]: len(feature["counts"]) for feature in baseline["features"]["features"]}
            cache[release.target_path] = ReleaseFacts(release.model, release.version, tuple(release.profiles), bins)


def _check_status(device: Device, named: dict[str, str | None], releases: dict[str, ReleaseFacts]) -> None:
    """The device controls ``installed``, ``result.target`` and ``result.from_target``: each must be
    a release of the device's own model (when it enrolled with one) for its own profile, else 422.
    Whether the signed rule assigned that release to this device is the gates' question
    (monitoring/monitor.py counts only assigned devices): a report may arrive after a rollback."""
    for field, path in named.items():
        if path is None:
            continue
        release = releases.get(path)
        if release is None:
            raise HTTPException(422, f"{field}: {path[:80]!r} is not a release this server published")
        if device.model is not None and release.model != device.model:
            raise HTTPException(422, f"{field}: {path[:80]} is a release of {release.model}; this device follows {device.model}")
        if device.profile not in release.profiles:
            raise HTTPException(422, f"{field}: {path[:80]} is not for this device's profile {device.profile}")


def _check_bins(release: ReleaseFacts, body: TelemetryIn) -> None:
    """Histograms must be on the release's baseline bins: anything else could not be compared."""
    if release.bins is None:
        return
    for name, counts in body.features.items():
        if name not in release.bins:
            raise HTTPException(422, f"features.{name[:64]}: release {release.version} of {release.model} has no such feature")
        if len(counts.counts) != release.bins[name]:
            raise HTTPException(422, f"features.{name[:64]}: {len(counts.counts)} bins, the release's baseline has {release.bins[name]}")


def devices_page(session, limit: int, after: str | None) -> list[Device]:
    query = select(Device).order_by(Device.id).limit(limit)
    return list(session.scalars(query.where(Device.id > after) if after else query))
