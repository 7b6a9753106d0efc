"""The ``assigned`` flag of a rollup: whether the signed rule current when the batch is written
gives the report's release to the reporting device (monitoring.monitor.assigned_by_rule over the
release's newest rollout, pins included). Gates count only assigned reports as the canary; a
report keeps the flag it got at ingest, so a later change of the rule does not re-sort old reports.

Rules and pins change only with a new signed targets version, so each process keeps the rules it
built per targets version (``Assignments``) and builds them again when the version moves."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import Release, Rollout, TufMetadata
from ..monitoring.monitor import assigned_by_rule
from .rollups import Accepted

DeviceCheck = Callable[[str, str, list[str], str | None], bool]


class Assignments:
    """``assignment`` for the current targets version, remembered per release while that version stands."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._checks: dict[str, DeviceCheck] = {}

    def __call__(self, session: Session, release_paths: Iterable[str]) -> Callable[[Accepted], bool]:
        version = session.scalar(select(func.max(TufMetadata.version)).where(TufMetadata.role == "targets"))
        if version != self._version:
            self._version, self._checks = version, {}
        missing = {path for path in release_paths if path and path not in self._checks}
        if missing:
            self._checks.update(_checks(session, missing))
        return _assigned(self._checks)


def assignment(session: Session, release_paths: Iterable[str]) -> Callable[[Accepted], bool]:
    """A function telling, for a report of one of ``release_paths``, whether its device is assigned."""
    return _assigned(_checks(session, {path for path in release_paths if path}))


def _checks(session: Session, paths: set[str]) -> dict[str, DeviceCheck]:
    checks: dict[str, DeviceCheck] = {}
    releases = list(session.scalars(select(Release).where(Release.target_path.in_(paths)))) if paths else []
    for release in releases:
        rollout = session.scalar(select(Rollout).where(Rollout.release_id == release.id).order_by(Rollout.id.desc()).limit(1))
        if rollout is None:
            pinned = set(release.pins)
            checks[release.target_path] = lambda device_id, *_rest, pinned=pinned: device_id in pinned
        else:
            checks[release.target_path] = assigned_by_rule(rollout, release)
    return checks


def _assigned(checks: dict[str, DeviceCheck]) -> Callable[[Accepted], bool]:
    def assigned(report: Accepted) -> bool:
        check = checks.get(report.release)
        # the device's model is None or the release's: routes/devices.py checked it when the device reported the install
        return check is not None and check(report.device_id, report.profile, list(report.tags), None)

    return assigned
