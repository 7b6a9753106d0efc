"""Server settings checked as a whole: the rollup bucket width and the windows the monitor judges
over agree, and a setting that breaks that is refused with one line naming it and the fix."""

from __future__ import annotations

import json

import pytest

from edgekit.errors import BadInput
from edgekit.server.settings import load_settings


def _home(tmp_path, **stored):
    (tmp_path / "server.json").write_text(json.dumps(stored))
    return tmp_path


def test_the_default_buckets_are_a_minute_and_a_quickstart_window_fits_five_second_buckets(tmp_path):
    assert load_settings(_home(tmp_path)).rollup_seconds == 60
    settings = load_settings(_home(tmp_path, drift_window_seconds=20.0, rollup_seconds=5))
    assert (settings.drift_window_seconds, settings.rollup_seconds) == (20.0, 5)
    assert load_settings(_home(tmp_path, drift_window_seconds=60, rollup_seconds=60)).rollup_seconds == 60  # one bucket is enough


@pytest.mark.parametrize("width", [7, 7200, 0, 70])
def test_a_bucket_width_that_does_not_divide_an_hour_is_refused(tmp_path, width):
    with pytest.raises(BadInput) as refused:
        load_settings(_home(tmp_path, rollup_seconds=width))
    line = refused.value.one_line()
    assert "rollup_seconds" in line and "\n" not in line, line


def test_a_drift_window_shorter_than_a_bucket_is_refused_naming_both_settings_and_the_fix(tmp_path):
    with pytest.raises(BadInput) as refused:
        load_settings(_home(tmp_path, drift_window_seconds=20.0))
    line = refused.value.one_line()
    assert "drift_window_seconds 20 is shorter than rollup_seconds 60" in line and "\n" not in line, line
    assert "lower rollup_seconds" in line and "raise drift_window_seconds to at least 60" in line, line
    assert line.startswith("server settings: ")  # a check across settings names no single one


def test_an_environment_variable_is_checked_with_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_ROLLUP_SECONDS", "5")
    assert load_settings(_home(tmp_path, drift_window_seconds=20.0)).rollup_seconds == 5
    monkeypatch.setenv("EDGEKIT_ROLLUP_SECONDS", "30")
    with pytest.raises(BadInput, match="drift_window_seconds 20 is shorter than rollup_seconds 30"):
        load_settings(_home(tmp_path, drift_window_seconds=20.0))
