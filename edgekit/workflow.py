"""The Python API after a bundle: ``edgekit.compile``, ``edgekit.check`` and ``edgekit.bench``.

They do what the commands of the same names do, take Python arguments (a bundle object or a path,
``layout="ifelse"`` for ``--option layout=ifelse``), return objects that show themselves in a
notebook, and raise the same errors (each with its fix) instead of printing and exiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact import Artifact, device_latencies
from .bundle import ModelBundle
from .errors import BadInput

if TYPE_CHECKING:
    from .bench.run import BenchReport
    from .devices.check import DeviceReport
    from .devices.profiles import DeviceProfile


def compile(
    bundle: str | os.PathLike[str] | ModelBundle,
    target: str,
    out: str | os.PathLike[str] | None = None,
    *,
    device: str | DeviceProfile | None = None,
    prefer: str = "size",
    **options: object,
) -> Artifact:
    """Compile ``bundle`` for ``target`` (or ``"auto"``: the best build that fits ``device``) and
    prove parity. ``out`` defaults to ``<bundle>-<target>[-<device>]`` beside the bundle; keyword
    options are the backend's (``layout="ifelse"``, ``quantize="int8"``, ``ort_format=True``)."""
    from .compile.build import compile_bundle

    loaded = bundle if isinstance(bundle, ModelBundle) else ModelBundle.load(bundle)
    profile = _profile(device) if device is not None else None
    if out is None:
        out = loaded.path.parent / "-".join(filter(None, (loaded.path.name, target, profile.id if profile else None)))
    if target == "auto":
        from .devices.autofit import fit_to_device

        if profile is None or options:
            raise BadInput("target 'auto' needs device= and chooses the build itself", "drop the options, pass device='ID'")
        chosen = fit_to_device(loaded.path, profile, out, prefer).chosen  # type: ignore[arg-type]
        assert chosen is not None  # fit_to_device raises when nothing fits
        return chosen
    return compile_bundle(loaded, target, out, options=_option_strings(options), device=profile)


@dataclass(frozen=True)
class CheckReport:
    """Whether an artifact runs on each device: one DeviceReport per device, in the order asked."""

    artifact: Path
    devices: list[DeviceReport]

    @property
    def passed(self) -> bool:
        return all(entry.verdict != "fail" for entry in self.devices)

    def __getitem__(self, device: str) -> DeviceReport:
        for entry in self.devices:
            if entry.device == device:
                return entry
        raise KeyError(device)

    def __iter__(self) -> Any:
        return iter(self.devices)

    def as_dict(self) -> dict[str, Any]:
        return {"artifact": str(self.artifact), "devices": [entry.as_dict() for entry in self.devices]}

    def __repr__(self) -> str:
        lines = [f"<CheckReport {self.artifact}: {'runs' if self.passed else 'does not run'} on every device asked"]
        for entry in self.devices:
            reasons = "; ".join(finding.reason for finding in entry.failures()) or "every rule passed"
            lines.append(f"  {entry.device}: {entry.verdict} ({reasons})")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        from .notebook import html_table

        rows = [(entry.device, entry.verdict, "; ".join(finding.reason for finding in entry.failures()) or "every rule passed")
                for entry in self.devices]
        return html_table(f"check of {self.artifact}", ("device", "verdict", "why"), rows)


def check(artifact: str | os.PathLike[str] | Artifact, devices: str | DeviceProfile | list[Any] | tuple[Any, ...] | None = None) -> CheckReport:
    """Will ``artifact`` run on ``devices`` (ids or profiles; None: every profile)? Benchmarks
    recorded by ``bench`` take the place of the cost model's latency estimates, as in the CLI."""
    from .devices import all_profiles
    from .devices.check import check_descriptor

    loaded = artifact if isinstance(artifact, Artifact) else Artifact.load(artifact)
    if devices is None:
        profiles = all_profiles()
    else:
        profiles = [_profile(device) for device in _each(devices)]
        if not profiles:
            raise BadInput("no devices to check against", "pass device ids (see edgekit devices list), or None for all")
    reports = check_descriptor({**loaded.info.model_dump(), "benchmarks": device_latencies(loaded)}, profiles)
    return CheckReport(loaded.path, reports)


def bench(
    artifact: str | os.PathLike[str] | Artifact,
    devices: str | DeviceProfile | list[Any] | tuple[Any, ...] | None = None,
    *,
    emulate: bool = False,
    runs: int = 2000,
) -> BenchReport:
    """Time ``artifact`` here (one thread) and, with ``emulate=True``, count its instructions on each
    device's emulated ISA; the figures are also kept in the artifact's bench.json for ``check``."""
    from .bench.native import NativeSettings
    from .bench.run import bench_artifact

    path = artifact.path if isinstance(artifact, Artifact) else Path(artifact)
    profiles = [_profile(device) for device in _each(devices)]
    if emulate and not profiles:
        raise BadInput("emulate=True needs at least one device", "pass devices=['ID', …] (see edgekit devices list)")
    if runs < 10:
        raise BadInput(f"runs={runs}: too few timed calls for a percentile", "pass runs=10 or more")
    return bench_artifact(path, profiles, emulate, NativeSettings(runs=runs, warmup=max(10, runs // 10)))


def _each(devices: Any) -> list[Any]:
    """One device (an id or a profile) or several (a list or tuple), as a list; None: none."""
    if devices is None:
        return []
    return list(devices) if isinstance(devices, list | tuple) else [devices]


def _profile(device: Any) -> DeviceProfile:
    from .devices.profiles import DeviceProfile, load_profile

    return device if isinstance(device, DeviceProfile) else load_profile(str(device))


def _option_strings(options: dict[str, object]) -> dict[str, str]:
    """Python keywords as the backends' option strings: ort_format=True -> {"ort-format": "true"}."""
    return {key.replace("_", "-"): (str(value).lower() if isinstance(value, bool) else str(value)) for key, value in options.items()}
