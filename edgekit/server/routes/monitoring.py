"""The monitoring API (operator key reads, admin key runs a pass): drift alerts, the latest drift
statistics per release, profile, cohort and feature, and a monitor pass on demand."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from ..auth import AdminActor, ReaderActor
from ..db import Alert, Release
from ..monitoring.monitor import alert_dict, latest_drift_points

router = APIRouter(prefix="/v1/admin", tags=["monitoring"])
ModelName = Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/alerts")
def list_alerts(request: Request, actor: ReaderActor, model: ModelName = None,
                state: Literal["open", "resolved", "all"] = "open", limit: Limit = 200) -> list[dict[str, Any]]:
    with request.app.state.database.session() as session:
        query = select(Alert, Release).join(Release, Release.id == Alert.release_id).order_by(Alert.id.desc()).limit(limit)
        if model:
            query = query.where(Alert.model == model)
        if state != "all":
            query = query.where(Alert.state == state)
        return [alert_dict(alert, release) for alert, release in session.execute(query)]


@router.get("/drift")
def drift_status(request: Request, actor: ReaderActor, model: ModelName = None) -> list[dict[str, Any]]:
    """The latest evaluation of every (release, profile, cohort, feature) group of the model(s)."""
    with request.app.state.database.session() as session:
        return [{"model": release.model, "release": release.version, "release_path": release.target_path,
                 "profile": point.profile, "cohort": point.cohort, "feature": point.feature, "at": point.at.isoformat(),
                 "rows": point.rows, "psi": round(point.psi, 5), "ks": round(point.ks, 5),
                 "violation_rate": round(point.violation_rate, 5)} for point, release in latest_drift_points(session, model)]


@router.post("/monitor/run")
async def run_monitor(request: Request, actor: AdminActor) -> dict[str, Any]:
    """Judge drift and every gated rollout now (the server also does it every monitor_seconds)."""
    result = await run_in_threadpool(request.app.state.monitor.run_pass, True)
    if any(decision["action"] for decision in result["rollouts"]):
        request.app.state.metadata.forget_timestamp()
    return result
