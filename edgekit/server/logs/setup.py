"""How the server's log lines look, set once by ``edgekit server run`` as uvicorn's ``log_config``
so every worker process logs the same way: ``text`` (one readable line each) or ``json`` (one JSON
object per line: ts, level, event, then the event's fields), on stderr."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
ACCESS_LOGGER = "uvicorn.access"
_RESERVED = ("ts", "level", "event")  # a field with one of these names is renamed, never lost


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """The record as an event name and its fields: an ``edgekit.events`` decision, an HTTP request
    from uvicorn's access log, or any other message (``log``, with the logger and the message)."""
    if hasattr(record, "event"):
        return record.event, dict(record.fields)
    if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, http_version, status = record.args
        return "http.request", {"client": client, "method": method, "path": path, "http": http_version, "status": status}
    return "log", {"logger": record.name, "message": record.getMessage()}


class JsonLines(logging.Formatter):
    """One JSON object per line: ts, level, event, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        name, fields = _event(record)
        line = {"ts": _timestamp(record), "level": record.levelname.lower(), "event": name}
        line.update({(f"{key}_" if key in _RESERVED else key): value for key, value in fields.items()})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextLines(logging.Formatter):
    """``ts LEVEL event key=value ...`` for decisions; ``ts LEVEL logger: message`` for the rest."""

    def format(self, record: logging.LogRecord) -> str:
        head = f"{_timestamp(record)} {record.levelname:<7}"
        if hasattr(record, "event"):
            pairs = " ".join(f"{key}={json.dumps(value, default=str) if not isinstance(value, str) or ' ' in value else value}"
                             for key, value in record.fields.items())
            line = f"{head} {record.event} {pairs}".rstrip()
        else:
            line = f"{head} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_config(level: str, log_format: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: uvicorn's own loggers and edgekit's (``edgekit.events`` and the rest
    under ``edgekit``) at ``level``, through one stderr handler in ``log_format``."""
    formatter = {"json": JsonLines, "text": TextLines}[log_format]
    handler = {"class": "logging.StreamHandler", "formatter": "lines", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lines": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": handler},
        "loggers": {name: dict(logger) for name in ("uvicorn", "uvicorn.error", ACCESS_LOGGER, "edgekit")},
    }
