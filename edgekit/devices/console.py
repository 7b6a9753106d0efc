"""What `edgekit devices` and `edgekit check` show people: profile tables, verdicts, the matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from ..display.figures import size as _size
from ..display.tables import figure_column, identifier_column, people_table, print_table
from .check import DeviceReport
from .profiles import DeviceProfile
from .rules import RULES

if TYPE_CHECKING:
    from .autofit import Attempt, FitResult

_MARK = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
_SHORT = {"pass": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}


def runtimes_line(profile: DeviceProfile, brief: bool = False) -> str:
    """The runtimes a profile has; ``brief`` (the list table) leaves versions, opsets and triples to `devices show`."""
    runtimes = profile.runtimes
    parts = []
    if runtimes.onnxruntime:
        ort = runtimes.onnxruntime
        parts.append("onnxruntime" if brief else
                     f"onnxruntime {ort.version} (opset {ort.opset}{', minimal' if ort.build == 'minimal' else ''})")
    if runtimes.litert:
        parts.append("litert" if brief else f"litert {runtimes.litert.tflite_version}")
    if runtimes.c:
        parts.append("c" if brief else f"c {profile.c_triple()}")
    return ", ".join(parts) or "—"


def print_profiles(console: Console, profiles: list[DeviceProfile]) -> None:
    table = people_table("device profiles (device_configs/; budgets and versions: edgekit devices show ID)")
    identifier_column(table, "id", (profile.id for profile in profiles))
    figure_column(table, "cpu")
    table.add_column("RAM", no_wrap=True, justify="right")  # short figures: the width goes to the columns that wrap
    table.add_column("flash/disk", no_wrap=True, justify="right")
    figure_column(table, "runtimes")  # budgets, versions and triples: edgekit devices show ID
    for profile in profiles:
        cpu, memory = profile.cpu, profile.memory
        space = memory.flash_bytes if profile.microcontroller else memory.storage_bytes
        table.add_row(
            profile.id, f"{cpu.core} {cpu.mhz} MHz x{cpu.cores}", _size(memory.ram_bytes),
            _size(space), runtimes_line(profile, brief=True),
        )
    print_table(console, table)


def print_profile(console: Console, profile: DeviceProfile) -> None:
    cpu, memory, budgets, cost = profile.cpu, profile.memory, profile.budgets, profile.cost_model
    console.print(f"[bold]{profile.id}[/]: {profile.name}")
    console.print(f"cpu: {cpu.core}, {cpu.arch}, {cpu.cores} x {cpu.mhz} MHz, fpu {cpu.fpu}, simd {', '.join(cpu.simd) or '—'}")
    console.print(f"memory: RAM {_size(memory.ram_bytes)}, flash {_size(memory.flash_bytes)}, storage {_size(memory.storage_bytes)}")
    console.print(f"runtimes: {runtimes_line(profile)}")
    console.print(f"budgets: artifact {_size(budgets.artifact_bytes)}, RAM {_size(budgets.ram_bytes)}, p99 {budgets.p99_latency_ms:g} ms")
    console.print(f"emulation: {profile.emulation.mode} {profile.emulation.binary or ''} {profile.emulation.machine or ''}".rstrip())
    console.print(f"cost model: {cost.cycles_per_node_visit:g} cycles per tree node, {cost.cycles_per_mac:g} per MAC "
                  f"({cost.source})")
    for source in profile.sources:
        console.print(f"  source: {source}")


def print_reports(console: Console, artifact: str, reports: list[DeviceReport]) -> None:
    """One verdict per device, with the reason and the fix of every rule that did not pass."""
    for report in reports:
        console.print(f"{_MARK[report.verdict]}  {report.device}  {artifact}")
        for finding in report.findings:
            if finding.verdict == "pass":
                console.print(f"      {finding.rule}: {finding.reason}", style="dim")
                continue
            console.print(f"      {_MARK[finding.verdict]} {finding.rule}: {finding.reason}")
            if finding.fix:
                console.print(f"           fix: {finding.fix}")


_HEADER = {"runtime": "runtime", "onnx-opset": "opset", "onnx-operators": "ops", "dtypes": "dtypes",
           "tflite-operators": "tflite", "c-target": "C", "flash": "flash", "ram": "RAM", "latency": "p99"}


def print_matrix(console: Console, artifact: str, reports: list[DeviceReport]) -> None:
    """Devices x rules (a blank: the rule does not apply there), then each device's first problem."""
    table = Table(title=f"{artifact} on every device", box=box.SIMPLE_HEAD, pad_edge=False)
    identifier_column(table, "device", (report.device for report in reports))
    table.add_column("verdict", no_wrap=True)
    for name in RULES:
        header = _HEADER.get(name, name)
        table.add_column(header, justify="center", min_width=len(header))
    for report in reports:
        by_rule = {finding.rule: finding for finding in report.findings}
        marks = (_SHORT[by_rule[name].verdict] if name in by_rule else "" for name in RULES)
        table.add_row(report.device, _MARK[report.verdict], *marks)
    print_table(console, table)
    for report in reports:
        problems = report.failures()
        if problems:
            first = problems[0]
            console.print(f"{report.device}: {first.rule}: {first.reason}" + (f"; fix: {first.fix}" if first.fix else ""))


