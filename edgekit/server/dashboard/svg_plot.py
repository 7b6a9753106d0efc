"""Line charts as inline SVG text, drawn on the server: axes, tick labels, a legend and an optional
dashed threshold line. No JavaScript and no plotting library, so a page that shows one needs
nothing but the HTML (the dashboard's CSP allows no scripts and no external images).

Every piece of text that goes into the SVG is escaped here; the caller may insert the result
into a page as trusted markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
THRESHOLD_COLOUR = "#c0392b"
# Time tick steps in seconds: 1 s up to 7 days.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
LABEL_CHAR_PIXELS = 6.0  # a 10 px label character, generously: for keeping labels inside the chart
MARKERS_UP_TO = 40  # points per line drawn as dots too (a line of few points is easier to read with them)


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (x, y); x in epoch seconds when the chart's x axis is time


@dataclass(frozen=True)
class _Frame:
    """Where the plot area sits and how data maps onto it."""

    left: float
    top: float
    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / (high - low) * self.width

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.top + self.height - (value - low) / (high - low) * self.height


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(multiple * power for multiple in (1, 2, 5, 10) if multiple * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks, value = [], first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def time_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], str]:
    """Tick times (epoch seconds, aligned to whole steps in UTC) within [low, high], and their strftime format."""
    span = max(high - low, 1.0)
    step = next((step for step in TIME_STEPS if span / step <= count), TIME_STEPS[-1])
    first = math.ceil(low / step) * step
    ticks = [float(first + index * step) for index in range(int((high - first) // step) + 1)]
    form = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%b %d"
    return ticks, form


def _number(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs."""
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{value:.{min(decimals, 6)}f}"


def _finite(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def line_chart(series: Sequence[Series], *, title: str, y_label: str = "", threshold: float | None = None,
               threshold_label: str = "", x_is_time: bool = True, width: int = 460, height: int = 230) -> str:
    """An ``<svg>`` element: one line per series (at most len(PALETTE)), y from 0 (or below, for
    negative data) to above the highest point and the threshold."""
    lines = [(entry.name, _finite(entry.points)) for entry in series[:len(PALETTE)]]
    xs = [x for _, points in lines for x, _ in points]
    ys = [y for _, points in lines for _, y in points]
    legend_rows = math.ceil(len(lines) / 4) if lines else 0
    frame_top, frame_left = 26.0, 50.0
    frame_height = height - frame_top - 30 - 16 * legend_rows
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'),
             f"<title>{escape(title)}</title>",
             f'<text x="{frame_left}" y="16" class="chart-title" font-size="13" font-weight="600">{escape(title)}</text>']
    if not xs:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12" fill="#666">no data</text></svg>')
        return "".join(parts)
    x_low, x_high = min(xs), max(xs)
    if x_high - x_low < 1e-9:  # one moment: widen, so the single point sits in the middle
        pad = 60.0 if x_is_time else 1.0
        x_low, x_high = x_low - pad, x_high + pad
    y_candidates = [*ys, *([threshold * 1.15] if threshold is not None else [])]
    y_ticks = nice_ticks(min(0.0, *y_candidates), max(y_candidates) if max(y_candidates) > 0 else 1.0)
    frame = _Frame(frame_left, frame_top, width - frame_left - 14, frame_height, (x_low, x_high), (y_ticks[0], y_ticks[-1]))
    parts += _axes(frame, y_ticks, x_is_time, y_label, width)
    if threshold is not None and frame.y_range[0] <= threshold <= frame.y_range[1]:
        ty = frame.y(threshold)
        parts.append(f'<line x1="{frame.left:.1f}" y1="{ty:.1f}" x2="{frame.left + frame.width:.1f}" y2="{ty:.1f}" '
                     f'stroke="{THRESHOLD_COLOUR}" stroke-width="1" stroke-dasharray="5 4"/>')
        parts.append(f'<text x="{frame.left + frame.width - 2:.1f}" y="{ty - 4:.1f}" text-anchor="end" font-size="10" '
                     f'fill="{THRESHOLD_COLOUR}">{escape(threshold_label or f"threshold {threshold:g}")}</text>')
    for index, (_, points) in enumerate(lines):
        parts += _line(frame, points, PALETTE[index])
    parts += _legend(lines, frame_left, height - 16 * legend_rows - 4)
    parts.append("</svg>")
    return "".join(parts)


def _anchor(x: float, label: str, width: float) -> str:
    """Centre a tick label under its tick unless that would cut it at the chart's left or right edge."""
    half = len(label) * LABEL_CHAR_PIXELS / 2
    return "start" if x - half < 1 else "end" if x + half > width - 1 else "middle"


def _axes(frame: _Frame, y_ticks: list[float], x_is_time: bool, y_label: str, width: float) -> list[str]:
    bottom, right = frame.top + frame.height, frame.left + frame.width
    parts = [(f'<rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.width:.1f}" height="{frame.height:.1f}" '
              'fill="#fbfbfd" stroke="#999" stroke-width="1"/>')]
    step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for tick in y_ticks:
        y = frame.y(tick)
        parts.append(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="#e3e3ea" stroke-width="1"/>')
        parts.append(f'<text x="{frame.left - 5:.1f}" y="{y + 3.5:.1f}" text-anchor="end" font-size="10" fill="#444">'
                     f"{_number(tick, step)}</text>")
    if x_is_time:
        x_ticks, form = time_ticks(*frame.x_range)
        labels = [datetime.fromtimestamp(tick, UTC).strftime(form) for tick in x_ticks]
    else:
        x_ticks = [tick for tick in nice_ticks(*frame.x_range) if frame.x_range[0] <= tick <= frame.x_range[1]]
        x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
        labels = [_number(tick, x_step) for tick in x_ticks]
    for tick, label in zip(x_ticks, labels, strict=True):
        x = frame.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" stroke="#666" stroke-width="1"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 15:.1f}" text-anchor="{_anchor(x, label, width)}" font-size="10" '
                     f'fill="#444">{escape(label)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{frame.top + frame.height / 2:.1f}" text-anchor="middle" font-size="10" fill="#444" '
                     f'transform="rotate(-90 12 {frame.top + frame.height / 2:.1f})">{escape(y_label)}</text>')
    return parts


def _line(frame: _Frame, points: list[tuple[float, float]], colour: str) -> list[str]:
    coordinates = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in sorted(points))
    parts = [f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.6" stroke-linejoin="round"/>']
    if len(points) <= MARKERS_UP_TO:
        parts += [f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.4" fill="{colour}"/>' for x, y in points]
    return parts


def _legend(lines: list[tuple[str, list]], left: float, top: float) -> list[str]:
    parts = []
    for index, (name, _) in enumerate(lines):
        x, y = left + (index % 4) * 100, top + (index // 4) * 16
        parts.append(f'<rect x="{x:.1f}" y="{y + 3:.1f}" width="12" height="4" fill="{PALETTE[index]}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y + 9:.1f}" font-size="10" fill="#333">{escape(name[:16])}</text>')
    return parts


__all__ = ["PALETTE", "Series", "line_chart", "nice_ticks", "time_ticks"]
