"""The ``assigned`` flag of a rollup: whether the signed rule current when the batch is written
gives the report's release to the reporting device (monitoring.monitor.assigned_by_rule over the
release's newest rollout, pins included). Gates count only assigned reports as the canary; a
report keeps the flag it got at ingest, so a later change of the rule does not re-sort old reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Release, Rollout
from ..monitoring.monitor import assigned_by_rule
from .rollups import Accepted

DeviceCheck = Callable[[str, str, list[str], str | None], bool]


def assignment(session: Session, release_paths: Iterable[str]) -> Callable[[Accepted], bool]:
    """A function telling, for a report of one of ``release_paths``, whether its device is assigned."""
    checks: dict[str, DeviceCheck] = {}
    paths = {path for path in release_paths if path}
    releases = list(session.scalars(select(Release).where(Release.target_path.in_(paths)))) if paths else []
    for release in releases:
        rollout = session.scalar(select(Rollout).where(Rollout.release_id == release.id).order_by(Rollout.id.desc()).limit(1))
        if rollout is None:
            pinned = set(release.pins)
            checks[release.target_path] = lambda device_id, *_rest, pinned=pinned: device_id in pinned
        else:
            checks[release.target_path] = assigned_by_rule(rollout, release)

    def assigned(report: Accepted) -> bool:
        check = checks.get(report.release)
        # the device's model is None or the release's: routes/devices.py checked it when the device reported the install
        return check is not None and check(report.device_id, report.profile, list(report.tags), None)

    return assigned
