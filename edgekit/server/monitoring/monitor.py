"""The fleet monitor. One pass:

1. sums the telemetry rollups (sums per ``rollup_seconds`` bucket, ingest/) of the last drift window per (release,
   device profile, cohort) — a cohort is every device ("*") or the devices carrying one tag (not a
   bookkeeping tag, drift.BOOKKEEPING_TAG_PREFIX);
   rollups are kept per device tag set, so each is summed once and merged into its cohorts, and a
   pass costs the same for a thousand devices or a million — compares each group
   with its release's training baseline (drift.py), stores the statistics, opens an alert for
   each threshold crossed (one open alert per release/profile/cohort/feature/statistic) and
   resolves the open ones that are back under it or whose group sent nothing over the window
   (e.g. its release was replaced); new alerts are posted to the webhook;
2. judges every active rollout that has gates (gates.py) on its canary stage and carries out the
   verdict: promote, or pause / roll back and record why;
3. prunes raw reports past the debugging window and rollups past their retention.

Windows are read in whole rollup buckets, rounded out: a window (the drift window, a stage's
period) starts at the start of the bucket its start falls in, so it covers at least what it says
and at most one bucket (``rollup_seconds``) more. Rounding in instead would leave a window of one
bucket nearly empty just after a bucket starts, and resolve the alerts of groups still reporting.
settings.py refuses a drift window shorter than a bucket.

Each server process runs a pass every ``monitor_seconds``; a lease row in ``locks`` lets one
process at a time do it. POST /v1/admin/monitor/run runs one now.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from edgekit_runtime.rollout_rule import DeviceIdentity, assigned
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, object_session

from ..audit import record
from ..db import (
    Alert,
    Database,
    Device,
    DeviceEvent,
    DriftPoint,
    Lock,
    Release,
    Rollout,
    RolloutGate,
    TelemetryReport,
    TelemetryRollup,
    utcnow,
)
from ..logs import events
from ..repository import rollouts
from ..repository.releases import baseline_of
from ..settings import ServerSettings
from .buckets import bucket_of
from .drift import BOOKKEEPING_TAG_PREFIX, PREDICTIONS, DriftThresholds, compare_predictions, feature_drift
from .gates import Evidence, GateSpec, judge
from .totals import Totals
from .webhook import post_alerts

LOG = logging.getLogger("edgekit.monitor")
LEASE = "monitor"  # its row is made with the schema (db.LOCKS)
ALL_DEVICES = "*"
KEEP_POINTS = timedelta(days=7)
FAILED = ("failed", "rejected")


class Monitor:
    def __init__(self, settings: ServerSettings, database: Database, resign: Callable[[Session], None]) -> None:
        self.settings, self.database, self.resign = settings, database, resign
        self.thresholds = DriftThresholds(settings.drift_psi, settings.drift_ks, settings.drift_violation_rate,
                                          settings.drift_min_rows)
        self._running = threading.Lock()

    def run_pass(self, force: bool = False) -> dict[str, Any] | None:
        """One pass; None when another process holds the lease (unless ``force``)."""
        with self._running:
            if not self._take_lease(force):
                return None
            started = time.perf_counter()
            with self.database.session() as session:
                opened, resolved, groups = self._drift(session)
                opened_ids = [alert.id for alert in opened]
            decisions = self._gates()
            prune_telemetry(self.database, self.settings, utcnow())
            if opened and self.settings.webhook_url:
                self._notify(opened_ids)
            return {"groups": groups, "alerts_opened": len(opened_ids), "alerts_resolved": resolved,
                    "rollouts": decisions, "seconds": round(time.perf_counter() - started, 3)}

    def _take_lease(self, force: bool) -> bool:
        now = time.time()
        with self.database.session() as session:
            query = update(Lock).where(Lock.name == LEASE)
            if not force:
                query = query.where(Lock.taken < int(now * 1000))
            return session.execute(query.values(taken=int((now + self.settings.monitor_seconds * 0.8) * 1000))).rowcount == 1

    # drift -------------------------------------------------------------------------------------

    def _drift(self, session: Session) -> tuple[list[Alert], int, int]:
        now = utcnow()
        since = now - timedelta(seconds=self.settings.drift_window_seconds)
        # Each rollup is summed once, by its devices' tag set; the cohorts are then merged from those sums.
        by_tags: dict[tuple[str, str, tuple[str, ...]], Totals] = defaultdict(Totals)
        for release, profile, tags, _, sums in _rollups(session, since, self.settings.rollup_seconds, TelemetryRollup.release != ""):
            by_tags[(release, profile, tuple(tags))].merge(Totals.from_json(sums))
        groups: dict[tuple[str, str, str], Totals] = defaultdict(Totals)
        for (release, profile, tags), totals in by_tags.items():
            for cohort in (ALL_DEVICES, *(tag for tag in tags if not tag.startswith(BOOKKEEPING_TAG_PREFIX))):
                groups[(release, profile, cohort)].merge(totals)
        releases = {release.target_path: release for release in
                    session.scalars(select(Release).where(Release.target_path.in_({key[0] for key in groups})))}
        opened: list[Alert] = []
        reporting = {(releases[path].id, profile, cohort) for path, profile, cohort in groups if path in releases}
        checked: set[tuple[int, str, str, str]] = set()  # (release, profile, cohort, feature) with enough rows
        breaches: set[tuple[int, str, str, str, str]] = set()
        for (path, profile, cohort), totals in groups.items():
            release = releases.get(path)
            baseline = baseline_of(session, release) if release is not None else None
            if baseline is None:
                continue
            for found in feature_drift(baseline, totals):
                session.add(DriftPoint(at=now, release_id=release.id, profile=profile, cohort=cohort, feature=found.feature,
                                       rows=found.rows, psi=found.psi, ks=found.ks, violation_rate=found.violation_rate))
                if found.rows < self.thresholds.min_rows:
                    continue
                checked.add((release.id, profile, cohort, found.feature))
                for statistic, value, threshold in found.breaches(self.thresholds):
                    breaches.add((release.id, profile, cohort, found.feature, statistic))
                    alert = self._open(session, release, profile, cohort, found.feature, statistic, value, threshold, found.rows)
                    if alert is not None:
                        opened.append(alert)
        resolved = 0
        for alert in session.scalars(select(Alert).where(Alert.state == "open")):
            key = (alert.release_id, alert.profile, alert.cohort)
            # back under its threshold, or nothing left to judge (no device of the group reports any more)
            if ((*key, alert.feature) in checked and (*key, alert.feature, alert.statistic) not in breaches) or key not in reporting:
                alert.state, alert.resolved, alert.updated = "resolved", now, now
                resolved += 1
                why = "back under its threshold" if key in reporting else "no device of its group reports any more"
                events.note(session, "alert.resolve", {"alert": alert.id, "model": alert.model, "profile": alert.profile,
                                                       "cohort": alert.cohort, "feature": alert.feature,
                                                       "statistic": alert.statistic, "reason": why})
        session.execute(delete(DriftPoint).where(DriftPoint.at < now - KEEP_POINTS))
        session.flush()
        return opened, resolved, len(groups)

    def _open(self, session: Session, release: Release, profile: str, cohort: str, feature: str, statistic: str,
              value: float, threshold: float, rows: int) -> Alert | None:
        """A new open alert, or None when the same one is open already (its figures are updated)."""
        now = utcnow()
        existing = session.scalar(select(Alert).where(
            Alert.state == "open", Alert.release_id == release.id, Alert.profile == profile, Alert.cohort == cohort,
            Alert.feature == feature, Alert.statistic == statistic))
        if existing is not None:
            existing.value, existing.rows, existing.updated = value, rows, now
            return None
        kind = "predictions" if feature == PREDICTIONS else "violations" if statistic == "violation_rate" else "drift"
        alert = Alert(kind=kind, state="open", opened=now, updated=now, model=release.model, release_id=release.id,
                      profile=profile, cohort=cohort, feature=feature, statistic=statistic, value=value, threshold=threshold,
                      rows=rows, webhook="")
        session.add(alert)
        session.flush()
        record(session, "monitor", "alert.open", alert_dict(alert, release))
        return alert

    def _notify(self, alert_ids: list[int]) -> None:
        with self.database.session() as session:
            alerts = list(session.scalars(select(Alert).where(Alert.id.in_(alert_ids))))
            releases = {release.id: release for release in session.scalars(select(Release).where(Release.id.in_({a.release_id for a in alerts})))}
            documents = [alert_dict(alert, releases[alert.release_id]) for alert in alerts]
        outcome = post_alerts(self.settings.webhook_url, self.settings.webhook_secret, documents)
        with self.database.session() as session:
            session.execute(update(Alert).where(Alert.id.in_(alert_ids)).values(webhook=outcome[:300]))

    # gates -------------------------------------------------------------------------------------

    def _gates(self) -> list[dict[str, Any]]:
        decisions = []
        with self.database.session() as session:
            gated = [gate.rollout_id for gate in session.scalars(
                select(RolloutGate).join(Rollout, Rollout.id == RolloutGate.rollout_id).where(Rollout.state == "active"))]
        for rollout_id in gated:
            with self.database.session() as session:
                self.database.take_metadata_lock(session)  # a verdict may re-sign; one judge at a time
                rollout = session.get(Rollout, rollout_id)
                gate = session.get(RolloutGate, rollout_id)
                if rollout is None or rollout.state != "active":
                    continue
                decision = self._judge(session, rollout, gate)
                decisions.append(decision)
        return decisions

    def _judge(self, session: Session, rollout: Rollout, gate: RolloutGate) -> dict[str, Any]:
        spec = GateSpec(**gate.spec)
        release = session.get(Release, rollout.release_id)
        evidence = gather_evidence(session, rollout, release, gate, spec, self.settings.drift_window_seconds,
                                   self.settings.rollup_seconds)
        verdict, results = judge(spec, evidence)
        action = None
        if verdict == "fail":
            action = "rollback" if spec.on_fail == "rollback" else "pause"
        elif verdict == "pass" and spec.auto_promote:
            action = "promote"
        failed = [result for result in results if result.verdict == "fail"]
        reason = "; ".join(f"{result.gate} {result.value:.3g} > {result.limit:g} ({result.detail})" for result in failed)
        if action is not None:
            before = rollout.percent
            rollouts.change(session, rollout, action, "monitor", reason or "every gate passed")
            self.resign(session)
            record(session, "monitor", f"rollout.{action}", {"rollout": rollout.id, "state": rollout.state, "percent": rollout.percent,
                                                             "from_percent": before, "reason": reason or "every gate passed"})
        gate.last = {"at": utcnow().isoformat(), "verdict": verdict, "percent": rollout.percent, "action": action,
                     "reason": reason, "gates": [result.as_dict() for result in results],
                     "evidence": {"seconds_at_stage": round(evidence.seconds_at_stage, 1), "devices_tried": evidence.devices_tried,
                                                                                      "devices_in_stage": evidence.devices_in_stage}}
        return {"rollout": rollout.id, "verdict": verdict, "action": action, "reason": reason, "state": rollout.state}


def gather_evidence(session: Session, rollout: Rollout, release: Release, gate: RolloutGate, spec: GateSpec,
                    window_seconds: float, rollup_seconds: int) -> Evidence:
    """The canary's outcomes since the rollout started, and its telemetry against the control's
    (in-scope devices on the model's other releases) since the stage started (from the start of the
    rollup bucket it started in: both sides over the same buckets)."""
    path = release.target_path
    canary_device = assigned_by_rule(rollout, release)
    outcomes: dict[str, set[str]] = defaultdict(set)
    for device_id, outcome, profile, tags, model in session.execute(
            select(DeviceEvent.device_id, DeviceEvent.outcome, Device.profile, Device.tags, Device.model)
            .join(Device, Device.id == DeviceEvent.device_id)
            .where(DeviceEvent.target == path, DeviceEvent.at >= rollout.created)):
        if canary_device(device_id, profile, tags, model):
            outcomes[outcome].add(device_id)
    tried = set().union(*outcomes.values())
    failed = set().union(*(outcomes.get(outcome, set()) for outcome in FAILED))
    profiles = rollout.profiles or release.profiles
    since = gate.stage_started
    canary, control = _cohort_totals(session, release, profiles, rollout.tags, since, rollup_seconds, assigned_only=True)
    ratio, latency_detail = _latency_ratio(session, release, profiles, rollout.tags, canary, control, spec, since, window_seconds,
                                           rollup_seconds)
    canary_all, control_all = Totals(), Totals()
    for totals in canary.values():
        canary_all.merge(totals)
    for totals in control.values():
        control_all.merge(totals)
    compared = compare_predictions(canary_all, control_all)
    if compared is None:
        prediction_psi, prediction_detail = None, "no comparable prediction histograms yet"
    else:
        value, canary_rows, control_rows = compared
        enough = canary_rows >= spec.min_rows and control_rows >= spec.min_rows
        prediction_psi = value if enough else None
        prediction_detail = f"canary {canary_rows} rows vs control {control_rows} rows" + ("" if enough else f" (need {spec.min_rows} each)")
    # A stage can hold fewer devices than min_devices (a small fleet, or an unlucky draw of buckets):
    # count them, so the gates know when no more devices will come.
    in_stage = _devices_in_stage(session, release, canary_device) if len(tried) < spec.min_devices else None
    return Evidence((utcnow() - since).total_seconds(), len(tried), len(failed), len(outcomes.get("rolled_back", set())),
                    ratio, latency_detail, prediction_psi, prediction_detail, in_stage)


def _devices_in_stage(session: Session, release: Release, canary_device: Callable[[str, str, list[str], str | None], bool]) -> int:
    """How many enrolled, unrevoked devices the signed rule assigns ``release`` to right now."""
    candidates = session.execute(select(Device.id, Device.profile, Device.tags, Device.model).where(
        Device.profile.in_(release.profiles), Device.revoked.is_(False), or_(Device.model.is_(None), Device.model == release.model)))
    return sum(1 for device_id, profile, tags, model in candidates if canary_device(device_id, profile, tags, model))


def assigned_by_rule(rollout: Rollout, release: Release) -> Callable[[str, str, list[str], str | None], bool]:
    """Whether the signed rule gives ``release`` to a device (id, profile, tags, model): only such
    devices are the canary a gate judges. What a device reports about a release it was never
    assigned (another model, profile, tag or bucket) is its own business, not evidence."""
    signed = rollouts.rule(rollout)
    pinned = set(release.pins)
    session = object_session(release)
    pinned_elsewhere = {device for other in session.scalars(select(Release).where(Release.model == release.model, Release.id != release.id))
                        for device in other.pins}

    def canary(device_id: str, profile: str, tags: list[str], model: str | None) -> bool:
        if (model is not None and model != release.model) or profile not in release.profiles:
            return False
        if device_id in pinned or device_id in pinned_elsewhere:
            return device_id in pinned  # a pin overrides every rollout of the model
        return assigned(signed, DeviceIdentity(device_id, profile, frozenset(tags or ())))

    return canary


def _cohort_totals(session: Session, release: Release, profiles: list[str], tags: list[str], since: Any, rollup_seconds: int,
                   assigned_only: bool = False) -> tuple[dict[str, Totals], dict[str, Totals]]:
    """Per profile: the canary's totals (with ``assigned_only``, only reports whose device the rule
    current at ingest assigned the release to: ingest/assignment.py) and the control's (other releases of the model), since ``since``.
    Reports of a release come only from devices of its model (or of none): the door checks that."""
    canary: dict[str, Totals] = defaultdict(Totals)
    control: dict[str, Totals] = defaultdict(Totals)
    siblings = select(Release.target_path).where(Release.model == release.model).scalar_subquery()
    for report_release, profile, device_tags, was_assigned, sums in _rollups(
            session, since, rollup_seconds, TelemetryRollup.profile.in_(profiles), TelemetryRollup.release.in_(siblings)):
        if tags and not set(tags) & set(device_tags):
            continue
        if report_release == release.target_path:
            if was_assigned or not assigned_only:
                canary[profile].merge(Totals.from_json(sums))
        else:
            control[profile].merge(Totals.from_json(sums))
    return canary, control


def _rollups(session: Session, since: Any, rollup_seconds: int, *where: Any) -> Any:
    """(release, device profile, device tags, assigned, sums) of the rollups of every bucket from the one holding ``since``."""
    return session.execute(
        select(TelemetryRollup.release, TelemetryRollup.profile, TelemetryRollup.tags, TelemetryRollup.assigned, TelemetryRollup.sums)
        .where(TelemetryRollup.minute >= bucket_of(since, rollup_seconds), *where))


def prune_telemetry(database: Database, settings: ServerSettings, now: Any) -> None:
    """Raw reports past the debugging window, rollups past their retention (no batch writes those buckets)."""
    with database.session() as session:
        session.execute(delete(TelemetryReport).where(TelemetryReport.received < now - timedelta(seconds=settings.raw_telemetry_seconds)))
        session.execute(delete(TelemetryRollup).where(TelemetryRollup.minute < now - timedelta(days=settings.rollup_days)))


def _latency_ratio(session: Session, release: Release, profiles: list[str], tags: list[str], canary: dict[str, Totals],
                   control: dict[str, Totals], spec: GateSpec, since: Any, window_seconds: float,
                   rollup_seconds: int) -> tuple[float | None, str]:
    """The worst profile's canary p99 / control p99 (the control over the drift window when the stage is too young)."""
    worst: tuple[float, str] | None = None
    waiting = []
    earlier: dict[str, Totals] | None = None
    for profile, totals in canary.items():
        reference = control.get(profile)
        if reference is None or reference.latency_calls() < spec.min_calls:
            if earlier is None:
                earlier = _cohort_totals(session, release, profiles, tags, since - timedelta(seconds=window_seconds), rollup_seconds)[1]
            reference = earlier.get(profile)
        if totals.latency_calls() < spec.min_calls or reference is None or reference.latency_calls() < spec.min_calls:
            waiting.append(profile)
            continue
        mine, theirs = totals.latency_quantile(0.99), reference.latency_quantile(0.99)
        ratio = mine / theirs
        if worst is None or ratio > worst[0]:
            worst = (ratio, f"{profile}: canary p99 {mine:g} µs vs previous {theirs:g} µs")
    if worst is None:
        return None, f"fewer than {spec.min_calls} timed calls on the canary or the previous release" + (
            f" ({', '.join(waiting)})" if waiting else "")
    return worst


