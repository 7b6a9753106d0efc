"""The backend registry: which compile targets exist, which model families and options each takes.

Backends register in one explicit place (``edgekit.compile.backends``), which ``build`` (where
``compile_bundle`` lives) calls when it is imported: this module stays free of the converters, so
``edgekit check`` can read its tables. Asking for a target, family or option a backend does not
support is an error that lists what it does support.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput

if TYPE_CHECKING:  # a profile is data handed in; compile does not load profiles itself
    import numpy as np

    from ..bundle import ModelBundle
    from ..devices.profiles import DeviceProfile


@dataclass(frozen=True)
class Option:
    description: str
    choices: tuple[str, ...] | None = None  # None: any integer (or any text, with text=True)
    default: str | None = None
    text: bool = False


@dataclass(frozen=True)
class CompileRequest:
    bundle: ModelBundle
    target: str
    precision: str
    options: dict[str, str]
    device_opset: int | None
    device: DeviceProfile | None
    staging: Path


@dataclass(frozen=True)
class CompiledModel:
    """What a backend wrote into the staging directory, and how to run it for the parity check."""

    model_file: str
    files: list[str]
    runtime: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    requirements: dict[str, Any]
    options: dict[str, Any]
    toolchain: dict[str, str]
    predictor: Callable[[np.ndarray], np.ndarray]
    precision: str | None = None  # when an option, not the target, decides it (the C target's --quantize)
    resources: dict[str, Any] = field(default_factory=dict)  # measured footprint beyond file sizes


@dataclass(frozen=True)
class Backend:
    name: str
    targets: dict[str, str]  # target -> precision
    kinds: dict[str, frozenset[str]]  # precision -> family kinds it takes ("trees", "linear", "mlp")
    options: dict[str, Option]
    compile: Callable[[CompileRequest], CompiledModel]
    refusals: dict[str, str] = field(default_factory=dict)  # precision -> hint when a kind is refused

    def check(self, target: str, family: str, kind: str, options: dict[str, str]) -> str:
        precision = self.targets[target]
        if kind not in self.kinds[precision]:
            hint = self.refusals.get(precision, "")
            taking = ", ".join(sorted(self.kinds[precision]))
            raise BadInput(
                f"target {target} does not take {family} models (it takes {taking} models)",
                hint or f"choose another --target for {family}",
            )
        for key, value in options.items():
            option = self.options.get(key)
            if option is None:
                known = ", ".join(sorted(self.options)) or "none"
                raise BadInput(f"target {target} has no option '{key}'", f"its options are: {known}")
            if option.choices is not None and value not in option.choices:
                raise BadInput(f"option {key}={value} is not allowed", f"choose one of: {', '.join(option.choices)}")
            if option.choices is None and not option.text and not value.isdigit():
                raise BadInput(f"option {key}={value} is not a whole number", f"{key}: {option.description}")
        return precision


# Every artifact's output is named for what it holds, whatever the backend.
PROBABILITIES = "probabilities"
PREDICTIONS = "predictions"


def output_name(task: str) -> str:
    return PROBABILITIES if task == "classification" else PREDICTIONS


def release_key(version: str) -> tuple[int, ...]:
    """A runtime release ("1.20.1", "2.16.0") as numbers that compare in release order."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def tool_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the Python packages a backend builds with (for artifact.json)."""
    from importlib import metadata

    versions = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend, *, replace: bool = False) -> None:
    clash = [target for target in backend.targets if target in _TARGETS and _TARGETS[target] != backend.name]
    if (backend.name in _BACKENDS or clash) and not replace:
        raise ValueError(f"backend '{backend.name}' or its targets {clash} are already registered")
    _BACKENDS[backend.name] = backend
    for target in backend.targets:
        _TARGETS[target] = backend.name


_TARGETS: dict[str, str] = {}


def target_names() -> list[str]:
    return sorted(_TARGETS)


def backend_for(target: str) -> Backend:
    name = _TARGETS.get(target)
    if name is None:
        raise BadInput(f"unknown target '{target}'", f"choose one of: {', '.join(target_names())}")
    return _BACKENDS[name]
