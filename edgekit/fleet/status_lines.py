"""One-line summaries of the server's rollout answers, for the command line and the quickstart."""

from __future__ import annotations

from typing import Any


def rollout_line(status: dict[str, Any]) -> str:
    devices = status["devices"]
    return (f"rollout {status['id']}: {status['model']} release {status['release']} {status['state']} at {status['percent']:g} % "
            f"(stages {', '.join(f'{stage:g}' for stage in status['stages'])}); profiles {', '.join(status['profiles'])}"
            + (f", tags {', '.join(status['tags'])}" if status["tags"] else "")
            + f"; {devices['running_this_release']} of {devices['in_scope']} devices in scope run it"
            + gate_line(status.get("gates")))


def gate_line(gates: dict[str, Any] | None) -> str:
    if not gates:
        return ""
    from ..server.monitoring.gates import GATES

    declared = ", ".join(f"{name}<={gates['spec'][name]:g}" for name in GATES if gates["spec"].get(name) is not None)
    last = gates.get("last") or {}
    if not last:
        return f"; gates {declared} (not judged yet)"
    verdicts = ", ".join(f"{result['gate']} {result['verdict']}" for result in last["gates"])
    return f"; gates {declared}: {last['verdict']} ({verdicts})" + (f"; {last['action']}: {last['reason']}" if last.get("reason") else "")
