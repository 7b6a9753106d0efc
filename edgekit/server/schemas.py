"""Request and response bodies of the server's API. Input models are never output models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .monitoring.gates import GateSpec

MAX_ID = 2**31 - 1  # database integers: larger numbers name nothing


# PostgreSQL text cannot hold NUL characters. A pattern, not a Python validator: pydantic checks it
# without leaving Rust; a Python callback per string took ~40 of the ~100 µs a telemetry report's
# validation costs on a busy server (benchmarks/fleet/telemetry.py). The app words its error (app.py).
NO_NUL = r"^[^\x00]*$"
NUL_ERROR = "NUL characters are not allowed"
Text = Annotated[str, Field(pattern=NO_NUL)]
Text64 = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Input):
    enrollment_token: Text = Field(min_length=8, max_length=200)
    profile: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    model: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")  # the model the device follows
    tags: list[Text64] = Field(default_factory=list, max_length=32)


class UpdateResult(_Input):
    outcome: Literal["installed", "rolled_back", "rejected", "failed", "unchanged"]
    target: Text | None = Field(default=None, max_length=300)
    detail: Text = Field(default="", max_length=2000)
    from_target: Text | None = Field(default=None, max_length=300)  # rolled_back: the release it left


class StatusReport(_Input):
    installed: Text | None = Field(default=None, max_length=300)
    result: UpdateResult | None = None


Count = Annotated[int, Field(ge=0, le=2**53)]
VIOLATION_KINDS = Literal["missing", "below_min", "above_max", "unknown_category"]


class FeatureCounts(_Input):
    """One feature's histogram on its baseline bins (categories for a categorical one)."""

    counts: list[Count] = Field(default_factory=list, max_length=1024)
    missing: Count = 0
    violations: dict[VIOLATION_KINDS, Count] = Field(default_factory=dict)


class PredictionCounts(_Input):
    kind: Literal["classes", "values", "none"] = "none"
    counts: list[Count] = Field(default_factory=list, max_length=1024)
    score_counts: list[Count] = Field(default_factory=list, max_length=1024)


class LatencyCounts(_Input):
    buckets: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=list, max_length=256)
    counts: list[Count] = Field(default_factory=list, max_length=257)

    @model_validator(mode="after")
    def _shape(self) -> LatencyCounts:
        if self.buckets != sorted(set(self.buckets)):
            raise ValueError("latency buckets must rise strictly")
        if (self.buckets or self.counts) and len(self.counts) != len(self.buckets) + 1:
            raise ValueError("latency counts need one more entry than buckets (the last counts slower calls)")
        return self


class TelemetryReport(_Input):
    """What a device counted since its last report (edgekit_runtime.agent.telemetry_report)."""

    release: Text | None = Field(default=None, max_length=300)
    period_seconds: Finite = Field(default=0, ge=0, le=86_400 * 31)
    counters: dict[Text64, Count] = Field(default_factory=dict, max_length=256)
    features: dict[Text64, FeatureCounts] = Field(default_factory=dict, max_length=1024)
    predictions: PredictionCounts = Field(default_factory=PredictionCounts)
    latency_us: LatencyCounts = Field(default_factory=LatencyCounts)

    @model_validator(mode="after")
    def _consistent(self) -> TelemetryReport:
        rows = self.counters.get("histogram_rows")
        if self.features and rows is None:
            raise ValueError("counters.histogram_rows is required with feature histograms")
        for name, feature in self.features.items():
            if sum(feature.counts) + feature.missing > rows:
                raise ValueError(f"features.{name}: more values counted than counters.histogram_rows")
        if self.counters.get("rows_with_violations", 0) > self.counters.get("rows", 0):
            raise ValueError("counters.rows_with_violations exceeds counters.rows")
        return self

    def payload(self) -> dict[str, Any]:
        """The report as ``model_dump(mode="json")`` gives it (every field is already JSON), built
        from the validated fields in a seventh of the time: ingest does this for every report."""
        return {**self.__dict__, "features": {name: feature.__dict__ for name, feature in self.features.items()},
                "predictions": self.predictions.__dict__, "latency_us": self.latency_us.__dict__}


class EnrollmentTokenRequest(_Input):
    uses: int = Field(default=1, ge=1, le=1_000_000)
    expires_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    profile: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    tags: list[Text64] = Field(default_factory=list, max_length=32)


class ReleaseRequest(_Input):
    model: Text64
    upload: str = Field(pattern=r"^[0-9a-f]{64}$")
    profiles: list[Text64] = Field(default_factory=list, max_length=64)
    bench: dict[str, Any] = Field(default_factory=dict)


class RolloutRequest(_Input):
    model: Text64
    release: int | None = Field(default=None, ge=1, le=MAX_ID)
    stages: list[float] = Field(default_factory=lambda: [1.0, 10.0, 50.0, 100.0], min_length=1, max_length=20)
    profiles: list[Text64] = Field(default_factory=list, max_length=64)
    tags: list[Text64] = Field(default_factory=list, max_length=32)
    gates: GateSpec | None = None  # health gates: the monitor promotes, pauses or rolls back


class PinRequest(_Input):
    model: Text64
    release: int = Field(ge=1, le=MAX_ID)
    device_id: Text = Field(min_length=1, max_length=40)
    unpin: bool = False


class EnrollResponse(BaseModel):
    device_id: str
    device_token: str
    token_expires: datetime
    profile: str
    tags: list[str]
    model: str | None = None
    pin_tag: str  # how the signed targets name this device when it is pinned


class DeviceOut(BaseModel):
    id: str
    profile: str
    model: str | None
    tags: list[str]
    enrolled: datetime
    last_seen: datetime | None
    installed: str | None
    last_result: dict[str, Any] | None


class OwnDeviceOut(DeviceOut):
    """A device's own record, with its pin tag (devices enrolled before pin tags learn it here)."""

    pin_tag: str


class ApiKeyOut(BaseModel):
    key_id: str
    role: str
    created: datetime
    revoked: bool


class UploadOut(BaseModel):
    sha256: str
    length: int
    target: str
    precision: str
    content_hash: str
    bundle: dict[str, Any]


class ReleaseOut(BaseModel):
    model: str
    version: int
    target: str
    profiles: list[str]
    target_path: str
    sha256: str
    length: int
    artifact: dict[str, Any]
    parity: dict[str, Any]
    pins: list[str]
    created: datetime


class TokenOut(BaseModel):
    token: str
    uses: int
    expires: datetime
    profile: str | None
    tags: list[str]
