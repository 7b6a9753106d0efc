"""pipeline.yaml: what to train, for which devices, where to publish and how to roll it out.

    model: sensors-failure                # the release name devices follow
    data: synthetic:sensors?rows=4000     # training data of `pipeline run` (a path or a DATA source)
    label: failure
    family: xgboost                       # and optional params: {max_depth: 4}, tune: N
    min_metrics: {roc_auc: 0.8}           # quality gate on the test split: below it, nothing ships
    devices:                              # one artifact per device profile, auto-fitted
      - raspberry-pi-4b
      - {device: x86-64-gateway-n100, target: onnx}   # or a fixed target
    bench: true                           # time each artifact here (its p99 goes into check and the release)
    server: http://127.0.0.1:8080         # admin key: $EDGEKIT_ADMIN_KEY
    rollout:
      stages: [10, 50, 100]
      gates: {failure_rate: 0.05, prediction_psi: 0.25, p99_latency_ratio: 2.0, hold_seconds: 60}
      wait_seconds: 0                     # > 0: wait that long for the gated rollout to finish
    watch:                                # `pipeline watch`: retrain on fresh data after a drift alert
      fresh_data: /data/latest.parquet    # a path or DATA source, or:
      fresh_command: "export-readings --out {out}"   # a command that writes a CSV/Parquet file at {out}
      min_interval_seconds: 3600          # at most one run per interval
      poll_seconds: 30
    workdir: pipeline-runs                # each run writes run-<UTC time>/ here

Relative paths are relative to the YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import BadInput
from ..server.monitoring.gates import GateSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceBuild(_Strict):
    device: str
    target: str = "auto"  # auto: edgekit's auto-fit picks the build; else a compile target


class RolloutPlan(_Strict):
    stages: list[float] = Field(default_factory=lambda: [10.0, 50.0, 100.0], min_length=1, max_length=20)
    tags: list[str] = Field(default_factory=list)
    gates: GateSpec | None = None
    wait_seconds: float = Field(default=0.0, ge=0, le=7 * 86_400)


class WatchPlan(_Strict):
    fresh_data: str | None = None
    fresh_command: str | None = None
    min_interval_seconds: float = Field(default=3600.0, ge=0)
    poll_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> WatchPlan:
        if (self.fresh_data is None) == (self.fresh_command is None):
            raise ValueError("give exactly one of fresh_data and fresh_command")
        if self.fresh_command is not None and "{out}" not in self.fresh_command:
            raise ValueError("fresh_command must write its file at {out}")
        return self


class PipelineConfig(_Strict):
    model: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    data: str
    label: str | None = None
    family: str = "xgboost"
    params: dict[str, Any] = Field(default_factory=dict)
    tune: int = Field(default=0, ge=0, le=1000)
    seed: int = 0
    min_metrics: dict[str, float] = Field(default_factory=dict)
    devices: list[DeviceBuild] = Field(min_length=1, max_length=32)
    bench: bool = True
    server: str = Field(pattern=r"^https?://\S+$")
    rollout: RolloutPlan = Field(default_factory=RolloutPlan)
    watch: WatchPlan | None = None
    workdir: Path = Path("pipeline-runs")

    @field_validator("devices", mode="before")
    @classmethod
    def _device_names(cls, value: Any) -> Any:
        return [{"device": item} if isinstance(item, str) else item for item in value] if isinstance(value, list) else value


def load_config(path: Path) -> PipelineConfig:
    from ..yaml_files import read_yaml_mapping

    document = read_yaml_mapping(path, "the pipeline", "model: NAME (see edgekit/pipeline/config.py)")
    try:
        config = PipelineConfig(**document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "pipeline"
        raise BadInput(f"{path}: {where}: {error['msg']}", "see the pipeline.yaml example in edgekit pipeline --help") from exc
    base = path.resolve().parent
    if not config.workdir.is_absolute():
        config.workdir = base / config.workdir
    config.data = _relative(config.data, base)
    if config.watch is not None and config.watch.fresh_data is not None:
        config.watch.fresh_data = _relative(config.watch.fresh_data, base)
    return config


def _relative(source: str, base: Path) -> str:
    """A file path relative to the YAML file; DATA sources (bundled:, synthetic:) as they are."""
    if ":" in source.split("/")[0] or Path(source).is_absolute():
        return source
    return str(base / source)
