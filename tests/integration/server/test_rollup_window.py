"""The window the monitor judges is the window set: with one-second rollup buckets and a two-second
drift window, a report older than the window is not counted and one inside it is — a real server
(``edgekit server run``) ingesting over HTTP, a monitor pass run on demand, the drift point read
from its SQLite database. A bucket width the monitor cannot judge with is refused at the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from edgekit_runtime.archive import pack
from sqlalchemy import select
from tests_support import edgekit_script, init_server, pi4_onnx, start_server

from edgekit.fleet.client import AdminClient
from edgekit.fleet.telemetry_load import enroll, report_body
from edgekit.server.db import Database, DriftPoint, TelemetryRollup
from edgekit.server.monitoring.drift import PREDICTIONS

MODEL, PROFILE, TARGET = "window", "raspberry-pi-4b", "window/1/onnx.tar"
ENV = {"EDGEKIT_MONITOR_SECONDS": "3600", "EDGEKIT_ROLLUP_SECONDS": "1", "EDGEKIT_DRIFT_WINDOW_SECONDS": "2"}


@pytest.fixture(scope="module")
def artifact(trained_bundle, tmp_path_factory) -> Path:
    return pi4_onnx(trained_bundle, tmp_path_factory.mktemp("window"), "onnx")[0]


def _report(url: str, device, index: int) -> int:
    """Posts report ``index`` (report_body: its rows are 1 + index) and returns its rows."""
    body = report_body(TARGET, index)
    answer = httpx.post(f"{url}/v1/devices/{device.device_id}/telemetry", json=body,
                        headers={"Authorization": f"Bearer {device.token}"}, timeout=30)
    assert answer.status_code == 202, answer.text
    return body["counters"]["rows"]


def test_a_report_older_than_the_window_is_not_judged_and_one_inside_it_is(artifact, tmp_path):
    home = tmp_path / "home"
    admin_key = init_server(home)["admin_key"]
    process, url = start_server(home, ENV)
    try:
        admin = AdminClient(url, admin_key)
        upload = admin.upload(pack(artifact))
        admin.request("POST", "/v1/admin/releases", json={"model": MODEL, "upload": upload["sha256"], "profiles": [PROFILE]})
        admin.request("POST", "/v1/admin/rollouts", json={"model": MODEL, "stages": [100]})

        async def one_device():
            async with httpx.AsyncClient(timeout=30) as client:
                return (await enroll(client, url, admin_key, 1, PROFILE, MODEL, TARGET))[0]

        device = asyncio.run(one_device())
        old_rows = _report(url, device, 10)
        # Past the window and the one-second bucket its start falls in (the window is rounded out
        # to whole buckets: at most 3 s back); under one-minute buckets this report would usually count.
        time.sleep(3.5)
        new_rows = _report(url, device, 40)
        admin.request("POST", "/v1/admin/monitor/run")
        admin.close()

        database = Database(f"sqlite:///{home / 'server.db'}")
        with database.session() as session:
            buckets = sorted(session.scalars(select(TelemetryRollup.minute).where(TelemetryRollup.release == TARGET)))
            judged = list(session.scalars(select(DriftPoint.rows).where(DriftPoint.feature == PREDICTIONS, DriftPoint.cohort == "*")))
        database.engine.dispose()
        assert len(buckets) == 2 and all(bucket.microsecond == 0 for bucket in buckets)
        assert (buckets[1] - buckets[0]).total_seconds() >= 3  # each report in its own one-second bucket
        assert (old_rows, new_rows) == (11, 41) and judged == [new_rows], judged
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(("env", "named"), [
    ({"EDGEKIT_ROLLUP_SECONDS": "7"}, "rollup_seconds 7 does not divide an hour"),
    ({"EDGEKIT_DRIFT_WINDOW_SECONDS": "20"}, "drift_window_seconds 20 is shorter than rollup_seconds 60")])
def test_settings_the_monitor_cannot_judge_with_are_refused_in_one_line_with_exit_code_2(tmp_path, env, named):
    init_server(tmp_path / "home")
    refused = subprocess.run([edgekit_script(), "server", "migrate", "--home", str(tmp_path / "home")],
                             env={**os.environ, **env}, capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and named in refused.stderr, refused.stderr
