"""Releases and their rollouts as signed TUF targets.

Every release is a target whose ``custom["edgekit"]`` carries its identity, the devices pinned to
it (by pin tag, a keyed hash of the device id) and its current rollout rule (edgekit_runtime.rollout_rule evaluates it on the device). A newly
published release is assigned to no device until a rollout starts. Every change here re-signs
targets, snapshot and timestamp in the caller's transaction, which holds the metadata lock.
"""

from __future__ import annotations

import functools
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tuf.api.metadata import TargetFile

from ...errors import BadInput
from ..db import Device, Release, Rollout, RolloutGate, utcnow
from ..tokens import pin_tag

DEFAULT_STAGES = (1.0, 10.0, 50.0, 100.0)
TRANSITIONS = {  # action -> states it may start from
    "promote": {"active", "paused"},
    "pause": {"active"},
    "resume": {"paused"},
    "rollback": {"active", "paused", "complete"},
}


def parse_stages(text: str) -> list[float]:
    try:
        stages = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise BadInput(f"stages {text!r} are not numbers", "give percentages, e.g. --stages 1,10,50,100") from exc
    if not stages or any(not 0 < stage <= 100 for stage in stages) or stages != sorted(set(stages)):
        raise BadInput(f"stages {text!r} must rise strictly within (0, 100]", "e.g. --stages 1,10,50,100")
    if stages[-1] != 100:
        stages.append(100.0)
    return stages


def newest_rollout(session: Session, release_id: int) -> Rollout | None:
    return session.scalar(select(Rollout).where(Rollout.release_id == release_id).order_by(Rollout.id.desc()).limit(1))


def rule(rollout: Rollout | None) -> dict[str, Any]:
    """The rollout as the device reads it (integers only: TUF signs canonical JSON, which has no floats)."""
    if rollout is None:
        return {"state": "unreleased", "basis_points": 0}
    return {"id": rollout.id, "state": rollout.state, "basis_points": round(rollout.percent * 100), "salt": rollout.salt,
            "profiles": list(rollout.profiles), "tags": list(rollout.tags)}


def target_files(session: Session, secret: str) -> dict[str, TargetFile]:
    """Every release as a TUF target with its signed rule (pinned devices named by their pin tag,
    keyed with the server's ``secret``)."""
    rollouts = {}
    for rollout in session.scalars(select(Rollout).order_by(Rollout.id)):
        rollouts[rollout.release_id] = rollout  # the newest one wins
    files = {}
    budgets = _latency_budgets()
    for release in session.scalars(select(Release).order_by(Release.id)):
        target = TargetFile(release.length, {"sha256": release.sha256}, release.target_path)
        target.unrecognized_fields["custom"] = {"edgekit": {
            "model": release.model, "release": release.version, "target": release.target,
            "profiles": list(release.profiles), "artifact": release.artifact,
            "pins": sorted(pin_tag(secret, device_id) for device_id in release.pins),
            "rollout": rule(rollouts.get(release.id)),
            # integers in ms (canonical JSON): the agent's smoke test refuses an absurdly slow model
            "latency_budget_ms": {profile: budgets[profile] for profile in release.profiles if profile in budgets},
        }}
        files[release.target_path] = target
    return files


@functools.cache  # device_configs/ is read once per server process (20 ms), not at every re-sign
def _latency_budgets() -> dict[str, int]:
    from ...devices.profiles import all_profiles

    return {profile.id: max(1, round(profile.budgets.p99_latency_ms)) for profile in all_profiles()}


def find_release(session: Session, model: str, version: int | None) -> Release:
    query = select(Release).where(Release.model == model)
    release = session.scalar(query.where(Release.version == version) if version else query.order_by(Release.version.desc()).limit(1))
    if release is None:
        which = f"release {version} of {model!r}" if version else f"a release of {model!r}"
        raise BadInput(f"there is no {which}", "publish it first: edgekit publish ARTIFACT --model NAME")
    return release


def start(session: Session, release: Release, stages: list[float], profiles: list[str], tags: list[str], actor: str) -> Rollout:
    unknown = sorted(set(profiles) - set(release.profiles))
    if unknown:
        raise BadInput(f"release {release.version} of {release.model} is not for profile(s) {', '.join(unknown)}",
                       f"it is for: {', '.join(release.profiles)}")
    current = newest_rollout(session, release.id)
    if current is not None and current.state in ("active", "paused"):
        raise BadInput(f"release {release.version} of {release.model} already has rollout {current.id} ({current.state})",
                       "promote, pause, resume or roll it back")
    rollout = Rollout(release_id=release.id, state="active" if stages[0] < 100 else "complete", stages=stages, stage=0,
                      salt=secrets.token_hex(8), profiles=profiles, tags=tags,
                      history=[{"at": utcnow().isoformat(), "action": "start", "by": actor, "percent": stages[0]}])
    session.add(rollout)
    session.flush()
    return rollout


def change(session: Session, rollout: Rollout, action: str, actor: str, reason: str | None = None) -> Rollout:
    """Carry out ``action``, recorded in the history (with ``reason`` when given); a promotion or a
    resume starts a new observation period for the rollout's gates."""
    allowed = TRANSITIONS[action]
    if rollout.state not in allowed:
        raise BadInput(f"rollout {rollout.id} is {rollout.state}: it cannot {action}", f"{action} needs a rollout that is {' or '.join(sorted(allowed))}")
    if action == "promote":
        rollout.stage = min(rollout.stage + 1, len(rollout.stages) - 1)
        rollout.state = "complete" if rollout.percent >= 100 else "active"
    else:
        rollout.state = {"pause": "paused", "resume": "active", "rollback": "rolled_back"}[action]
    entry = {"at": utcnow().isoformat(), "action": action, "by": actor, "percent": rollout.percent}
    rollout.history = [*rollout.history, {**entry, "reason": reason} if reason else entry]
    gate = session.get(RolloutGate, rollout.id)
    if gate is not None and action in ("promote", "resume"):
        gate.stage_started = utcnow()
    return rollout


def pin(session: Session, release: Release, device_id: str, unpin: bool) -> None:
    if session.get(Device, device_id) is None:
        raise BadInput(f"no enrolled device {device_id!r}", "see GET /v1/admin/devices")
    if unpin:
        release.pins = [pinned for pinned in release.pins if pinned != device_id]
        return
    for other in session.scalars(select(Release).where(Release.model == release.model)):
        if device_id in other.pins and other.id != release.id:
            other.pins = [pinned for pinned in other.pins if pinned != device_id]  # one pin per device and model
    if device_id not in release.pins:
        release.pins = [*release.pins, device_id]


def status(session: Session, rollout: Rollout) -> dict[str, Any]:
    release = session.get(Release, rollout.release_id)
    profiles = rollout.profiles or release.profiles
    installed = dict(session.execute(
        select(Device.installed, func.count()).where(Device.profile.in_(profiles)).group_by(Device.installed)).all())
    gate = session.get(RolloutGate, rollout.id)
    return {
        "gates": None if gate is None else {"spec": gate.spec, "stage_started": gate.stage_started.isoformat(), "last": gate.last},
        "id": rollout.id, "model": release.model, "release": release.version, "target_path": release.target_path,
        "state": rollout.state, "percent": rollout.percent, "stages": rollout.stages, "stage": rollout.stage,
        "profiles": profiles, "tags": rollout.tags, "history": rollout.history,
        "devices": {"in_scope": sum(installed.values()), "running_this_release": installed.get(release.target_path, 0),
                    "by_installed_release": {str(key): value for key, value in installed.items()}},
    }
