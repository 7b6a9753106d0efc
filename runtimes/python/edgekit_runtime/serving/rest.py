"""Local REST deployment: a small HTTP endpoint for apps on the same device (127.0.0.1 by default).

    POST /v1/predict   {"rows": [row, ...]} -> 200 {"predictions": [...]}
                       a row is an object by feature name or an array in feature order
    GET  /v1/model     what is loaded (bundle, target, features, classes)
    GET  /v1/inputs    the input-violation counters since start
    GET  /healthz      200 once the model is loaded

Bad requests get a 4xx with {"error": ...} and change nothing: 400 malformed JSON or body,
411 no Content-Length, 413 a body or row count over the limits, 422 rows that are not valid input
(each refused row named by index; no row of that request is predicted), and 422 when the model's
output for a row is NaN or infinite (no prediction: those rows named, none returned).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..loader import LoadedModel, non_finite_rows
from .predictions import NO_FINITE_OUTPUT, encode_records, output_records, schema_of


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20
    max_rows: int = 10_000


class PredictionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: LoadedModel, host: str, port: int, limits: Limits = Limits()) -> None:
        self.model, self.limits = model, limits
        self.schema = schema_of(model)
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def model_summary(self) -> dict[str, Any]:
        descriptor = self.model.descriptor
        return {
            "bundle": {key: descriptor["bundle"].get(key) for key in ("name", "version", "content_hash", "task")},
            "target": descriptor.get("target"),
            "runtime": self.model.runtime,
            "features": list(self.schema.names),
            "classes": self.model.classes,
        }


class _Handler(BaseHTTPRequestHandler):
    server: PredictionServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the device's log; counters say what happened

    def do_GET(self) -> None:
        routes = {"/healthz": lambda: {"ok": True}, "/v1/model": self.server.model_summary,
                  "/v1/inputs": self.server.model.input_report}
        route = routes.get(self.path.split("?")[0])
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path[:100]}; see /v1/predict, /v1/model"})
        else:
            self._send(HTTPStatus.OK, route())

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/v1/predict":
            self._send(HTTPStatus.NOT_FOUND, {"error": "POST to /v1/predict"}, drain=True)
            return
        body = self._body()
        if body is None:
            return
        rows = body.get("rows") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            self._send(HTTPStatus.BAD_REQUEST, {"error": 'the body must be {"rows": [row, ...]} with at least one row'})
            return
        limits = self.server.limits
        if len(rows) > limits.max_rows:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"{len(rows)} rows; at most {limits.max_rows} per request"})
            return
        encoded, unknown, _, errors = encode_records(self.server.schema, rows)
        if errors:
            refused = [{"index": index, "error": reason} for index, reason in sorted(errors.items())[:20]]
            first = refused[0]
            self._send(HTTPStatus.UNPROCESSABLE_ENTITY, {
                "error": f"{len(errors)} of {len(rows)} rows are not valid input (row {first['index']}: {first['error']}); "
                "nothing was predicted", "rows": refused})
            return
        outputs = self.server.model.predict_encoded(encoded, unknown)
        bad = non_finite_rows(outputs).tolist()
        if bad:
            self._send(HTTPStatus.UNPROCESSABLE_ENTITY, {
                "error": f"{len(bad)} of {len(rows)} rows have no finite prediction (row {bad[0]}: {NO_FINITE_OUTPUT}); "
                "nothing was returned", "rows": [{"index": index, "error": NO_FINITE_OUTPUT} for index in bad[:20]]})
            return
        self._send(HTTPStatus.OK, {"predictions": output_records(self.server.model, outputs)})

    def _body(self) -> Any:
        """The parsed JSON body, or None after answering with the reason it is refused."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(HTTPStatus.LENGTH_REQUIRED, {"error": "send a Content-Length header"}, close=True)
            return None
        if int(length) > self.server.limits.max_body_bytes:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       {"error": f"body of {length} bytes; the limit is {self.server.limits.max_body_bytes}"}, close=True)
            return None
        try:
            return json.loads(self.rfile.read(int(length)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": f"the body is not JSON ({exc.__class__.__name__})"})
            return None

    def _send(self, status: HTTPStatus, document: dict[str, Any], close: bool = False, drain: bool = False) -> None:
        if drain:  # read an unwanted body so the connection stays usable
            length = self.headers.get("Content-Length", "0")
            if length.isdigit() and int(length) <= self.server.limits.max_body_bytes:
                self.rfile.read(int(length))
            else:
                close = True
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if close:  # the unread body is still on the socket: this connection cannot be reused
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
