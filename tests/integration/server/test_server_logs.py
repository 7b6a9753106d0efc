"""What the operator of ``edgekit server run`` sees on stderr: the event log of the server's
decisions and one line per request, as JSON lines or text, at the level asked for."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import tempfile
import time

import httpx
import pytest
from edgekit_runtime.archive import pack
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from tests_support import edgekit_script, init_server, pi4_onnx, start_server

from edgekit.compile import compile_bundle
from edgekit.data.synthetic import LABEL
from edgekit.fleet.client import AdminClient
from edgekit.fleet.sim_telemetry import SensorFeed
from edgekit.fleet.simulate import FleetSimulator
from edgekit.server.logs import events
from edgekit.server.logs.setup import JsonLines, TextLines
from edgekit.server.settings import load_settings

MODEL = "logged"


def _cli(*args, key: str) -> subprocess.CompletedProcess:
    return subprocess.run([edgekit_script(), *map(str, args)], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EDGEKIT_ADMIN_KEY": key})


def _served_lines(home, artifacts, *options: str, env: dict[str, str] | None = None) -> list[str]:
    """Serve ``home`` with ``options``; publish, start and roll back a rollout, create an enrollment
    token; stop the server and return its stderr lines."""
    key = init_server(home)["admin_key"]
    with tempfile.TemporaryFile() as log:
        process, url = start_server(home, env, None, *options, log=log)
        try:
            for artifact in artifacts:
                published = _cli("publish", artifact, "--server", url, "--model", MODEL, "--device-profile", "raspberry-pi-4b",
                                 "--json", key=key)
                assert published.returncode == 0, published.stderr
            rollout = json.loads(_cli("rollout", "start", "--server", url, "--model", MODEL, "--stages", "10,50", "--json",
                                      key=key).stdout)["id"]
            rolled = _cli("rollout", "rollback", str(rollout), "--server", url, "--json", key=key)
            assert json.loads(rolled.stdout)["state"] == "rolled_back", rolled.stderr
            refused = _cli("rollout", "rollback", str(rollout), "--server", url, key=key)  # a refusal decides nothing
            assert refused.returncode == 2
            token = httpx.post(f"{url}/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b", "uses": 3},
                               headers={"Authorization": f"Bearer {key}"}, timeout=10)
            assert token.status_code in (200, 201), token.text
        finally:
            process.terminate()
            process.wait(timeout=30)
        log.seek(0)
        return log.read().decode().splitlines()


@pytest.fixture(scope="module")
def artifacts(trained_bundle, tmp_path_factory):
    return pi4_onnx(trained_bundle, tmp_path_factory.mktemp("logged"), "onnx-0", "onnx-1")


def test_json_lines_carry_every_decision_and_every_request(artifacts, tmp_path):
    lines = _served_lines(tmp_path / "home", artifacts, "--log-format", "json")
    records = [json.loads(line) for line in lines]  # every line parses: nothing else is written to stderr
    assert all({"ts", "level", "event"} <= record.keys() for record in records)
    by_event: dict[str, list[dict]] = {}
    for record in records:
        by_event.setdefault(record["event"], []).append(record)
    assert by_event["server.start"][0]["url"].startswith("http://127.0.0.1:")
    assert [(r["model"], r["release"]) for r in by_event["publish"]] == [(MODEL, 1), (MODEL, 2)]
    assert by_event["rollout.start"][0]["stages"] == [10, 50, 100] and by_event["rollout.start"][0]["actor"]
    rollback = by_event["rollout.rollback"]
    assert len(rollback) == 1 and rollback[0]["state"] == "rolled_back"  # the refused second rollback logged nothing
    assert by_event["enrollment-token"][0]["uses"] == 3
    assert "upload" not in by_event  # detail: only at --log-level debug
    requests = by_event["http.request"]  # uvicorn's access log, on by default
    assert any(r["method"] == "POST" and r["path"].startswith("/v1/admin/releases") and r["status"] == 201 for r in requests)
    assert all(record["level"] in ("info", "warning", "error") for record in records)


def test_text_lines_at_warning_without_the_access_log_show_only_what_went_wrong(artifacts, tmp_path):
    home = tmp_path / "home"
    lines = _served_lines(home, artifacts[:1], "--log-level", "warning", "--no-access-log")
    assert not [line for line in lines if " INFO " in line or "publish" in line or "GET /" in line], lines


def test_the_log_format_is_a_setting_of_the_home_and_the_environment(tmp_path, monkeypatch):
    init_server(tmp_path / "home")
    config = tmp_path / "home" / "server.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "log_format": "json", "access_log": False}))
    settings = load_settings(tmp_path / "home")
    assert (settings.log_format, settings.access_log, settings.log_level) == ("json", False, "info")
    monkeypatch.setenv("EDGEKIT_LOG_LEVEL", "debug")
    assert load_settings(tmp_path / "home").log_level == "debug"
    monkeypatch.setenv("EDGEKIT_LOG_FORMAT", "xml")
    refused = subprocess.run([edgekit_script(), "server", "run", "--home", str(tmp_path / "home")], check=False, capture_output=True, text=True)
    assert refused.returncode == 2 and "log_format" in refused.stderr and "Traceback" not in refused.stderr
    bad_flag = subprocess.run([edgekit_script(), "server", "run", "--home", str(tmp_path / "home"), "--log-level", "loud"],
                              check=False, capture_output=True, text=True)
    assert bad_flag.returncode == 2 and "loud" in bad_flag.stderr


def test_a_decision_whose_transaction_rolls_back_is_never_logged(caplog):
    engine = create_engine("sqlite://")
    caplog.set_level(logging.INFO, logger="edgekit.events")
    with Session(engine) as session, pytest.raises(RuntimeError), session.begin():
        session.execute(text("select 1"))
        events.note(session, "rollout.rollback", {"rollout": 1})
        raise RuntimeError("the request failed after deciding")
    with Session(engine) as session, session.begin():
        session.execute(text("select 1"))
        events.note(session, "rollout.promote", {"rollout": 2, "reason": "every gate passed"})
    assert [(r.event, r.fields) for r in caplog.records] == [("rollout.promote", {"rollout": 2, "reason": "every gate passed"})]


def test_lines_are_one_json_object_or_one_readable_line_and_keep_clashing_field_names():
    record = logging.LogRecord("edgekit.events", logging.INFO, __file__, 1, "rollout.pause", None, None)
    record.event, record.fields = "rollout.pause", {"rollout": 3, "reason": "failure_rate 0.2 > 0.05", "level": "x"}
    parsed = json.loads(JsonLines().format(record))
    assert parsed["event"] == "rollout.pause" and parsed["level"] == "info" and parsed["level_"] == "x"
    assert parsed["reason"] == "failure_rate 0.2 > 0.05" and parsed["ts"].endswith("Z")
    line = TextLines().format(record)
    assert "\n" not in line and " rollout.pause rollout=3 " in line and 'reason="failure_rate 0.2 > 0.05"' in line
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/healthz", "1.1", 200), None)
    assert json.loads(JsonLines().format(access))["status"] == 200
    assert TextLines().format(access).endswith('uvicorn.access: 127.0.0.1:5 - "GET /healthz HTTP/1.1" 200')


def test_drift_alerts_are_logged_when_opened_and_when_resolved(tmp_path):
    """Devices whose sensors read high open alerts; once no device of the group reports within the
    drift window, the next monitor pass resolves them: both decisions are JSON lines, with why."""
    from edgekit.training import train_bundle

    bundle = train_bundle("synthetic:sensors?rows=2000&seed=0", tmp_path / "bundle", label=LABEL, name="sensors")
    artifact = compile_bundle(bundle, "onnx", tmp_path / "onnx").path
    env = {"EDGEKIT_LOG_FORMAT": "json", "EDGEKIT_MONITOR_SECONDS": "3600", "EDGEKIT_ROLLUP_SECONDS": "1",
           "EDGEKIT_DRIFT_WINDOW_SECONDS": "2", "EDGEKIT_DRIFT_MIN_ROWS": "50"}
    key = init_server(tmp_path / "home")["admin_key"]
    with tempfile.TemporaryFile() as log:
        process, url = start_server(tmp_path / "home", env, log=log)
        try:
            admin = AdminClient(url, key)
            upload = admin.upload(pack(artifact))
            release = admin.request("POST", "/v1/admin/releases", json={"model": "sensors", "upload": upload["sha256"],
                                                                       "profiles": ["raspberry-pi-4b"]})
            admin.request("POST", "/v1/admin/rollouts", json={"model": "sensors", "release": release["version"], "stages": [100]})
            token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": 4, "profile": "raspberry-pi-4b"})["token"]
            feeds = {"*": SensorFeed("synthetic:sensors?seed=12&offset=8&regime=0.4")}
            simulator = FleetSimulator(url, "sensors", "raspberry-pi-4b", [], poll_seconds=0.2, feeds=feeds, telemetry_rows=100,
                                       timed_calls=40)

            async def drifted_fleet() -> None:
                async with httpx.AsyncClient(timeout=30) as client:
                    await simulator.enroll(client, 4, token, tags=["*"])
                    await simulator.run(client, 3.0, until_converged=False)

            try:
                asyncio.run(drifted_fleet())
            finally:
                simulator.close()
            admin.request("POST", "/v1/admin/monitor/run")
            time.sleep(3)  # past the drift window, with no device reporting
            admin.request("POST", "/v1/admin/monitor/run")
            admin.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
        log.seek(0)
        records = [json.loads(line) for line in log.read().decode().splitlines()]
    opened = [record for record in records if record["event"] == "alert.open"]
    resolved = [record for record in records if record["event"] == "alert.resolve"]
    assert opened and {record["feature"] for record in opened} >= {"temperature_c"}, records
    assert {record["id"] for record in opened} == {record["alert"] for record in resolved}
    assert all(record["reason"] == "no device of its group reports any more" for record in resolved)
