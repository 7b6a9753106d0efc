"""edgekit.display.figures: one way to write bytes, durations, counts and mappings for people."""

import pytest

from edgekit.display.figures import count, duration, mapping, size


@pytest.mark.parametrize(("value", "shown"), [
    (None, "—"), (0, "0 B"), (840, "840 B"), (1023, "1023 B"), (1024, "1 KiB"), (13_885, "13.6 KiB"),
    (23_968, "23.4 KiB"), (196_608, "192 KiB"), (1_023_999, "1000 KiB"), (4_725_977, "4.51 MiB"), (6 << 30, "6 GiB"),
])
def test_bytes_are_iec_units_with_three_significant_figures(value, shown):
    assert size(value) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "—"), (0.0004, "400 µs"), (0.35, "350 ms"), (1.2, "1.2 s"), (12.34, "12 s"), (59.97, "1 min"),
    (458, "7 min 38 s"), (3600, "1 h"), (7500, "2 h 5 min"),
])
def test_durations_read_like_people_say_them(seconds, shown):
    assert duration(seconds) == shown


def test_counts_have_a_comma_between_thousands():
    assert count(42) == "42" and count(23_968) == "23,968" and count(1_234_567.8) == "1,234,568"


def test_mappings_are_not_python_dicts():
    installed = {"breast-cancer-xgboost/1/onnx.tar": 8, "none": 42_000}
    assert mapping(installed) == "breast-cancer-xgboost/1/onnx.tar 8, none 42,000"
    assert mapping({"ai.onnx.ml": 1, "ai.onnx": 15}) == "ai.onnx.ml 1, ai.onnx 15"
    assert mapping({"max_depth": 6, "eta": 0.3}, "=") == "max_depth=6, eta=0.3"
    assert mapping({}) == "none" and mapping("70/15/15") == "70/15/15"
