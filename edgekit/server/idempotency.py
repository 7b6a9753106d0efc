"""Admin writes a client may retry: the answer to a request carrying an ``Idempotency-Key`` is
stored in the write's own transaction, so a retry after a lost response gets that answer back
instead of a second publish, promotion, rollback or pin. Keys are per API key and kept a day."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.orm import Session

from .auth import Actor
from .db import IdempotentAnswer, utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEEP = timedelta(days=1)
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces (a UUID, a ULID, ...)


class IdempotentWrite:
    """One admin write: ``replay()`` before the write (inside the transaction, after the metadata
    lock, so two racing retries are serialized), ``remember()`` after it, in the same transaction."""

    def __init__(self, request: Request, actor: Actor, body: Any = None) -> None:
        self.key = request.headers.get(HEADER)
        if self.key is not None and not _KEY.match(self.key):
            raise HTTPException(422, f"{HEADER}: 1 to 128 printable ASCII characters without spaces, e.g. a UUID")
        self.actor = actor.name
        canonical = json.dumps(jsonable_encoder(body), sort_keys=True, separators=(",", ":"))
        self.fingerprint = hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()

    def replay(self, session: Session) -> JSONResponse | None:
        """The stored answer to this key, or None when the write is to be done."""
        if self.key is None:
            return None
        session.execute(delete(IdempotentAnswer).where(IdempotentAnswer.created < utcnow() - KEEP))
        answer = session.get(IdempotentAnswer, (self.actor, self.key))
        if answer is None:
            return None
        if answer.fingerprint != self.fingerprint:
            raise HTTPException(422, f"{HEADER} {self.key[:40]!r} was used for a different request; send a new key for a new request")
        return JSONResponse(answer.response, status_code=answer.status, headers={REPLAYED: "true"})

    def remember(self, session: Session, status: int, response: Any) -> Any:
        """Store the answer (when the request carried a key); returns ``response``."""
        if self.key is not None:
            session.add(IdempotentAnswer(actor=self.actor, key=self.key, fingerprint=self.fingerprint, status=status,
                                         response=jsonable_encoder(response), created=utcnow()))
        return response
