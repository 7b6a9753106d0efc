"""The read-only web dashboard: server-rendered HTML pages under /dashboard (fleet overview,
rollouts, drift, alerts, audit log) for an operator or admin key.

Browsers cannot send a Bearer header when they navigate, so the key is also accepted as the
password of HTTP Basic (any user name). Pages need no JavaScript and load nothing from anywhere:
styles are inline and charts are SVG drawn here (svg_plot.py); every answer, errors included,
carries a CSP that forbids everything else. Every query is bounded, and counts over devices are
aggregated in the database, so a page costs a fixed handful of queries whatever the fleet's size.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import Integer, case, cast, extract, func, select
from sqlalchemy.orm import Session

from ..auth import Actor, api_key
from ..db import Alert, AuditEntry, Device, DriftPoint, Release, Rollout, RolloutGate, TelemetryRollup, utcnow
from ..monitoring.buckets import bucket_of
from ..monitoring.drift import PREDICTIONS, prediction_histograms
from ..monitoring.gates import GATES
from ..monitoring.monitor import ALL_DEVICES, KEEP_POINTS, alert_dict, latest_drift_points
from ..monitoring.totals import Totals
from ..repository.releases import baseline_of
from ..settings import ServerSettings
from .svg_histogram import bin_labels, histogram_chart, short_number
from .svg_plot import PALETTE, Series, line_chart

REALM = "edgekit dashboard"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
RECENTLY_SEEN = timedelta(minutes=15)
STALE_AFTER = timedelta(hours=24)
# Row limits: a page shows at most this much, and says when there is more.
MAX_RELEASES, MAX_ROLLOUTS, MAX_HISTORY, MAX_ALERTS, MAX_RESOLVED, MAX_AUDIT = 50, 100, 50, 200, 100, 200
MAX_DRIFT_GROUPS = 3000  # latest statistics rows on the drift page
MAX_HISTOGRAM_SECTIONS = 20  # (release, profile) sections whose drifted features get baseline-vs-now histograms
POINTS_PER_LINE = 200
LINES_PER_CHART = len(PALETTE)
MAX_DETAIL_CHARS = 4000

ModelName = Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")]


# --- every answer: security headers, errors as small HTML pages --------------------------------

class _DashboardRoute(APIRoute):
    """Adds the security headers to every answer and renders errors (401, 403, 422) as HTML
    here, because the app's own handlers answer JSON and do not know these headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                response = _render(request, "error.html", None, exc.status_code, dict(exc.headers or {}),
                                   title=f"HTTP {exc.status_code}", message=str(exc.detail))
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
                where = ".".join(str(part) for part in first.get("loc", ()))
                response = _render(request, "error.html", None, 422, {}, title="HTTP 422",
                                   message=f"{where or 'request'}: {first.get('msg')}")
            response.headers.update(SECURITY_HEADERS)
            return response

        return guarded


router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=_DashboardRoute)


# --- who is looking ------------------------------------------------------------------------------

