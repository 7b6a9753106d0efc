"""``edgekit bench``: the artifact natively (through the device harness), and on each device
profile's emulated instruction set; the figures go into the artifact's bench.json (which
``edgekit check`` reads) and into the returned report."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit_runtime.predictors.c import host_triple

from ..artifact import Artifact, record_benchmarks
from ..devices.profiles import DeviceProfile
from ..devices.rules import ArtifactFacts, estimated_latency_ms
from .emulated import emulate, unavailable
from .estimate import latency_from_count
from .native import NativeSettings, host_cores, host_cpu, run_native


@dataclass
class DeviceBench:
    device: str
    name: str
    budget_ms: float
    p99_ms: float | None = None  # the emulated estimate, when there is one
    how: str = ""
    source: str = ""  # ``how`` in a few words, for tables
    emulated: dict[str, Any] | None = None
    native: dict[str, Any] | None = None  # this machine under the device's threads and memory cap
    skipped: str = ""  # why there is no emulated figure
    cost_model_ms: float | None = None  # what check estimates without a benchmark

    @property
    def within_budget(self) -> bool | None:
        figure = self.p99_ms if self.p99_ms is not None else self.cost_model_ms
        return None if figure is None else figure <= self.budget_ms


@dataclass
class BenchReport:
    artifact: str
    target: str
    runtime: str
    model_bytes: int
    host: str
    native: dict[str, Any] | None
    native_skipped: str = ""
    devices: list[DeviceBench] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        """One row per place it ran: this machine natively, or a device's emulated estimate."""
        name = self.artifact.rstrip("/").rsplit("/", 1)[-1]
        rows = []
        if self.native is not None and "single_row_us" in self.native:
            single = self.native["single_row_us"]
            rows.append({"artifact": name, "where": "this machine", "p50_us": single["p50"], "p99_us": single["p99"],
                         "rows_per_second": self.native["batch"]["rows_per_second"], "how": "measured"})
        for entry in self.devices:
            if entry.p99_ms is not None and entry.emulated is not None:
                rows.append({"artifact": name, "where": entry.device, "p50_us": None, "p99_us": entry.p99_ms * 1000,
                             "rows_per_second": None, "how": f"estimate: {entry.emulated['instructions_per_inference']:,.0f} "
                             f"instr, {entry.source}"})
        return rows

    def __repr__(self) -> str:
        lines = [f"<BenchReport {self.artifact} ({self.target}, {self.runtime}, {self.model_bytes:,} B)"]
        for row in self.rows():
            p50 = "" if row["p50_us"] is None else f"p50 {row['p50_us']:.2f} µs, "
            rate = "" if row["rows_per_second"] is None else f", {row['rows_per_second']:,.0f} rows/s batched"
            lines.append(f"  {row['where']}: {p50}p99 {row['p99_us']:.2f} µs{rate} ({row['how']})")
        if self.native is None:
            lines.append(f"  native: not run ({self.native_skipped})")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        from ..notebook import html_table

        rows = [(row["where"], None if row["p50_us"] is None else f"{row['p50_us']:.2f}", f"{row['p99_us']:.2f}",
                 None if row["rows_per_second"] is None else f"{row['rows_per_second']:,.0f}", row["how"]) for row in self.rows()]
        return html_table(f"bench of {self.artifact} ({self.target}, {self.model_bytes:,} B)",
                          ("where", "p50 µs", "p99 µs", "rows/s batched", "how"), rows)


def native_unavailable(artifact: Artifact) -> str | None:
    runtime = artifact.info.runtime
    if runtime["name"] == "c" and runtime.get("triple") != host_triple():
        return f"built for {runtime.get('triple')}; this machine is {host_triple()} (use --device ID --emulate)"
    return None


def bench_artifact(
    path: Path, profiles: list[DeviceProfile], emulate_devices: bool, settings: NativeSettings | None = None,
    advance: Callable[[str], None] = lambda step: None,
) -> BenchReport:
    """Run every benchmark asked for, record the device figures in bench.json, return the report."""
    settings = settings or NativeSettings()
    artifact = Artifact.load(path)
    cannot_run_here = native_unavailable(artifact)
    report = BenchReport(str(path), artifact.info.target, artifact.info.runtime["name"],
                         int(artifact.info.resources["model_bytes"]), host_cpu(), None, cannot_run_here or "")
    if cannot_run_here is None:
        advance("native, 1 thread")
        report.native = run_native(path, settings)
    facts = ArtifactFacts.from_descriptor(artifact.info.model_dump())
    for profile in profiles:
        runs_there = facts.runtime == "c" or getattr(profile.runtimes, facts.runtime, None) is not None
        entry = DeviceBench(profile.id, profile.name, profile.budgets.p99_latency_ms,
                            cost_model_ms=estimated_latency_ms(facts, profile) if runs_there else None)
        if not runs_there:
            entry.skipped = f"{profile.id} has no {facts.runtime} runtime (see edgekit check)"
            report.devices.append(entry)
            continue
        if cannot_run_here is None and not profile.microcontroller:
            threads = min(profile.cpu.cores, host_cores())  # the device's cores, as many as this machine has
            advance(f"native as {profile.id} ({threads} threads, {profile.budgets.ram_bytes // 2**20} MiB cap)")
            entry.native = run_native(path, NativeSettings(threads, profile.budgets.ram_bytes, settings.runs,
                                                           settings.warmup, settings.batch))
            entry.native["device_cores"] = profile.cpu.cores
        reason = unavailable(artifact, profile) if emulate_devices else "not asked (--emulate)"
        if reason is not None:
            entry.skipped = reason
        else:
            advance(f"emulating {profile.id}")
            with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as work:
                run = emulate(artifact, profile, Path(work))
            figure = latency_from_count(run, profile)
            entry.emulated, entry.p99_ms, entry.how, entry.source = run.as_dict(), figure["p99_ms"], figure["how"], figure["short"]
        report.devices.append(entry)
    record_benchmarks(artifact, _recorded(report))
    return report


def _recorded(report: BenchReport) -> dict[str, Any]:
    """What bench.json keeps: the native figures, and per device what check and the server read."""
    devices = {}
    for entry in report.devices:
        kept: dict[str, Any] = {}
        if entry.p99_ms is not None:
            kept.update(p99_ms=entry.p99_ms, how=entry.how, estimate=True,
                        instructions_per_inference=entry.emulated["instructions_per_inference"],
                        emulator=entry.emulated["emulator"], matches_reference=entry.emulated["matches_reference"])
        if entry.native is not None:
            kept["native_with_device_limits"] = entry.native
        if kept:
            devices[entry.device] = kept
    recorded: dict[str, Any] = {"devices": devices}
    if report.native is not None:
        recorded["native"] = {**report.native, "host": report.host}
    return recorded
