"""A feature's training baseline beside what devices report now, as inline SVG: paired bars per
bin of the baseline (shares, so samples of any size compare), missing values as a last bin.

Every piece of text that goes into the SVG is escaped here; the caller may insert the result
into a page as trusted markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .svg_plot import PALETTE, nice_ticks

BASELINE_COLOUR, NOW_COLOUR = "#9aa3b5", PALETTE[5]
PIXELS_PER_CHAR = 5.2  # 9 px sans-serif, generously: how far apart bin labels must be


def short_number(value: float) -> str:
    """Three significant digits, never e-notation: 0.000123 -> 0.000123, 12345 -> 12,345."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def bin_labels(feature: dict) -> list[str]:
    """One label per bin of a baseline feature (edgekit.data.baseline), then "missing"."""
    if feature.get("kind") == "categorical":
        labels = [str(category) for category in feature.get("categories") or []]
    else:
        edges = feature.get("edges") or []
        labels = [f"< {short_number(edges[0])}"] if edges else ["all"]
        labels += [f"≥ {short_number(edge)}" for edge in edges]
    return [*labels, "missing"]


def histogram_chart(title: str, labels: Sequence[str], baseline: Sequence[float], now: Sequence[float], *,
                    width: int = 460, height: int = 230) -> str:
    """An ``<svg>`` element: per bin, the baseline's share and the current share side by side."""
    baseline_shares, now_shares = _shares(baseline), _shares(now)
    bins = min(len(labels), len(baseline_shares), len(now_shares))
    left, top, right, bottom = 46.0, 26.0, 10.0, 46.0
    plot_width, plot_height = width - left - right, height - top - bottom
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart histogram" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'),
             f"<title>{escape(title)}</title>",
             f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    if bins == 0:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12" fill="#666">no data</text></svg>')
        return "".join(parts)
    ticks = nice_ticks(0.0, max(*baseline_shares[:bins], *now_shares[:bins], 0.01), 4)
    top_share = ticks[-1]
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_width}" height="{plot_height}" fill="#fbfbfd" stroke="#999"/>')
    for tick in ticks:
        y = top + plot_height - tick / top_share * plot_height
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" stroke="#e3e3ea"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 3.5:.1f}" text-anchor="end" font-size="10" fill="#444">{tick * 100:.0f}%</text>')
    slot = plot_width / bins
    bar = slot * 0.38
    # label every bin when they fit, else every second or third one
    longest = max(len(label[:10]) for label in labels[:bins])
    every = max(1, math.ceil((longest * PIXELS_PER_CHAR + 6) / slot))
    for index in range(bins):
        x = left + index * slot + slot * 0.1
        for offset, share, colour in ((0.0, baseline_shares[index], BASELINE_COLOUR), (bar, now_shares[index], NOW_COLOUR)):
            bar_height = share / top_share * plot_height
            parts.append(f'<rect x="{x + offset:.1f}" y="{top + plot_height - bar_height:.1f}" width="{bar:.1f}" '
                         f'height="{bar_height:.1f}" fill="{colour}"><title>{share * 100:.1f}%</title></rect>')
        if index % every == 0:
            parts.append(f'<text x="{left + (index + 0.5) * slot:.1f}" y="{top + plot_height + 13:.1f}" text-anchor="middle" '
                         f'font-size="9" fill="#444">{escape(labels[index][:10])}</text>')
    legend_y = height - 12
    for offset, name, colour in ((0, "training baseline", BASELINE_COLOUR), (130, "devices now", NOW_COLOUR)):
        parts.append(f'<rect x="{left + offset}" y="{legend_y - 7}" width="12" height="8" fill="{colour}"/>')
        parts.append(f'<text x="{left + offset + 16}" y="{legend_y}" font-size="10" fill="#333">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [count / total for count in counts] if total > 0 else [0.0 for _ in counts]


__all__ = ["bin_labels", "histogram_chart", "short_number"]