def presented_key(request: Request) -> str | None:
    """The key in ``Authorization: Bearer KEY`` or the password of ``Authorization: Basic``; None without one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon and password else None
    return None


def viewer(request: Request) -> Actor:
    """An operator or admin API key (auth.api_key, with a Basic challenge). Device tokens live in
    another table, so they are unknown keys here."""
    challenge = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
    key = presented_key(request)
    if key is None:
        raise HTTPException(401, "sign in with an operator or admin API key as the password", headers=challenge)
    return api_key(request, ("admin", "operator"), key, challenge)


Viewer = Annotated[Actor, Depends(viewer)]


# --- rendering -------------------------------------------------------------------------------------

def _when(value: datetime | str | None) -> str:
    """A UTC time to the second, from a datetime or the ISO text stored in JSON columns."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value[:19]
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float | None) -> str:
    """Counts with thousands separators, other numbers to three significant digits and never in
    e-notation (a PSI of 7.03e-05 reads "< 0.001")."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if 0 < value < 0.001:
        return "< 0.001"
    return short_number(value)


def _compact_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"


TEMPLATES = Environment(loader=PackageLoader("edgekit.server.dashboard", "templates"), autoescape=select_autoescape(["html"]),
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters.update(when=_when, number=_number, compact_json=_compact_json)


def _render(request: Request, template: str, actor: Actor | None, status: int = 200,
            headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    root = f"{request.scope.get('root_path', '')}{router.prefix}"  # links keep working behind a path prefix
    html = TEMPLATES.get_template(template).render(root=root, actor=actor, now=utcnow(), path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


# --- queries shared by pages ----------------------------------------------------------------------

def _device_counts(session: Session) -> list[tuple[str, str | None, bool, int]]:
    """(profile, installed target path, revoked, devices): one GROUP BY, however many devices."""
    query = (select(Device.profile, Device.installed, Device.revoked, func.count())
             .group_by(Device.profile, Device.installed, Device.revoked))
    return [(profile, installed, bool(revoked), count) for profile, installed, revoked, count in session.execute(query)]


def _installed_matrix(counts: list[tuple[str, str | None, bool, int]]) -> dict[str, Any]:
    """Active devices per profile (rows) and installed release (columns, "none" last)."""
    cells: dict[str, dict[str, int]] = defaultdict(dict)
    for profile, installed, revoked, count in counts:
        if not revoked:
            column = installed or "none"
            cells[profile][column] = cells[profile].get(column, 0) + count
    columns = sorted({column for row in cells.values() for column in row} - {"none"})
    columns += ["none"] if any("none" in row for row in cells.values()) else []
    rows = [{"profile": profile, "cells": [row.get(column, 0) for column in columns], "total": sum(row.values())}
            for profile, row in sorted(cells.items())]
    totals = [sum(row["cells"][index] for row in rows) for index in range(len(columns))]
    return {"columns": columns, "rows": rows, "totals": totals, "total": sum(totals)}


# --- pages -------------------------------------------------------------------------------------------

@router.get("", response_class=HTMLResponse)
def overview(request: Request, actor: Viewer) -> HTMLResponse:
    now = utcnow()
    with request.app.state.database.session() as session:
        counts = _device_counts(session)
        seen = session.execute(
            select(Device.profile, func.count(),
                   func.sum(case((Device.last_seen >= now - RECENTLY_SEEN, 1), else_=0)),
                   func.sum(case((Device.last_seen < now - STALE_AFTER, 1), else_=0)),
                   func.sum(case((Device.last_seen.is_(None), 1), else_=0)))
            .where(Device.revoked.is_(False)).group_by(Device.profile).order_by(Device.profile)).all()
        releases = session.scalars(select(Release).order_by(Release.id.desc()).limit(MAX_RELEASES)).all()
        release_count = session.scalar(select(func.count()).select_from(Release)) or 0
        open_alerts = dict(session.execute(
            select(Alert.kind, func.count()).where(Alert.state == "open").group_by(Alert.kind)).all())
        active = session.execute(
            select(Rollout, Release).join(Release, Release.id == Rollout.release_id)
            .where(Rollout.state.in_(("active", "paused"))).order_by(Rollout.id.desc()).limit(MAX_ROLLOUTS)).all()
    last_seen = [{"profile": profile, "devices": total, "recent": int(recent or 0), "stale": int(stale or 0),
                  "never": int(never or 0), "between": total - int(recent or 0) - int(stale or 0) - int(never or 0)}
                 for profile, total, recent, stale, never in seen]
    return _render(request, "overview.html", actor, matrix=_installed_matrix(counts), last_seen=last_seen,
                   revoked=sum(count for *_, revoked, count in counts if revoked), releases=releases,
                   release_count=release_count, open_alerts=open_alerts, active=[_rollout_row(r, rel) for r, rel in active],
                   recently=int(RECENTLY_SEEN.total_seconds() // 60), stale_hours=int(STALE_AFTER.total_seconds() // 3600))


def _rollout_row(rollout: Rollout, release: Release) -> dict[str, Any]:
    return {"id": rollout.id, "model": release.model, "version": release.version, "target_path": release.target_path,
            "state": rollout.state, "percent": rollout.percent, "stage": rollout.stage, "stages": rollout.stages,
            "profiles": rollout.profiles or release.profiles, "tags": rollout.tags, "created": rollout.created}


@router.get("/rollouts", response_class=HTMLResponse)
def rollouts_page(request: Request, actor: Viewer) -> HTMLResponse:
    with request.app.state.database.session() as session:
        found = session.execute(
            select(Rollout, Release, RolloutGate).join(Release, Release.id == Rollout.release_id)
            .outerjoin(RolloutGate, RolloutGate.rollout_id == Rollout.id)
            .order_by(Rollout.id.desc()).limit(MAX_ROLLOUTS)).all()
        total = session.scalar(select(func.count()).select_from(Rollout)) or 0
        counts = _device_counts(session)
    shown = []
    for rollout, release, gate in found:
        row = _rollout_row(rollout, release)
        scope = set(row["profiles"])
        row["in_scope"] = sum(count for profile, _, revoked, count in counts if profile in scope and not revoked)
        row["running"] = sum(count for profile, installed, revoked, count in counts
                             if profile in scope and not revoked and installed == release.target_path)
        row["history"] = list(reversed(rollout.history[-MAX_HISTORY:]))  # newest first
        row["history_hidden"] = max(0, len(rollout.history) - MAX_HISTORY)
        row["gate"] = None if gate is None else _gate_view(gate)
        shown.append(row)
    return _render(request, "rollouts.html", actor, rollouts=shown, total=total)


def _gate_view(gate: RolloutGate) -> dict[str, Any]:
    spec = gate.spec or {}
    declared = [(name, spec[name]) for name in GATES if spec.get(name) is not None]
    settings = [(name, value) for name, value in spec.items() if name not in GATES]
    return {"declared": declared, "settings": settings, "stage_started": gate.stage_started, "last": gate.last or None}


@router.get("/drift", response_class=HTMLResponse)
def drift_page(request: Request, actor: Viewer, model: ModelName = None) -> HTMLResponse:
    settings: ServerSettings = request.app.state.settings
    thresholds = {"psi": settings.drift_psi, "ks": settings.drift_ks, "violation_rate": settings.drift_violation_rate}
    since = utcnow() - KEEP_POINTS
    with request.app.state.database.session() as session:
        models = session.scalars(select(Release.model).distinct().order_by(Release.model).limit(100)).all()
        latest = latest_drift_points(session, model, MAX_DRIFT_GROUPS)
        release_ids = {point.release_id for point, _ in latest}
        cohorts = _plotted_cohorts(latest)
        history = _psi_history(session, release_ids, {c for chosen in cohorts.values() for c in chosen}, since)
        sections = _drift_sections(latest, cohorts, history, thresholds, settings.drift_min_rows)
        drifting = [section for section in sections if section["drifted"]][:MAX_HISTOGRAM_SECTIONS]
        current = _current_totals(session, {(section["target_path"], section["profile"]) for section in drifting},
                                  utcnow() - timedelta(seconds=settings.drift_window_seconds), settings.rollup_seconds)
        for section in drifting:
            _add_histograms(section, baseline_of(session, section["release"]), current.get((section["target_path"], section["profile"])))
    return _render(request, "drift.html", actor, sections=sections, thresholds=thresholds, models=models, model=model,
                   min_rows=settings.drift_min_rows, truncated=len(latest) >= MAX_DRIFT_GROUPS,
                   max_groups=MAX_DRIFT_GROUPS)


def _plotted_cohorts(latest: list[tuple[DriftPoint, Release]]) -> dict[tuple[int, str], list[str]]:
    """Per (release, profile): the cohorts that get a line — every device first, then the most
    drifted (highest latest PSI), at most one per colour."""
    worst: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)
    for point, _ in latest:
        group = worst[(point.release_id, point.profile)]
        group[point.cohort] = max(group.get(point.cohort, 0.0), point.psi)
    return {key: sorted(psi, key=lambda cohort: (cohort != ALL_DEVICES, -psi[cohort], cohort))[:LINES_PER_CHART]
            for key, psi in worst.items()}


def _psi_history(session: Session, release_ids: set[int], cohorts: set[str], since: datetime
                 ) -> dict[tuple[int, str, str, str], list[tuple[float, float]]]:
    """PSI over time per (release, profile, cohort, feature): the points since ``since`` grouped
    into at most POINTS_PER_LINE equal time buckets, each bucket's highest PSI (a spike must not
    be averaged away), so the rows read stay bounded however often the monitor ran."""
    if not release_ids or not cohorts:
        return {}
    scope = (DriftPoint.at >= since, DriftPoint.release_id.in_(release_ids), DriftPoint.cohort.in_(cohorts))
    first, last = session.execute(select(func.min(DriftPoint.at), func.max(DriftPoint.at)).where(*scope)).one()
    if first is None:
        return {}
    width = max(1, int((last - first).total_seconds() / POINTS_PER_LINE) + 1)
    bucket = cast(extract("epoch", DriftPoint.at) / width, Integer)  # portable: SQLite strftime('%s'), PostgreSQL EXTRACT
    query = (select(DriftPoint.release_id, DriftPoint.profile, DriftPoint.cohort, DriftPoint.feature,
                    func.max(DriftPoint.at), func.max(DriftPoint.psi))
             .where(*scope).group_by(DriftPoint.release_id, DriftPoint.profile, DriftPoint.cohort, DriftPoint.feature, bucket))
    lines: dict[tuple[int, str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for release_id, profile, cohort, feature, at, psi in session.execute(query):
        lines[(release_id, profile, cohort, feature)].append((_epoch(at), psi))
    return lines


def _epoch(value: datetime) -> float:
    return (value - datetime(1970, 1, 1)).total_seconds()  # stored naive, always UTC


def _severity(point: DriftPoint, thresholds: dict[str, float]) -> float:
    """How far past its thresholds a point is: 1.0 at the nearest threshold, above 1 drifted."""
    return max(point.psi / thresholds["psi"], point.ks / thresholds["ks"], point.violation_rate / thresholds["violation_rate"])


def _drift_sections(latest: list[tuple[DriftPoint, Release]], cohorts: dict[tuple[int, str], list[str]],
                    history: dict[tuple[int, str, str, str], list[tuple[float, float]]], thresholds: dict[str, float],
                    min_rows: int) -> list[dict[str, Any]]:
    """One section per (release, profile): a table per cohort and a PSI chart per feature, features
    worst first (the one that drifts is what the operator came for); drifted features apart."""
    sections: dict[tuple[int, str], dict[str, Any]] = {}
    for point, release in latest:
        key = (release.id, point.profile)
        section = sections.setdefault(key, {"release": release, "model": release.model, "version": release.version,
                                            "target_path": release.target_path, "profile": point.profile,
                                            "cohorts": defaultdict(list), "worst": {}, "judged": set()})
        section["cohorts"][point.cohort].append(point)
        section["worst"][point.feature] = max(section["worst"].get(point.feature, 0.0), _severity(point, thresholds))
        if point.rows >= min_rows and _severity(point, thresholds) >= 1:
            section["judged"].add(point.feature)
    for (release_id, profile), section in sections.items():
        worst = section.pop("worst")
        order = sorted(worst, key=lambda feature: (-worst[feature], feature))
        rank = {feature: index for index, feature in enumerate(order)}
        chosen = cohorts.get((release_id, profile), [])
        section["cohorts"] = [(cohort, sorted(points, key=lambda point: rank[point.feature]))
                              for cohort, points in sorted(section["cohorts"].items(), key=lambda item: (item[0] != ALL_DEVICES, item[0]))]
        # Markup: svg_plot escapes every text it writes
        charts = [{"feature": feature, "histogram": None, "psi": Markup(line_chart(
            [Series("all devices" if cohort == ALL_DEVICES else cohort, history.get((release_id, profile, cohort, feature), []))
             for cohort in chosen],
            title=f"PSI of {feature}", y_label="PSI", threshold=thresholds["psi"], threshold_label=f"alert at {thresholds['psi']:g}"))}
            for feature in order]
        drifted = section.pop("judged")
        section["drifted"] = [chart for chart in charts if chart["feature"] in drifted]
        section["steady"] = [chart for chart in charts if chart["feature"] not in drifted]
        section["hidden_cohorts"] = max(0, len(section["cohorts"]) - len(chosen))
    return list(sections.values())


def _current_totals(session: Session, groups: set[tuple[str, str]], since: datetime, rollup_seconds: int
                    ) -> dict[tuple[str, str], Totals]:
    """What every device of each (release target path, profile) reported over the drift window:
    the rollups of its buckets, a bounded number of rows whatever the fleet's size."""
    if not groups:
        return {}
    query = (select(TelemetryRollup.release, TelemetryRollup.profile, TelemetryRollup.sums)
             .where(TelemetryRollup.minute >= bucket_of(since, rollup_seconds), TelemetryRollup.release.in_({path for path, _ in groups})))
    totals: dict[tuple[str, str], Totals] = defaultdict(Totals)
    for path, profile, sums in session.execute(query):
        if (path, profile) in groups:
            totals[(path, profile)].merge(Totals.from_json(sums))
    return totals


