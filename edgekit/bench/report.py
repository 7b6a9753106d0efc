"""``edgekit bench --report bench.html``: one self-contained HTML page (plots inlined as PNG, no
resource fetched from anywhere) for one or more benchmarked artifacts.

Plots: the single-row latency distribution per artifact (its runtime), the estimated latency per
device against the device's budget, and model size against latency.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit_runtime.atomic import SHARED_FILE_MODE, write_atomically

from .._version import __version__
from ..display.figures import size
from .console import native_line
from .run import BenchReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a build machine
    import matplotlib.pyplot as plt

    return plt


def _figure(height: float):
    """A figure whose layout engine keeps titles, labels and an outside legend inside the image."""
    return _pyplot().subplots(figsize=(8, height), layout="constrained")


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    _pyplot().close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def time_unit(microseconds: list[float]) -> tuple[float, str]:
    """One unit for every time on a plot, chosen from its largest value: (divisor from µs, name)."""
    largest = max(microseconds, default=0.0)
    if largest >= 1e6:
        return 1e6, "s"
    if largest >= 1e3:
        return 1e3, "ms"
    return 1.0, "µs"


def _plain_log(axis, *names: str, decades: float = 1.0) -> None:
    """Log axes labelled 0.01, 2, 50 or 1,000,000 rather than 10^-2 or 1e+06. A range of under three
    decades gets ticks at 1, 2 and 5 per decade, so even a narrow one has labelled ticks; a wider
    one one tick per decade, so the labels do not run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for name in names:
        getattr(axis, f"set_{name}scale")("log")
        scale = getattr(axis, f"{name}axis")
        scale.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,)))
        scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1000 else f"{value:g}"))
        scale.set_minor_formatter(NullFormatter())


def _decades(values: list[float]) -> float:
    positive = [value for value in values if value > 0]
    return math.log10(max(positive) / min(positive)) if positive else 0.0


def _legend_below(figure, axis) -> None:
    """The legend under the plot, outside the data, so it never hides a point or a line."""
    handles, labels = axis.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=min(3, len(handles)), fontsize=8, frameon=False)


def latency_distribution(reports: list[BenchReport]) -> Figure | None:
    runs = [(report, report.native) for report in reports if report.native and "quantiles_us" in report.native]
    if not runs:
        return None
    divisor, unit = time_unit([value for _, native in runs for value in native["quantiles_us"]["values"]])
    figure, axis = _figure(4.2)
    for index, (report, native) in enumerate(runs):
        quantiles = native["quantiles_us"]
        axis.plot([value / divisor for value in quantiles["values"]], quantiles["percent"], color=COLORS[index % len(COLORS)],
                  linewidth=2, label=f"{Path(report.artifact).name} ({report.runtime})")
    _plain_log(axis, "x", decades=_decades([value for _, native in runs for value in native["quantiles_us"]["values"]]))
    axis.set_xlabel(f"single-row latency on this machine ({unit}, log scale)")
    axis.set_ylabel("calls at or below (%)")
    axis.set_ylim(0, 100)
    axis.grid(True, which="both", alpha=0.3)
    _legend_below(figure, axis)
    axis.set_title("Latency distribution per runtime (native, through the device harness)")
    return figure


