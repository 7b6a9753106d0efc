"""Turning the application's cumulative counters (``telemetry/<pid>-<slot>.json``, written by
current_model) into bounded deltas for the server: what happened since the last report, per
release. Counters of a process that has ended are reported one last time, then removed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..atomic import write_atomically

SENT_FILE = "telemetry-sent.json"


CONSTANT_KEYS = frozenset({"buckets", "kind"})  # descriptions, not counters: copied, never subtracted


def _minus(now: Any, before: Any) -> Any:
    """now - before, for the nested counters of a report."""
    if isinstance(now, dict):
        return {key: value if key in CONSTANT_KEYS else _minus(value, (before or {}).get(key)) for key, value in now.items()}
    if isinstance(now, list):
        before = before if isinstance(before, list) and len(before) == len(now) else [0] * len(now)
        return [_minus(value, old) for value, old in zip(now, before, strict=True)]
    if isinstance(now, int | float) and not isinstance(now, bool):
        return now - (before if isinstance(before, int | float) else 0)
    return now


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pending_reports(state_root: Path, max_bytes: int) -> list[tuple[str, dict[str, Any]]]:
    """(file name, telemetry payload) for every counter file with something new since it was sent."""
    directory = state_root / "telemetry"
    if not directory.is_dir():
        return []
    sent = _sent(state_root)
    reports = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        before = sent.get(path.name, {})
        if (before.get("report") or {}).get("rows", 0) > document["report"].get("rows", 0):
            before = {}  # the counters restarted under this name: all of them are new
        delta = _minus(document["report"], before.get("report"))
        if not delta.get("rows"):
            if not _alive(int(document.get("pid", 0))):  # nothing new and its process is gone: forget it
                path.unlink(missing_ok=True)
                sent.pop(path.name, None)
                write_atomically(state_root / SENT_FILE, json.dumps(sent))
            continue
        payload = telemetry_payload(document["release"], document["written"] - before.get("written", document["written"]), delta)
        if len(json.dumps(payload)) > max_bytes:  # bounded: counters always fit, histograms may not
            payload["features"] = {}
            payload["counters"]["features_omitted"] = 1
        reports.append((path.name, payload))
    return reports


def telemetry_payload(release: str, period_seconds: float, report: dict[str, Any]) -> dict[str, Any]:
    """The body of POST /v1/devices/ID/telemetry for counters ``report`` (an input report's shape,
    edgekit_runtime.inputs.monitor) gathered over ``period_seconds``."""
    histograms = report.get("histograms") or {}
    return {
        "release": release,
        "period_seconds": max(0.0, min(86_400 * 31, period_seconds)),
        "counters": {"rows": report["rows"], "rows_with_violations": report["rows_with_violations"],
                     "histogram_rows": histograms.get("rows", 0), **report["violations"]},
        "features": {name: {**counts, "violations": report["features"].get(name, {})}
                     for name, counts in (histograms.get("features") or {}).items()},
        "predictions": histograms.get("predictions") or {},
        "latency_us": histograms.get("latency_us") or {},
    }


def mark_sent(state_root: Path, name: str) -> None:
    path = state_root / "telemetry" / name
    document = json.loads(path.read_text())
    sent = _sent(state_root)
    sent[name] = {"report": document["report"], "written": document["written"]}
    if not _alive(int(document["pid"])):  # its last counters are out: forget the file
        path.unlink(missing_ok=True)
        sent.pop(name, None)
    write_atomically(state_root / SENT_FILE, json.dumps(sent))


def _sent(state_root: Path) -> dict[str, Any]:
    path = state_root / SENT_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