def _add_histograms(section: dict[str, Any], baseline: dict[str, Any] | None, totals: Totals | None) -> None:
    """Beside each drifted feature's PSI chart: its training baseline and what devices report now."""
    if baseline is None or totals is None:
        return
    features = {feature["name"]: feature for feature in baseline["features"]["features"]}
    for chart in section["drifted"]:
        name = chart["feature"]
        if name == PREDICTIONS:
            found = prediction_histograms(baseline.get("predictions") or {}, totals)
            if found is None:
                continue
            expected, actual, _ = found
            labels, expected, actual = [str(index) for index in range(len(expected))], list(expected), list(actual)
        elif name in features and name in totals.features and len(totals.features[name].counts) == len(features[name]["counts"]):
            feature, now = features[name], totals.features[name]
            labels, expected, actual = bin_labels(feature), [*feature["counts"], feature["missing"]], [*now.counts.tolist(), now.missing]
        else:
            continue
        chart["histogram"] = Markup(histogram_chart(f"{name}: training vs now", labels, expected, actual))


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, actor: Viewer) -> HTMLResponse:
    with request.app.state.database.session() as session:
        joined = select(Alert, Release).join(Release, Release.id == Alert.release_id)
        open_alerts = [alert_dict(alert, release) for alert, release in session.execute(
            joined.where(Alert.state == "open").order_by(Alert.id.desc()).limit(MAX_ALERTS))]
        resolved = [alert_dict(alert, release) for alert, release in session.execute(
            joined.where(Alert.state == "resolved").order_by(Alert.resolved.desc()).limit(MAX_RESOLVED))]
        open_total = session.scalar(select(func.count()).select_from(Alert).where(Alert.state == "open")) or 0
    return _render(request, "alerts.html", actor, open_alerts=open_alerts, resolved=resolved, open_total=open_total)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, actor: Viewer) -> HTMLResponse:
    with request.app.state.database.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(MAX_AUDIT)).all()
    return _render(request, "audit.html", actor, entries=entries, limit=MAX_AUDIT)


__all__ = ["SECURITY_HEADERS", "presented_key", "router", "viewer"]
