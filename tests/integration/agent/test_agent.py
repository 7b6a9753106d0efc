"""The device agent against a real server on 127.0.0.1: install, refuse a broken release, switch
back on the application's word, keep serving when the server is gone or the disk is full."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from edgekit_runtime import app_api
from edgekit_runtime.agent.config import AgentConfig
from edgekit_runtime.agent.loop import next_wait
from edgekit_runtime.agent.state import StateDir
from edgekit_runtime.agent.update import Agent
from edgekit_runtime.app_api import current_model, report_unhealthy
from tests_support import broken_copy, edgekit_script, free_port, pi4_onnx, served_home

MODEL = "bc"
RUNTIME = [sys.executable, "-m", "edgekit_runtime.cli"]
EXIT_CODES = {"installed": 0, "unchanged": 0, "rejected": 1, "failed": 1, "rolled_back": 1, "offline": 3}  # as documented


@pytest.fixture(scope="module")
def server(trained_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("agent")
    good = pi4_onnx(trained_bundle, root, "good-0", "good-1")
    broken = broken_copy(good[0], root / "broken")
    env = {"EDGEKIT_METADATA_CACHE_SECONDS": "0", "EDGEKIT_IP_RATE_PER_SECOND": "1000", "EDGEKIT_IP_BURST": "2000",
           "EDGEKIT_DEVICE_BURST": "100", "EDGEKIT_RAW_TELEMETRY_SECONDS": "3600"}  # raw reports kept: a test reads what the agent sent
    with served_home(root / "home", env) as (url, key):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        for artifact in [*good, broken]:  # releases 1, 2 (good) and 3 (broken)
            published = subprocess.run([edgekit_script(), "publish", str(artifact), "--server", url, "--model", MODEL, "--device-profile",
                                        "raspberry-pi-4b"], capture_output=True, text=True, env={**os.environ, "EDGEKIT_ADMIN_KEY": key}, check=False)
            assert published.returncode == 0, published.stderr
        assert admin.post("/v1/admin/rollouts", json={"model": MODEL, "release": 1, "stages": [100]}).status_code == 201
        yield {"url": url, "admin": admin, "root": root}
        admin.close()


def enroll(server, directory: Path, tags: tuple[str, ...] = ()) -> StateDir:
    token = server["admin"].post("/v1/admin/enrollment-tokens", json={"profile": "raspberry-pi-4b"}).json()["token"]
    command = [*RUNTIME, "agent", "enroll", "--server", server["url"], "--token", token, "--model", MODEL,
               "--state-dir", str(directory), *[part for tag in tags for part in ("--tag", tag)]]
    enrolled = subprocess.run(command, capture_output=True, text=True, check=False)
    assert enrolled.returncode == 0, enrolled.stderr
    return StateDir(directory)


def once(directory: Path, env: dict[str, str] | None = None, preexec=None) -> dict:
    """One ``agent once`` through the console command; its exit code must be the one documented for its outcome."""
    result = subprocess.run([*RUNTIME, "agent", "once", "--state-dir", str(directory), "--json"], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, preexec_fn=preexec, timeout=120, check=False)
    assert result.stdout, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == EXIT_CODES[outcome["outcome"]], (result.returncode, outcome, result.stderr)
    return outcome


def pin(server, device: str, release: int, unpin: bool = False) -> None:
    response = server["admin"].post("/v1/admin/pins", json={"model": MODEL, "release": release, "device_id": device, "unpin": unpin})
    assert response.status_code == 200, response.text


def test_the_agent_installs_its_release_and_the_app_sees_it(server, tmp_path):
    state = enroll(server, tmp_path / "device")
    first = once(state.root)
    assert first == {"outcome": "installed", "target": f"{MODEL}/1/onnx.tar", "detail": ""}
    with np.load(state.pointer("current") / "reference.npz") as archive:
        rows = archive["X"]
    assert current_model(state.root).predict(rows).shape == (len(rows), 2)
    assert once(state.root)["outcome"] == "unchanged"
    device = server["admin"].get("/v1/admin/devices", params={"limit": 1000}).json()
    mine = next(entry for entry in device if entry["id"] == state.identity().device_id)
    assert mine["installed"] == f"{MODEL}/1/onnx.tar" and mine["last_result"]["outcome"] == "unchanged"


def test_a_device_enrolled_before_pin_tags_learns_its_tag_and_follows_its_pin(server, tmp_path):
    state = enroll(server, tmp_path / "device")
    identity = json.loads((state.root / "identity.json").read_text())
    tag = identity.pop("pin_tag")
    assert len(tag) == 32 and identity["device_id"] not in tag
    (state.root / "identity.json").write_text(json.dumps(identity))  # as an older agent wrote it
    pin(server, identity["device_id"], 2)
    assert once(state.root)["target"] == f"{MODEL}/2/onnx.tar"  # the signed pins name only tags
    assert state.identity().pin_tag == tag


def test_a_release_that_fails_its_smoke_test_is_refused_and_not_retried(server, tmp_path):
    state = enroll(server, tmp_path / "device")
    assert once(state.root)["outcome"] == "installed"
    pin(server, state.identity().device_id, 3)  # the broken release
    failed = once(state.root)
    assert failed["outcome"] == "failed" and "smoke test" in failed["detail"] and "outputs moved" in failed["detail"]
    assert once(state.root) == {"outcome": "unchanged", "target": f"{MODEL}/1/onnx.tar", "detail": ""}
    assert current_model(state.root).predict(np.zeros((1, 30), np.float32)).shape == (1, 2)


def test_the_app_reporting_unhealthy_during_probation_switches_back(server, tmp_path, monkeypatch):
    monkeypatch.setattr(app_api, "RECHECK_SECONDS", 0.0)
    state = enroll(server, tmp_path / "device")
    assert once(state.root)["target"] == f"{MODEL}/1/onnx.tar"
    first_slot = state.pointer("current")
    assert current_model(state.root).directory == first_slot
    pin(server, state.identity().device_id, 2)
    assert once(state.root) == {"outcome": "installed", "target": f"{MODEL}/2/onnx.tar", "detail": ""}
    assert current_model(state.root).directory != first_slot  # picked up without a restart
    report_unhealthy(state.root, "accuracy alarm from the application")
    back = once(state.root)
    assert back["outcome"] == "rolled_back" and back["target"] == f"{MODEL}/1/onnx.tar" and "accuracy alarm" in back["detail"]
    assert back["from_target"] == f"{MODEL}/2/onnx.tar"  # what the server's error_rate gate counts against
    assert current_model(state.root).directory == first_slot
    assert once(state.root)["outcome"] == "unchanged"  # release 2 is still assigned to it: not reinstalled


def test_an_unhealthy_report_about_the_model_the_app_still_runs_is_not_held_against_the_new_one(server, tmp_path, monkeypatch):
    """The app judged release 1 (its cached model) after the agent switched to release 2: the report
    names release 1, so release 2 stays on probation; an old plain-text report means the current model."""
    state = enroll(server, tmp_path / "device")
    assert once(state.root)["target"] == f"{MODEL}/1/onnx.tar"
    first_slot = current_model(state.root).directory  # the app runs release 1 ...
    pin(server, state.identity().device_id, 2)
    assert once(state.root)["outcome"] == "installed"  # ... while the agent switches to release 2
    report_unhealthy(state.root, "release 1 misbehaved")
    assert once(state.root) == {"outcome": "unchanged", "target": f"{MODEL}/2/onnx.tar", "detail": ""}
    assert Agent(state).on_probation()
    (state.root / "unhealthy").write_text("the app saw garbage")  # what applications wrote before reports named their model
    back = once(state.root)
    assert (back["outcome"], back["target"], back["from_target"]) == ("rolled_back", f"{MODEL}/1/onnx.tar", f"{MODEL}/2/onnx.tar")
    monkeypatch.setattr(app_api, "RECHECK_SECONDS", 0.0)
    assert current_model(state.root).directory == first_slot


def test_a_server_that_is_down_leaves_the_current_model_serving(server, tmp_path):
    state = enroll(server, tmp_path / "device")
    assert once(state.root)["outcome"] == "installed"
    identity = json.loads((state.root / "identity.json").read_text())
    (state.root / "identity.json").write_text(json.dumps({**identity, "server": f"http://127.0.0.1:{free_port()}"}))
    before = state.pointer("current")
    result = once(state.root)
    assert result["outcome"] == "offline" and state.pointer("current") == before


def _small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_a_full_disk_aborts_the_update_cleanly(server, tmp_path):
    """The file-size limit stands in for a full disk: the download cannot be written."""
    state = enroll(server, tmp_path / "device")
    assert once(state.root)["outcome"] == "installed"
    pin(server, state.identity().device_id, 2)
    before = state.pointer("current")
    result = once(state.root, preexec=_small_files)
    assert result["outcome"] in ("failed", "offline") and state.pointer("current") == before
    assert not any(state.incoming.iterdir())
    assert once(state.root)["outcome"] == "installed"  # with room again, the next cycle completes


def test_agent_once_exit_codes_say_what_happened(server, tmp_path):
    """0 installed or nothing to do, 1 rejected (here: metadata not signed by the device's trusted root,
    as from an impostor server), 2 bad input (not enrolled, bad arguments), 3 offline."""
    from repository_simulator import RepositorySimulator

    def agent_once(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([*RUNTIME, "agent", "once", *arguments], capture_output=True, text=True, timeout=120, check=False)

    not_enrolled = agent_once("--state-dir", str(tmp_path / "nowhere"))
    assert not_enrolled.returncode == 2 and "not enrolled" in not_enrolled.stderr
    assert agent_once().returncode == 2 and agent_once("--state-dir", "x", "--poll-seconds", "soon").returncode == 2
    state = enroll(server, tmp_path / "device")
    assert [once(state.root)["outcome"] for _ in range(2)] == ["installed", "unchanged"]  # each exiting 0
    real_root = state.trusted_root()
    (state.root / "root.json").write_bytes(RepositorySimulator().files["metadata/1.root.json"])
    rejected = agent_once("--state-dir", str(state.root))
    assert rejected.returncode == 1 and rejected.stdout.startswith("rejected: "), rejected
    (state.root / "root.json").write_bytes(real_root)
    identity = json.loads((state.root / "identity.json").read_text())
    (state.root / "identity.json").write_text(json.dumps({**identity, "server": f"http://127.0.0.1:{free_port()}"}))
    offline = agent_once("--state-dir", str(state.root))
    assert offline.returncode == 3 and offline.stdout.startswith("offline: "), offline
    help_text = subprocess.run([*RUNTIME, "agent", "once", "--help"], capture_output=True, text=True, check=False).stdout
    assert all(f"{code} " in help_text for code in "0123") and "offline" in help_text


def test_waits_are_jittered_and_back_off():
    import random

    config = AgentConfig(poll_seconds=100, jitter=0.2, backoff_max_seconds=1000)
    rng = random.Random(1)
    waits = [next_wait(config, 0, rng) for _ in range(200)]
    assert 80 <= min(waits) < 90 and 110 < max(waits) <= 120
    assert 160 <= next_wait(config, 1, rng) <= 240 and next_wait(config, 30, rng) <= 1200


def test_enrolling_twice_into_one_state_dir_is_refused(server, tmp_path):
    enroll(server, tmp_path / "device")
    again = subprocess.run([*RUNTIME, "agent", "enroll", "--server", server["url"], "--token", "eke_x", "--model", MODEL,
                            "--state-dir", str(tmp_path / "device")], capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "already enrolled" in again.stderr and again.stderr.count("\n") == 1


def test_the_apps_counters_reach_the_server_as_bounded_telemetry(server, tmp_path):
    import sqlite3

    from edgekit_runtime.app_api import flush_telemetry

    state = enroll(server, tmp_path / "device")
    assert once(state.root)["outcome"] == "installed"
    model = current_model(state.root)
    with np.load(state.pointer("current") / "reference.npz") as archive:
        rows = archive["X"].copy()
    rows[0, 0] = 1e6  # one value far above the training maximum
    for row in rows:
        model.predict(row)
    flush_telemetry(state.root)
    assert once(state.root)["outcome"] == "unchanged"
    with sqlite3.connect(server["root"] / "home" / "server.db") as db:
        reports = [json.loads(payload) for (payload,) in db.execute(
            "SELECT payload FROM telemetry WHERE device_id = ? ORDER BY id", (state.identity().device_id,))]
    assert len(reports) == 1
    report = reports[0]
    assert report["release"] == f"{MODEL}/1/onnx.tar" and report["counters"]["rows"] == len(rows)
    assert report["counters"]["above_max"] == 1 and report["features"]["mean_radius"]["violations"] == {"above_max": 1}
    assert sum(report["features"]["mean_texture"]["counts"]) == len(rows)
    assert sum(report["predictions"]["counts"]) == len(rows) and sum(report["latency_us"]["counts"]) == len(rows)
    raw = json.dumps(report)
    assert str(float(rows[1, 1])) not in raw  # counts only: no input value leaves the device
    assert once(state.root)["outcome"] == "unchanged"  # nothing new: nothing sent
    with sqlite3.connect(server["root"] / "home" / "server.db") as db:
        assert db.execute("SELECT COUNT(*) FROM telemetry WHERE device_id = ?", (state.identity().device_id,)).fetchone()[0] == 1
        rolled_up = [json.loads(sums) for (sums,) in db.execute("SELECT sums FROM telemetry_rollups WHERE release = ?", (f"{MODEL}/1/onnx.tar",))]
    assert sum(sums["reports"] for sums in rolled_up) >= 1 and sum(sums["rows"] for sums in rolled_up) >= len(rows)


def test_agent_run_acts_on_an_unhealthy_report_during_the_wait(server, tmp_path):
    from edgekit_runtime.agent.loop import run_forever

    state = enroll(server, tmp_path / "device")
    assert once(state.root)["outcome"] == "installed"
    pin(server, state.identity().device_id, 2)
    agent = Agent(state, AgentConfig(poll_seconds=600))
    seen, slept = [], []

    def sleep(seconds: float) -> None:  # the application complains during the first short nap
        slept.append(seconds)
        if len(slept) == 1:
            report_unhealthy(state.root, "the app saw garbage")

    run_forever(agent, seen.append, sleep=sleep, cycles=2, seed=3)
    assert [result.outcome for result in seen][:2] == ["installed", "rolled_back"]
    assert slept[0] == 5.0 and sum(slept) < 2 * 600 * 1.2  # short naps while on probation, then the normal wait
    assert agent.current_target() == f"{MODEL}/1/onnx.tar"


@pytest.mark.parametrize("with_previous", [True, False])
def test_a_corrupted_slot_on_disk_is_never_run(server, tmp_path, with_previous):
    state = enroll(server, tmp_path / "device")
    assert once(state.root)["outcome"] == "installed"
    if with_previous:
        pin(server, state.identity().device_id, 2)
        assert once(state.root)["target"] == f"{MODEL}/2/onnx.tar"
    model_file = state.pointer("current") / "model.onnx"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot in the running model
    model_file.write_bytes(bytes(data))
    result = once(state.root)
    if with_previous:  # back to the previous, sound slot
        assert result["outcome"] == "rolled_back" and "corrupted on disk" in result["detail"]
        assert result["target"] == f"{MODEL}/1/onnx.tar"
    else:  # nothing sound on disk: the assigned release is installed afresh
        assert result == {"outcome": "installed", "target": f"{MODEL}/1/onnx.tar", "detail": ""}
    assert current_model(state.root).predict(np.zeros((1, 30), np.float32)).shape == (1, 2)
