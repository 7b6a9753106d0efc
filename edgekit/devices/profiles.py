"""Device profiles: one YAML file per real device in ``device_configs/``, validated by pydantic.

Sizes are whole bytes and clocks whole MHz (field names carry the unit); unknown keys are errors, so
a typo'd or wrongly-unitted field names its file and field instead of being ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import BadInput

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cpu(_Strict):
    arch: Literal["aarch64", "armv7", "armv6m", "armv7m", "armv7em", "x86_64", "xtensa"]
    triple: str
    core: str
    mhz: int = Field(gt=0, le=10_000)
    cores: int = Field(ge=1, le=256)
    fpu: Literal["none", "single", "double"]
    simd: list[str] = []


class Memory(_Strict):
    ram_bytes: int = Field(gt=0)
    flash_bytes: int | None = Field(default=None, gt=0)
    storage_bytes: int | None = Field(default=None, gt=0)


class OnnxRuntimeSpec(_Strict):
    version: str
    opset: int = Field(ge=7, le=40)
    build: Literal["full", "minimal"]


class LiteRtSpec(_Strict):
    version: str


class CToolchainSpec(_Strict):
    triple: str
    libc: Literal["glibc", "musl", "bionic", "newlib", "none"]


class Runtimes(_Strict):
    onnxruntime: OnnxRuntimeSpec | None = None
    litert: LiteRtSpec | None = None
    c: CToolchainSpec | None = None


class Budgets(_Strict):
    artifact_bytes: int = Field(gt=0)
    ram_bytes: int = Field(gt=0)
    p99_latency_ms: float = Field(gt=0)


class Emulation(_Strict):
    mode: Literal["qemu-user", "qemu-system", "native", "none"]
    binary: str | None = None
    machine: str | None = None
    cpu: str | None = None


class CostModel(_Strict):
    cycles_per_instruction: float = Field(gt=0, le=20)
    source: str


class DeviceProfile(_Strict):
    id: str
    name: str
    cpu: Cpu
    memory: Memory
    runtimes: Runtimes
    budgets: Budgets
    emulation: Emulation
    cost_model: CostModel | None = None
    sources: list[str] = Field(min_length=1)

    def c_triple(self) -> str:
        """The toolchain triple edgekit builds this device's C for (Cortex-M: the core, e.g. cortex-m4f)."""
        if self.runtimes.c is None:
            raise BadInput(f"device '{self.id}' has no C toolchain in its profile", "add runtimes.c, or pass --triple")
        if self.runtimes.c.triple == "arm-none-eabi":
            return self.cpu.core.lower().replace("+", "plus")
        return self.runtimes.c.triple

    def onnx_opset(self) -> int:
        """The opset this device's ONNX Runtime implements; BadInput if it has none."""
        if self.runtimes.onnxruntime is None:
            raise BadInput(
                f"device '{self.id}' has no ONNX Runtime",
                "compile for it with the C target, or pick a device that runs ONNX Runtime",
            )
        return self.runtimes.onnxruntime.opset


def configs_directory() -> Path:
    """$EDGEKIT_DEVICE_CONFIGS, else the device_configs/ folder beside the edgekit package."""
    override = os.environ.get("EDGEKIT_DEVICE_CONFIGS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "device_configs"


def profile_ids() -> list[str]:
    return sorted(path.stem for path in configs_directory().glob("*.yaml"))


def load_profile(device_id: str) -> DeviceProfile:
    if not _ID.match(device_id):
        raise BadInput(f"'{device_id}' is not a device id", f"known devices: {', '.join(profile_ids())}")
    path = configs_directory() / f"{device_id}.yaml"
    if not path.is_file():
        raise BadInput(f"unknown device '{device_id}'", f"known devices: {', '.join(profile_ids())}")
    return read_profile(path)


def read_profile(path: Path) -> DeviceProfile:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: not readable YAML ({exc.__class__.__name__})", "fix the file") from exc
    if not isinstance(document, dict):
        raise BadInput(f"{path}: expected a mapping of fields", "see device_configs/ for examples")
    try:
        profile = DeviceProfile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"{path}: field '{field}': {first['msg']}", "fix the profile; units are in the field names") from exc
    if profile.id != path.stem:
        raise BadInput(f"{path}: id '{profile.id}' does not match the file name", f"set id: {path.stem}")
    return profile