_SIZE_RULES = {"flash", "ram"}


def fit_verdict(attempt: Attempt) -> str:
    """fits, too big (flash or RAM), too slow (latency), fails (another rule or compile), skipped."""
    if attempt.outcome in {"passed", "chosen"}:
        return "fits"
    if attempt.outcome == "skipped":
        return "skipped"
    failed = set(attempt.failed_rules)
    if failed and failed <= _SIZE_RULES | {"latency"}:
        return "too big" if failed & _SIZE_RULES else "too slow"
    return "fails"


def candidate_line(attempt: Attempt) -> str:
    """A candidate build as auto-fit decides it (its progress line): name, size, verdict and why."""
    size = f"{_size(attempt.flash_bytes)} flash, " if attempt.flash_bytes is not None else ""
    why = f": {attempt.reason}" if attempt.outcome in {"rejected", "skipped"} and attempt.reason else ""
    return f"{attempt.candidate.label}: {size}{fit_verdict(attempt)}{why}"


def attempt_line(attempt: Attempt) -> str:
    """One line per candidate in auto-fit's summary."""
    figures = []
    if attempt.flash_bytes is not None:
        figures.append(f"flash {_size(attempt.flash_bytes)}")
    if attempt.ram_bytes is not None:
        figures.append(f"RAM {_size(attempt.ram_bytes)}")
    if attempt.p99_ms is not None:
        figures.append(f"p99 ~{attempt.p99_ms:.3g} ms")
    shown = f" ({', '.join(figures)})" if figures else ""
    reason = f": {attempt.reason}" if attempt.outcome in {"rejected", "skipped"} else ""
    return f"  {attempt.outcome:<8} {attempt.candidate.label}{shown}{reason}"


def print_fit(console: Console, result: FitResult) -> None:
    chosen = next(attempt for attempt in result.attempts if attempt.outcome == "chosen")
    console.print(f"auto-fit for {result.device} (prefer {result.prefer}): chose [bold]{chosen.candidate.label}[/] "
                  f"of {sum(a.outcome in {'chosen', 'passed'} for a in result.attempts)} builds that fit")
    for attempt in result.attempts:
        console.print(attempt_line(attempt))
    console.print(f"written to {result.chosen.path}")


def print_artifact_matrix(console: Console, bundle: str, verdicts: dict[str, list[DeviceReport]]) -> None:
    """One bundle's artifacts (columns) on every device (rows): what runs where."""
    table = Table(title=f"{bundle}: edgekit check --all", box=box.SIMPLE_HEAD, pad_edge=False)
    devices = [report.device for report in next(iter(verdicts.values()), [])]
    identifier_column(table, "device", devices)
    for suffix in verdicts:
        table.add_column(suffix, justify="center", min_width=len(suffix))
    for row, device in enumerate(devices):
        table.add_row(device, *(_SHORT[reports[row].verdict] for reports in verdicts.values()))
    print_table(console, table)
