"""``edgekit bench`` in a terminal: the native figures, then one line per device."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from .run import BenchReport


def native_line(native: dict[str, Any]) -> str:
    if not native.get("fits_memory_cap", True):
        return f"stopped at {native['resident_bytes_when_stopped'] / 2**20:.0f} MiB: over the {native['memory_cap_bytes'] / 2**20:.0f} MiB cap"
    single = native["single_row_us"]
    return (f"one row p50 {single['p50']:.2f} / p90 {single['p90']:.2f} / p99 {single['p99']:.2f} µs, "
            f"{native['batch']['rows_per_second']:,.0f} rows/s in batches of {native['batch']['rows']}, "
            f"peak RSS {native['peak_rss_bytes'] / 2**20:.1f} MiB, {native['threads']} thread(s)"
            + (f" (the device has {native['device_cores']} cores)" if native.get("device_cores", native["threads"]) != native["threads"] else ""))


def print_bench(console: Console, report: BenchReport) -> None:
    console.print(f"[bold]{report.artifact}[/bold] ({report.target}, {report.runtime}, {report.model_bytes:,} B)")
    if report.native is not None:
        console.print(f"  native on {report.host}: {native_line(report.native)}")
    else:
        console.print(f"  native: not run ({report.native_skipped})")
    if not report.devices:
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("device", "instructions / inference", "p99 (ms)", "budget (ms)", "", "source"):
        table.add_column(column, justify="right" if column in {"instructions / inference", "p99 (ms)", "budget (ms)"} else "left")
    for entry in report.devices:
        if entry.emulated is not None:
            figure, count = f"{entry.p99_ms:.3g}", f"{entry.emulated['instructions_per_inference']:,.0f}"
            source = f"estimate: {entry.source}" + ("" if entry.emulated["matches_reference"] else "; [red]OUTPUTS DIFFER[/red]")
        else:
            figure = "-" if entry.cost_model_ms is None else f"{entry.cost_model_ms:.3g}"
            source = f"cost model ({entry.skipped})" if entry.cost_model_ms is not None else entry.skipped
            count = "-"
        verdict = {True: "[green]within[/green]", False: "[red]over[/red]", None: "?"}[entry.within_budget]
        table.add_row(entry.device, count, figure, f"{entry.budget_ms:g}", verdict, source)
    console.print(table)
    for entry in report.devices:
        if entry.native is not None:
            console.print(f"  this machine with {entry.device}'s threads and RAM budget: {native_line(entry.native)}")


def bench_rows(reports: list[BenchReport]) -> list[dict[str, Any]]:
    return [row for report in reports for row in report.rows()]


def print_bench_table(console: Console, reports: list[BenchReport], prefix: str = "") -> None:
    """The rows of ``bench_rows``; ``prefix`` (the bundle's name) is left off artifact names."""
    table = Table(title=f"benchmarks of {prefix or 'the artifacts'}: one row per call", show_edge=False, pad_edge=False,
                  title_justify="left")
    for column in ("artifact", "where", "p50 µs", "p99 µs", "rows/s batched", "how"):
        table.add_column(column, justify="right" if column[0] in "pr" else "left")
    for row in bench_rows(reports):
        table.add_row(row["artifact"].removeprefix(f"{prefix}-") if prefix else row["artifact"], row["where"], "-" if row["p50_us"] is None else f"{row['p50_us']:.2f}",
                      f"{row['p99_us']:.2f}", "-" if row["rows_per_second"] is None else f"{row['rows_per_second']:,.0f}", row["how"])
    console.print(table)
