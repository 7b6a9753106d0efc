"""``edgekit bench`` in a terminal: the native figures, then one line per device."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ..display.figures import count, size
from ..display.tables import identifier_column, print_table
from .run import BenchReport


def native_line(native: dict[str, Any]) -> str:
    if not native.get("fits_memory_cap", True):
        return f"stopped at {size(native['resident_bytes_when_stopped'])}: over the {size(native['memory_cap_bytes'])} cap"
    single = native["single_row_us"]
    return (f"one row p50 {single['p50']:.2f} / p90 {single['p90']:.2f} / p99 {single['p99']:.2f} µs, "
            f"{count(native['batch']['rows_per_second'])} rows/s in batches of {count(native['batch']['rows'])}, "
            f"peak RSS {size(native['peak_rss_bytes'])}, {native['threads']} thread(s)"
            + (f" (the device has {native['device_cores']} cores)" if native.get("device_cores", native["threads"]) != native["threads"] else ""))


def print_bench(console: Console, report: BenchReport) -> None:
    console.print(f"[bold]{report.artifact}[/bold] ({report.target}, {report.runtime}, {size(report.model_bytes)})")
    if report.native is not None:
        console.print(f"  native on {report.host}: {native_line(report.native)}")
    else:
        console.print(f"  native: not run ({report.native_skipped})")
    if not report.devices:
        return
    table = Table(show_edge=False, pad_edge=False)
    identifier_column(table, "device", (entry.device for entry in report.devices))
    for column in ("instructions / inference", "p99 (ms)", "budget (ms)", "", "source"):
        table.add_column(column, justify="right" if column in {"instructions / inference", "p99 (ms)", "budget (ms)"} else "left",
                         overflow="fold")
    for entry in report.devices:
        if entry.emulated is not None:
            figure, instructions = f"{entry.p99_ms:.3g}", count(entry.emulated['instructions_per_inference'])
            source = f"estimate: {entry.source}" + ("" if entry.emulated["matches_reference"] else "; [red]OUTPUTS DIFFER[/red]")
        else:
            figure = "-" if entry.cost_model_ms is None else f"{entry.cost_model_ms:.3g}"
            source = f"cost model ({entry.skipped})" if entry.cost_model_ms is not None else entry.skipped
            instructions = "-"
        verdict = {True: "[green]within[/green]", False: "[red]over[/red]", None: "?"}[entry.within_budget]
        table.add_row(entry.device, instructions, figure, f"{entry.budget_ms:g}", verdict, source)
    print_table(console, table)
    for entry in report.devices:
        if entry.native is not None:
            console.print(f"  this machine with {entry.device}'s threads and RAM budget: {native_line(entry.native)}")


def bench_rows(reports: list[BenchReport]) -> list[dict[str, Any]]:
    return [row for report in reports for row in report.rows()]


def print_bench_table(console: Console, reports: list[BenchReport], prefix: str = "") -> None:
    """The rows of ``bench_rows``; ``prefix`` (the bundle's name) is left off artifact names."""
    table = Table(title=f"benchmarks of {prefix or 'the artifacts'}: one row per call", show_edge=False, pad_edge=False,
                  title_justify="left")
    rows = bench_rows(reports)
    identifier_column(table, "artifact", (row["artifact"].removeprefix(f"{prefix}-") if prefix else row["artifact"] for row in rows))
    identifier_column(table, "where", (row["where"] for row in rows))
    for column in ("p50 µs", "p99 µs", "rows/s batched", "how"):
        table.add_column(column, justify="right" if column[0] in "pr" else "left", overflow="fold")
    for row in rows:
        table.add_row(row["artifact"].removeprefix(f"{prefix}-") if prefix else row["artifact"], row["where"], "-" if row["p50_us"] is None else f"{row['p50_us']:.2f}",
                      f"{row['p99_us']:.2f}", "-" if row["rows_per_second"] is None else count(row["rows_per_second"]), row["how"])
    print_table(console, table)
