"""``edgekit bench --report bench.html``: one self-contained HTML page (plots inlined as PNG, no
resource fetched from anywhere) for one or more benchmarked artifacts.

Plots: the single-row latency distribution per artifact (its runtime), the estimated latency per
device against the device's budget, and model size against latency.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

from edgekit_runtime.atomic import write_atomically

from .._version import __version__
from ..display.figures import size
from .console import native_line
from .run import BenchReport

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a build machine
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _plain_log(axis, *names: str) -> None:
    """Log axes labelled 0.01, 1, 30 rather than 10^-2 and crowded minor-tick powers."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for name in names:
        getattr(axis, f"set_{name}scale")("log")
        scale = getattr(axis, f"{name}axis")
        scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        scale.set_minor_formatter(NullFormatter())


def _latency_distribution(reports: list[BenchReport]) -> str | None:
    runs = [(report, report.native) for report in reports if report.native and "quantiles_us" in report.native]
    if not runs:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    for index, (report, native) in enumerate(runs):
        quantiles = native["quantiles_us"]
        axis.plot(quantiles["values"], quantiles["percent"], color=COLORS[index % len(COLORS)], linewidth=2,
                  label=f"{Path(report.artifact).name} ({report.runtime})")
    _plain_log(axis, "x")
    axis.set_xlabel("single-row latency on this machine (µs, log scale)")
    axis.set_ylabel("calls at or below (%)")
    axis.set_ylim(0, 100)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("Latency distribution per runtime (native, through the device harness)")
    return _png(figure)


def _device_latencies(reports: list[BenchReport]) -> str | None:
    bars = [(f"{entry.device}\n{Path(report.artifact).name}", entry.p99_ms if entry.p99_ms is not None else entry.cost_model_ms,
             entry.budget_ms, entry.p99_ms is not None)
            for report in reports for entry in report.devices
            if entry.p99_ms is not None or entry.cost_model_ms is not None]
    if not bars:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 0.55 * len(bars) + 1.4))
    positions = range(len(bars))
    colors = ["#2ca02c" if value <= budget else "#d62728" for _, value, budget, _ in bars]
    axis.barh(positions, [value for _, value, _, _ in bars], color=colors,
              hatch=["" if emulated else "//" for *_, emulated in bars], edgecolor="white")
    axis.scatter([budget for _, _, budget, _ in bars], positions, marker="|", s=400, color="black", label="p99 budget", zorder=3)
    axis.set_yticks(list(positions), [label for label, *_ in bars], fontsize=8)
    axis.invert_yaxis()
    _plain_log(axis, "x")
    axis.set_xlabel("estimated latency per inference (ms, log scale); hatched: cost model, plain: emulated count")
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axis.set_title("Estimated device latency against each device's budget")
    return _png(figure)


def _size_against_latency(reports: list[BenchReport]) -> str | None:
    points = [(report, report.native["single_row_us"]["p50"]) for report in reports
              if report.native and "single_row_us" in report.native]
    devices = [(report, entry) for report in reports for entry in report.devices if entry.p99_ms is not None]
    if not points and not devices:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    for index, (report, p50) in enumerate(points):
        axis.scatter(report.model_bytes, p50, s=60, color=COLORS[index % len(COLORS)], label=f"{Path(report.artifact).name} (native p50)")
    for report, entry in devices:
        axis.scatter(report.model_bytes, entry.p99_ms * 1000, marker="^", s=50, color="#7f7f7f")
        axis.annotate(entry.device, (report.model_bytes, entry.p99_ms * 1000), fontsize=7, xytext=(4, 2), textcoords="offset points")
    _plain_log(axis, "x", "y")
    axis.set_xlabel("model file size (bytes, log scale)")
    axis.set_ylabel("latency per inference (µs, log scale)")
    axis.grid(True, which="both", alpha=0.3)
    if points:
        axis.legend(fontsize=8, loc="upper left")
    axis.set_title("Size against latency (triangles: emulated device estimates)")
    return _png(figure)


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


def render(reports: list[BenchReport]) -> str:
    plots = [("Latency distribution", _latency_distribution(reports)), ("Devices", _device_latencies(reports)),
             ("Size and latency", _size_against_latency(reports))]
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
    """Write the page beside its final name and rename it into place."""
    write_atomically(path, render(reports))
