"""The audit log: every admin action and enrollment, who did it and when; each entry is also an
event in the operator's log (logs/events.py) once its transaction commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .db import AuditEntry
from .logs import events


def record(session: Session, actor: str, action: str, detail: dict[str, Any]) -> None:
    session.add(AuditEntry(actor=actor, action=action, detail=detail))
    events.note(session, action, {"actor": actor, **detail})
