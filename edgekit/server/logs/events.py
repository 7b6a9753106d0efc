"""The event log: one line per decision the server made (a release published, a rollout promoted,
paused or rolled back and why, a drift alert opened or resolved, a key rotated, an enrollment token
created), written to the ``edgekit.events`` logger only once the transaction that made it commits,
so a rolled-back request never logs a decision that did not happen."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

LOGGER = logging.getLogger("edgekit.events")
_PENDING = "edgekit_events"  # the key in Session.info where a transaction's events wait for its commit

# Decisions every device makes happen (one per enrollment, one per upload) are detail, not news.
_DEBUG_EVENTS = frozenset({"enroll", "upload"})


def note(session: Session, name: str, fields: dict[str, Any]) -> None:
    """Log event ``name`` with ``fields`` when ``session``'s transaction commits."""
    session.info.setdefault(_PENDING, []).append((name, fields))


def emit(name: str, fields: dict[str, Any]) -> None:
    """Log event ``name`` now (for decisions made outside a database transaction)."""
    level = logging.DEBUG if name in _DEBUG_EVENTS else logging.INFO
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, name, extra={"event": name, "fields": fields})


@event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    for name, fields in session.info.pop(_PENDING, ()):
        emit(name, fields)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
