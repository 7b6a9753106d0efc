"""Health gates of a rollout: when its canary cohort may advance a stage, and when it must stop.

Judged on model behaviour as well as installs, over the current stage's observation period:

- failure_rate       canary devices whose install or smoke test failed / canary devices that tried
                     (the canary: devices the signed rule assigns the release to; judged once
                     ``min_devices`` of them tried, so no single device decides)
- error_rate         canary devices whose application reported the model unhealthy (and were
                     switched back) / canary devices that tried
- p99_latency_ratio  the canary's p99 latency / the previous release's p99 on the same profile,
                     the worst profile counting
- prediction_psi     PSI of the canary's prediction histogram against the control cohort's (the
                     in-scope devices still on other releases) over the same period

A gate is declared with its maximum (``--gate prediction_psi<=0.2`` or a YAML mapping); a gate not
declared is not judged. A gate without enough evidence yet waits. Pure: the monitor gathers the
evidence and carries out the verdict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import BadInput

GATES = ("failure_rate", "error_rate", "p99_latency_ratio", "prediction_psi")
SETTINGS = ("min_devices", "min_rows", "min_calls", "hold_seconds", "on_fail", "auto_promote")


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_rate: float | None = Field(default=None, ge=0, le=1)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    p99_latency_ratio: float | None = Field(default=None, gt=0, le=1000)
    prediction_psi: float | None = Field(default=None, gt=0, le=100)
    min_devices: int = Field(default=3, ge=1, le=1_000_000)  # canary devices that tried before judging
    min_rows: int = Field(default=500, ge=1)  # canary (and control) prediction rows before judging predictions
    min_calls: int = Field(default=200, ge=1)  # timed calls on each side before judging latency
    hold_seconds: float = Field(default=60.0, ge=0, le=30 * 86_400)  # at least this long at a stage
    on_fail: Literal["rollback", "pause"] = "rollback"
    auto_promote: bool = True

    def declared(self) -> list[str]:
        return [name for name in GATES if getattr(self, name) is not None]


_GATE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|=)\s*(\S+)\s*$")


def parse_gates(texts: list[str], file: Path | None) -> GateSpec | None:
    """The spec from a YAML file and ``--gate`` texts (texts win); None when neither declares anything."""
    values: dict[str, Any] = {}
    if file is not None:
        values.update(_read_file(file))
    for text in texts:
        match = _GATE.match(text)
        if match is None:
            raise BadInput(f"gate {text!r} is not NAME<=VALUE or SETTING=VALUE",
                           "e.g. --gate prediction_psi<=0.2 --gate failure_rate<=0.05 --gate hold_seconds=60")
        name, operator, value = match.groups()
        if name not in GATES + SETTINGS:
            raise BadInput(f"unknown gate {name!r}", f"gates: {', '.join(GATES)}; settings: {', '.join(SETTINGS)}")
        if (operator == "<=") != (name in GATES):
            raise BadInput(f"gate {text!r}: write {name}{'<=' if name in GATES else '='}VALUE",
                           "gates take a maximum (<=), settings a value (=)")
        values[name] = value
    if not values:
        return None
    try:
        spec = GateSpec(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise BadInput(f"gate {'.'.join(map(str, error['loc']))}: {error['msg']}",
                       f"gates: {', '.join(GATES)}; settings: {', '.join(SETTINGS)}") from exc
    if not spec.declared():
        raise BadInput("no gate is declared, only settings", f"declare at least one of {', '.join(GATES)}, e.g. --gate failure_rate<=0.05")
    return spec


def _read_file(path: Path) -> dict[str, Any]:
    """The gates of a YAML file: its top-level mapping, a ``gates:`` mapping in it merged with the settings beside it."""
    from ...yaml_files import read_yaml_mapping

    document = read_yaml_mapping(path, "the gates", "prediction_psi: 0.2")
    gates = document.pop("gates", {})
    if not isinstance(gates, dict):
        raise BadInput(f"{path}: gates must be a mapping of gate -> maximum", "e.g. gates: {prediction_psi: 0.2}")
    return {**document, **gates}


@dataclass(frozen=True)
class Evidence:
    """What the canary stage produced so far (gathered by the monitor)."""

    seconds_at_stage: float
    devices_tried: int
    devices_failed: int
    devices_unhealthy: int
    latency_ratio: float | None  # worst profile's canary p99 / previous p99; None: not enough calls
    latency_detail: str
    prediction_psi: float | None  # None: not enough rows on one side, or nothing to compare
    prediction_detail: str
    devices_in_stage: int | None = None  # devices the rule assigns the release now; None: not counted (enough tried)


@dataclass(frozen=True)
class GateResult:
    gate: str
    verdict: Literal["pass", "fail", "wait"]
    value: float | None
    limit: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "verdict": self.verdict, "value": None if self.value is None else round(self.value, 5),
                "limit": self.limit, "detail": self.detail}


def _few_devices(min_devices: int, in_stage: int | None, whole_stage: bool, bad: int) -> str:
    """Why a failure-type gate with fewer than ``min_devices`` tried devices waits, or passes."""
    if in_stage == 0:
        return " (no device is in this stage yet: widen the stage or promote by hand)"
    if not whole_stage:
        return f" (need {min_devices})"
    if bad:
        return (f" (every device of this stage, fewer than min_devices {min_devices}: too few to roll back on;"
                " roll back or promote by hand, or widen the stage)")
    return f" (every device of this stage: fewer than min_devices {min_devices}, none failed)"


def judge(spec: GateSpec, evidence: Evidence) -> tuple[str, list[GateResult]]:
    """("fail" | "pass" | "wait", one result per declared gate). Pass needs every gate to pass and the hold to be over."""
    results = []
    tried = evidence.devices_tried
    for name in spec.declared():
        limit = float(getattr(spec, name))
        if name in ("failure_rate", "error_rate"):
            bad = evidence.devices_failed if name == "failure_rate" else evidence.devices_unhealthy
            value = bad / tried if tried else None
            what = "failed to install or smoke-test" if name == "failure_rate" else "reported unhealthy by the application"
            detail = f"{bad} of {tried} canary device(s) {what}"
            # A failure needs min_devices: one device (perhaps a forged one) must not roll a release back
            # alone. A stage that holds fewer devices, all of which tried without a failure, passes
            # (as a rollout group is judged on the devices it has): else it would wait forever.
            whole_stage = evidence.devices_in_stage is not None and 0 < evidence.devices_in_stage <= tried
            decided = tried >= spec.min_devices or (whole_stage and bad == 0)
            if tried < spec.min_devices:
                detail += _few_devices(spec.min_devices, evidence.devices_in_stage, whole_stage, bad)
        elif name == "p99_latency_ratio":
            value, detail, decided = evidence.latency_ratio, evidence.latency_detail, evidence.latency_ratio is not None
        else:
            value, detail, decided = evidence.prediction_psi, evidence.prediction_detail, evidence.prediction_psi is not None
        if not decided or value is None:
            results.append(GateResult(name, "wait", value, limit, detail))
        else:
            results.append(GateResult(name, "fail" if value > limit or math.isnan(value) else "pass", value, limit, detail))
    if any(result.verdict == "fail" for result in results):
        return "fail", results
    if all(result.verdict == "pass" for result in results) and evidence.seconds_at_stage >= spec.hold_seconds:
        return "pass", results
    return "wait", results
