"""The dashboard's drawing helpers, pure: readable numbers, baseline bin labels, the histogram
and the line chart's tick labels kept inside their SVG."""

from __future__ import annotations

import re

import pytest

from edgekit.server.dashboard.pages import _number
from edgekit.server.dashboard.svg_histogram import bin_labels, histogram_chart, short_number
from edgekit.server.dashboard.svg_plot import Series, line_chart


@pytest.mark.parametrize(("value", "shown"), [
    (7.03e-05, "< 0.001"), (0.0, "0"), (0.00123, "0.00123"), (0.406, "0.406"), (1.5834, "1.58"), (12.345, "12.3"),
    (12345.6, "12,346"), (21600, "21,600"), (None, "—"),
])
def test_numbers_on_the_pages_read_without_e_notation(value, shown):
    assert _number(value) == shown


def test_short_number_keeps_three_significant_digits():
    assert [short_number(v) for v in (0.0000703, 2.5, 100.0, -0.0123)] == ["0.0000703", "2.5", "100", "-0.0123"]


def test_bin_labels_name_each_baseline_bin_then_missing():
    assert bin_labels({"kind": "numeric", "edges": [1.0, 2.5]}) == ["< 1", "≥ 1", "≥ 2.5", "missing"]
    assert bin_labels({"kind": "categorical", "categories": ["a", "b"]}) == ["a", "b", "missing"]


def test_histogram_draws_a_pair_of_bars_per_bin_in_shares():
    svg = histogram_chart("x: training vs now", ["< 1", "≥ 1", "missing"], [10, 10, 0], [0, 30, 10])
    assert svg.count('fill="#9aa3b5"><title>') == 3 and "<title>75.0%</title>" in svg and "<title>50.0%</title>" in svg
    assert "<script" not in histogram_chart("<script>", ["<b>"], [1], [1])


def _text_positions(svg: str) -> list[tuple[float, str, str]]:
    return [(float(x), anchor, text) for x, anchor, text in
            re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)"[^>]*>([^<]*)</text>', svg)]


def test_time_labels_at_the_edges_are_anchored_inside_the_chart():
    start = 490_186 * 3600.0  # a whole hour: ticks fall on both ends of the x range
    svg = line_chart([Series("a", [(start, 0.1), (start + 3600, 0.2)])], title="t", width=460)
    labels = [(x, anchor) for x, anchor, text in _text_positions(svg) if ":" in text]
    assert labels
    for x, anchor in labels:  # a centred label 6 px per character wide fits between 0 and 460
        half = 5 * 6 / 2
        assert (anchor == "middle" and half <= x <= 460 - half) or (anchor == "end" and x <= 460) or (anchor == "start" and x >= 0)
    assert labels[-1][1] == "end"
