"""Device profiles: one YAML file per real device in ``device_configs/``, validated by pydantic.

Sizes are whole bytes and clocks whole MHz (field names carry the unit); unknown keys are errors, so
a typo'd or wrongly-unitted field names its file and field instead of being ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import BadInput
from ..yaml_files import read_yaml_mapping

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_SIMD = Literal["neon", "fp16", "dotprod", "i8mm", "sve", "sse4.2", "avx2", "avx512", "vnni", "dsp", "mve", "pie"]
_MICROCONTROLLER_ARCHS = {"armv6m", "armv7m", "armv7em", "armv8m", "xtensa"}
_TRIPLE_PREFIX = {  # a C toolchain triple must start with one of these for the CPU's architecture
    "aarch64": ("aarch64-",), "armv7": ("arm-", "armv7"), "x86_64": ("x86_64-",),
    "armv6m": ("arm-none-eabi",), "armv7m": ("arm-none-eabi",), "armv7em": ("arm-none-eabi",),
    "armv8m": ("arm-none-eabi",), "xtensa": ("xtensa-",),
}


class Cpu(_Strict):
    arch: Literal["aarch64", "armv7", "armv6m", "armv7m", "armv7em", "armv8m", "x86_64", "xtensa"]
    triple: str
    core: str
    mhz: int = Field(gt=0, le=10_000)
    cores: int = Field(ge=1, le=256)
    fpu: Literal["none", "single", "double"]
    simd: list[_SIMD] = []


class Memory(_Strict):
    ram_bytes: int = Field(ge=512)  # below the smallest Cortex-M parts (1 KB SRAM): a unit mistake
    flash_bytes: int | None = Field(default=None, ge=1024)
    storage_bytes: int | None = Field(default=None, ge=1_000_000)


class _Runtime(_Strict):
    """What a model runtime costs on the device, for the flash, RAM and latency rules."""

    library_bytes: int = Field(gt=0)  # the runtime's shared library (or its share of the app)
    ram_overhead_bytes: int = Field(gt=0)  # the runtime's own heap, before any model
    call_overhead_us: float = Field(gt=0)  # one inference call with no model work


class OnnxRuntimeSpec(_Runtime):
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$")
    opset: int = Field(ge=7, le=40)  # the default (ai.onnx) domain
    ml_opset: int = Field(ge=1, le=10)  # ai.onnx.ml: the tree-ensemble and linear operators
    build: Literal["full", "minimal"]
    # A minimal (reduced-operator) build: the domain:op pairs it was built with, and it reads only
    # the ORT format (.ort), not .onnx files.
    operators: list[str] | None = None
    dtypes: list[Literal["float32", "float16", "int8", "uint8", "int32", "int64"]]


class LiteRtSpec(_Runtime):
    package: str  # what is installed, e.g. "ai-edge-litert 1.2.0" or "com.google.ai.edge.litert:litert 1.4.0"
    tflite_version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$")  # the TensorFlow Lite release it matches


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
    p99_latency_ms: float = Field(gt=0, le=60_000)


class Emulation(_Strict):
    mode: Literal["qemu-user", "qemu-system", "native", "none"]
    binary: str | None = None
    machine: str | None = None
    cpu: str | None = None


class CostModel(_Strict):
    """Cycles per unit of model work on this core, for latency estimates when nothing was measured."""

    cycles_per_node_visit: float = Field(gt=0, le=10_000)  # one tree node in edgekit's C table walk
    cycles_per_mac: float = Field(gt=0, le=10_000)  # one float multiply-accumulate of a dense layer
    cycles_per_instruction: float = Field(gt=0, le=20)  # turns an emulator's instruction count into cycles
    soft_float_factor: float = Field(default=1.0, ge=1, le=100)  # float work emulated in software
    source: str


class DeviceProfile(_Strict):
    id: str
    name: str
    cpu: Cpu
    memory: Memory
    runtimes: Runtimes
    budgets: Budgets
    emulation: Emulation
    cost_model: CostModel
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DeviceProfile:
        """Values each field accepts alone but no real device has together."""
        microcontroller = self.cpu.arch in _MICROCONTROLLER_ARCHS
        if microcontroller and self.memory.flash_bytes is None:
            raise ValueError("memory.flash_bytes: a microcontroller needs its flash size")
        if self.budgets.ram_bytes > self.memory.ram_bytes:
            raise ValueError("budgets.ram_bytes: larger than memory.ram_bytes")
        space = self.memory.flash_bytes if microcontroller else (self.memory.storage_bytes or self.memory.flash_bytes)
        if space is not None and self.budgets.artifact_bytes > space:
            raise ValueError("budgets.artifact_bytes: larger than the device's flash or storage")
        c = self.runtimes.c
        if c is not None and not c.triple.startswith(_TRIPLE_PREFIX[self.cpu.arch]):
            raise ValueError(f"runtimes.c.triple: {c.triple} is not a {self.cpu.arch} toolchain")
        if self.cpu.fpu == "none" and "fp16" in self.cpu.simd:
            raise ValueError("cpu.simd: fp16 arithmetic needs an FPU")
        ort = self.runtimes.onnxruntime
        if ort is not None and (ort.build == "minimal") != (ort.operators is not None):
            raise ValueError("runtimes.onnxruntime.operators: list them for a minimal build, and only then")
        return self

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

    @property
    def microcontroller(self) -> bool:
        return self.cpu.arch in _MICROCONTROLLER_ARCHS


def configs_directory() -> Path:
    """$EDGEKIT_DEVICE_CONFIGS, else the device_configs/ folder beside the edgekit package."""
    override = os.environ.get("EDGEKIT_DEVICE_CONFIGS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "device_configs"


def profile_ids() -> list[str]:
    return sorted(path.stem for path in configs_directory().glob("*.yaml"))


def all_profiles() -> list[DeviceProfile]:
    """Every profile; the first broken one is a BadInput naming its file and field."""
    return [load_profile(device_id) for device_id in profile_ids()]


def load_profile(device_id: str) -> DeviceProfile:
    if not _ID.match(device_id):
        raise BadInput(f"'{device_id}' is not a device id", f"known devices: {', '.join(profile_ids())}")
    path = configs_directory() / f"{device_id}.yaml"
    if not path.is_file():
        raise BadInput(f"unknown device '{device_id}'", f"known devices: {', '.join(profile_ids())}")
    return read_profile(path)


def read_profile(path: Path) -> DeviceProfile:
    document = read_yaml_mapping(path, "the device profile", "id: my-board (see device_configs/ for examples)")
    try:
        profile = DeviceProfile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        if not field:  # a cross-field rule: its message starts with the field it blames
            field, _, message = first["msg"].removeprefix("Value error, ").partition(": ")
        else:
            message = first["msg"]
        raise BadInput(f"{path}: field '{field}': {message}", "fix the profile; units are in the field names") from exc
    if profile.id != path.stem:
        raise BadInput(f"{path}: id '{profile.id}' does not match the file name", f"set id: {path.stem}")
    return profile