def device_latencies(reports: list[BenchReport]) -> Figure | None:
    bars = [(f"{entry.device}\n{Path(report.artifact).name}", entry.p99_ms if entry.p99_ms is not None else entry.cost_model_ms,
             entry.budget_ms, entry.p99_ms is not None)
            for report in reports for entry in report.devices
            if entry.p99_ms is not None or entry.cost_model_ms is not None]
    if not bars:
        return None
    from matplotlib.patches import Patch

    divisor, unit = time_unit([1000 * max(value, budget) for _, value, budget, _ in bars])
    values = [1000 * value / divisor for _, value, _, _ in bars]
    budgets = [1000 * budget / divisor for _, _, budget, _ in bars]
    figure, axis = _figure(0.6 * len(bars) + 2.0)
    positions = range(len(bars))
    colors = ["#2ca02c" if value <= budget else "#d62728" for value, budget in zip(values, budgets, strict=True)]
    drawn = axis.barh(positions, values, color=colors, hatch=["" if emulated else "//" for *_, emulated in bars], edgecolor="white")
    axis.bar_label(drawn, labels=[f"{value:.3g} {unit}" for value in values], padding=3, fontsize=8)
    axis.scatter(budgets, positions, marker="|", s=400, color="black", label="p99 budget", zorder=3)
    axis.set_yticks(list(positions), [label for label, *_ in bars], fontsize=8)
    axis.invert_yaxis()
    low, high = min(values + budgets), max(values + budgets)
    _plain_log(axis, "x", decades=_decades([low / 3, high * 4]))
    axis.set_xlim(low / 3, high * 4)  # room for the value printed after the longest bar
    axis.set_xlabel(f"estimated latency per inference ({unit}, log scale)")
    figure.legend(handles=[axis.get_legend_handles_labels()[0][0], Patch(facecolor="#2ca02c", label="within budget"),
                           Patch(facecolor="#d62728", label="over budget"),
                           Patch(facecolor="white", edgecolor="#555", hatch="//", label="cost model (not emulated)")],
                  loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    axis.set_title("Estimated device latency against each device's budget")
    return figure


def size_against_latency(reports: list[BenchReport]) -> Figure | None:
    points = [(report, report.native["single_row_us"]["p50"]) for report in reports
              if report.native and "single_row_us" in report.native]
    devices = [(report, entry) for report in reports for entry in report.devices if entry.p99_ms is not None]
    if not points and not devices:
        return None
    divisor, unit = time_unit([p50 for _, p50 in points] + [1000 * entry.p99_ms for _, entry in devices])
    figure, axis = _figure(4.4)
    for index, (report, p50) in enumerate(points):
        axis.scatter(report.model_bytes, p50 / divisor, s=60, color=COLORS[index % len(COLORS)],
                     label=f"{Path(report.artifact).name} (native p50)", zorder=3)
    for report, entry in devices:
        latency = 1000 * entry.p99_ms / divisor
        axis.scatter(report.model_bytes, latency, marker="^", s=50, color="#7f7f7f", zorder=3,
                     label="emulated device p99" if entry is devices[0][1] else None)
        axis.annotate(entry.device, (report.model_bytes, latency), fontsize=7, xytext=(5, 3), textcoords="offset points")
    _plain_log(axis, "x", decades=_decades([report.model_bytes for report in reports]))
    _plain_log(axis, "y", decades=_decades([p50 for _, p50 in points] + [1000 * entry.p99_ms for _, entry in devices]))
    axis.margins(x=0.25, y=0.3)  # log-scale room around the points for their labels
    axis.set_xlabel("model file size (bytes, log scale)")
    axis.set_ylabel(f"latency per inference ({unit}, log scale)")
    axis.grid(True, which="both", alpha=0.3)
    _legend_below(figure, axis)
    axis.set_title("Model size against latency")
    return figure


def _rows(report: BenchReport) -> str:
    cells = []
    for entry in report.devices:
        if entry.emulated is not None:
            figure, how = f"{entry.p99_ms:.3g}", entry.how
            if not entry.emulated["matches_reference"]:
                how += " — OUTPUTS DIFFER FROM THE REFERENCE"
        else:
            figure = "–" if entry.cost_model_ms is None else f"{entry.cost_model_ms:.3g}"
            how = f"cost-model estimate (not emulated: {entry.skipped})" if entry.cost_model_ms is not None else entry.skipped
        verdict = {True: "within", False: "over", None: "?"}[entry.within_budget]
        cells.append(f"<tr><td>{html.escape(entry.device)}</td><td class=num>{figure}</td><td class=num>{entry.budget_ms:g}</td>"
                     f"<td class={verdict}>{verdict}</td><td>{html.escape(how)}</td></tr>")
    return "".join(cells)


# (title, figure of the reports or None when they have nothing to plot), in page order
PLOTS = (("Latency distribution", latency_distribution), ("Devices", device_latencies), ("Size and latency", size_against_latency))


def render(reports: list[BenchReport]) -> str:
    plots = [(title, plot(reports)) for title, plot in PLOTS]
    plots = [(title, _png(figure) if figure is not None else None) for title, figure in plots]
    sections = []
    for report in reports:
        native = native_line(report.native) if report.native else f"not run ({report.native_skipped})"
        sections.append(
            f"<h2>{html.escape(report.artifact)}</h2><p>{html.escape(report.target)} · {html.escape(report.runtime)} · "
            f"{size(report.model_bytes)}</p><p><b>native</b> on {html.escape(report.host)}: {html.escape(native)}</p>"
            + (f"<table><tr><th>device</th><th>p99 (ms)</th><th>budget (ms)</th><th></th><th>how</th></tr>{_rows(report)}</table>"
               if report.devices else ""))
    images = "".join(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}"></figure>'
                     for title, data in plots if data)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgekit bench</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.within {{ color: #2a7a2a; }} td.over {{ color: #b22; font-weight: bold; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
.note {{ color: #666; font-size: 0.85em; }}
</style></head><body>
<h1>edgekit bench</h1>
<p class=note>Native figures are measured on this machine through the device harness (edgekit_runtime).
Device figures are estimates: instructions per inference counted on the device's instruction set under
qemu, times the profile's cycles per instruction, divided by its clock; without emulation, the profile's
cost model. Generated {stamp} by edgekit {__version__}.</p>
{images}
{"".join(sections)}
</body></html>
"""


def write_report(path: Path, reports: list[BenchReport]) -> None:
    """Write the page beside its final name and rename it into place, readable by everyone (0644):
    a report is for sharing."""
    write_atomically(path, render(reports), mode=SHARED_FILE_MODE)