def latest_drift_points(session: Session, model: str | None = None, limit: int | None = None) -> list[tuple[DriftPoint, Release]]:
    """The newest kept point of every (release, profile, cohort, feature) group, features in baseline
    order (GET /v1/admin/drift, the dashboard)."""
    newest = (select(func.max(DriftPoint.id).label("id")).where(DriftPoint.at >= utcnow() - KEEP_POINTS)
              .group_by(DriftPoint.release_id, DriftPoint.profile, DriftPoint.cohort, DriftPoint.feature).subquery())
    query = (select(DriftPoint, Release).join(newest, newest.c.id == DriftPoint.id)
             .join(Release, Release.id == DriftPoint.release_id)
             .order_by(Release.model, Release.version, DriftPoint.profile, DriftPoint.cohort, DriftPoint.id).limit(limit))
    if model:
        query = query.where(Release.model == model)
    return list(session.execute(query).tuples())


def alert_dict(alert: Alert, release: Release) -> dict[str, Any]:
    return {"id": alert.id, "kind": alert.kind, "state": alert.state, "model": alert.model, "release": release.version,
            "release_path": release.target_path, "profile": alert.profile, "cohort": alert.cohort, "feature": alert.feature,
            "statistic": alert.statistic, "value": round(alert.value, 5), "threshold": alert.threshold, "rows": alert.rows,
            "opened": alert.opened.isoformat(), "updated": alert.updated.isoformat(),
            "resolved": alert.resolved.isoformat() if alert.resolved else None, "webhook": alert.webhook}
