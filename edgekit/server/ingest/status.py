"""Writing a batch of accepted status reports in one transaction: each device's row (what it
runs, its last result, when it was seen) and the update events gates count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update

from ..db import Database, Device, DeviceEvent


@dataclass(frozen=True)
class AcceptedStatus:
    device_id: str
    installed: str | None
    last_result: dict[str, Any] | None  # None: the report carried no result (the stored one stays)
    event: dict[str, Any] | None  # a DeviceEvent's fields when the outcome is a change
    received: datetime


def write_status(database: Database, batch: list[AcceptedStatus]) -> None:
    rows: dict[str, dict[str, Any]] = {}
    for status in batch:  # in arrival order: a device's later report wins, as if written one by one
        row = rows.setdefault(status.device_id, {"id": status.device_id})
        row.update(last_seen=status.received, installed=status.installed)
        if status.last_result is not None:
            row["last_result"] = status.last_result
    with database.session() as session:
        for columns in ({"id", "last_seen", "installed"}, {"id", "last_seen", "installed", "last_result"}):
            same = [row for row in rows.values() if row.keys() == columns]  # one executemany per column set
            if same:
                session.execute(update(Device), sorted(same, key=lambda row: row["id"]))
        events = [{"device_id": status.device_id, "at": status.received, **status.event} for status in batch if status.event]
        if events:
            session.execute(insert(DeviceEvent), events)
