"""Real-time deployment: JSON lines on stdin, one JSON line per prediction on stdout, flushed at
once so a pipe partner gets each answer as soon as it exists.

A line holds one row, as an object by feature name or an array in feature order. A line that is
not JSON, too long, not a usable row or has a NaN or infinite output gets ``{"error": ...}`` and
the stream goes on.
"""

from __future__ import annotations

import json
from typing import IO, Any

from ..loader import LoadedModel
from .predictions import predict_records

MAX_LINE_BYTES = 1 << 20


def serve_lines(model: LoadedModel, source: IO[bytes], sink: IO[str]) -> dict[str, int]:
    """Answer every line of ``source`` until end of input; returns counts of answers and errors."""
    answered = errors = 0
    while True:
        line = source.readline(MAX_LINE_BYTES + 1)
        if not line:
            break
        if len(line) > MAX_LINE_BYTES:
            while line and not line.endswith(b"\n"):  # skip the rest of the oversized line
                line = source.readline(MAX_LINE_BYTES)
            result: dict[str, Any] = {"error": f"line longer than {MAX_LINE_BYTES} bytes; send one row per line"}
        elif not line.strip():
            continue
        else:
            result = _answer(model, line)
        errors += "error" in result
        answered += 1
        sink.write(json.dumps(result) + "\n")
        sink.flush()
    return {"answered": answered, "errors": errors}


def _answer(model: LoadedModel, line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {"error": f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]}); send one JSON object or array per line"}
    return predict_records(model, [record])[0]
