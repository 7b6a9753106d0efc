"""The audit log: every admin action and enrollment, who did it and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .db import AuditEntry


def record(session: Session, actor: str, action: str, detail: dict[str, Any]) -> None:
    session.add(AuditEntry(actor=actor, action=action, detail=detail))
