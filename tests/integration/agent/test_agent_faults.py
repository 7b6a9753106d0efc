"""Faults: the agent killed with SIGKILL at random points of an update (download, unpack, smoke
test, switch), in 50 seeded trials, and at each named step of the switch and of a rollback. After
each kill the device has exactly one current model, which loads and passes its smoke test, the
next cycle completes the update, and a probation only ever judges the release it names."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from edgekit_runtime.agent.config import AgentConfig
from edgekit_runtime.agent.state import Identity, StateDir
from edgekit_runtime.agent.update import PAUSE_AT, REFUSED_FILE, SLOT_MARKER, Agent
from edgekit_runtime.app_api import report_unhealthy
from edgekit_runtime.archive import pack
from repository_simulator import RepositorySimulator, serve
from tests_support import pi4_onnx, require_tool

MODEL, PROFILE = "bc", "raspberry-pi-4b"
TRIALS = 50
RUNTIME = [sys.executable, "-m", "edgekit_runtime.cli"]
V1, V2 = f"{MODEL}/1/onnx.tar", f"{MODEL}/2/onnx.tar"


@pytest.fixture(scope="module")
def world(trained_bundle, tmp_path_factory):
    """A repository assigning release 2 to every Pi 4, and a device template running release 1."""
    root = tmp_path_factory.mktemp("faults")
    archives = [pack(artifact) for artifact in pi4_onnx(trained_bundle, root, "v1", "v2")]
    repo = RepositorySimulator()
    repo.add_release(MODEL, 1, archives[0], [PROFILE], pins=["dev-template"])
    repo.add_release(MODEL, 2, archives[1], [PROFILE])
    repo.next_versions()
    repo.publish()
    repo.throttle_seconds = 0.03  # ~0.75 s for the 50 KB archive: kills land in the download as well as after it
    with serve(repo) as url:
        template = StateDir(root / "template")
        template.save_identity(Identity("dev-template", url, PROFILE, MODEL), "ekd_token", repo.files["metadata/1.root.json"])
        # pinned to release 1 for the template, whose probation record outlives the module: every trial
        # starts with the previous release's record on disk, which must never judge release 2
        assert Agent(template, AgentConfig(probation_seconds=3600)).once().target == V1
        identity = json.loads((template.root / "identity.json").read_text())
        (template.root / "identity.json").write_text(json.dumps({**identity, "device_id": "dev-trial"}))
        yield {"template": template.root, "repo": repo}


def assert_one_working_model(state: StateDir) -> str:
    current = state.pointer("current")
    assert current is not None and (current / SLOT_MARKER).is_file()
    assert sum(1 for name in ("current",) if (state.root / name).is_symlink()) == 1
    agent = Agent(state)
    assert agent.smoke(current, None) == ""
    return agent.current_target()


def test_sigkill_at_random_points_never_leaves_the_device_without_a_working_model(world, tmp_path):
    rng = random.Random(20261126)
    outcomes = {"before_switch": 0, "after_switch": 0}
    for trial in range(TRIALS):
        state = StateDir(shutil.copytree(world["template"], tmp_path / f"trial-{trial}", symlinks=True))
        process = subprocess.Popen([*RUNTIME, "agent", "once", "--state-dir", str(state.root)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.2, 2.0))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        running = assert_one_working_model(state)
        outcomes["after_switch" if running == f"{MODEL}/2/onnx.tar" else "before_switch"] += 1
        result = Agent(state).once()  # the restarted agent finishes the job
        assert result.outcome in ("installed", "unchanged"), result
        assert assert_one_working_model(state) == f"{MODEL}/2/onnx.tar"
        assert not any(state.incoming.iterdir())
        shutil.rmtree(state.root)
    # the seeded kills land on both sides of the switch
    assert outcomes["before_switch"] >= 5 and outcomes["after_switch"] >= 5, outcomes


def killed_at(state: StateDir, step: str, while_paused=None) -> None:
    """``agent once`` stopped at the named step (a test hook in the agent), then SIGKILLed there."""
    process = subprocess.Popen([*RUNTIME, "agent", "once", "--state-dir", str(state.root)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, PAUSE_AT: step}, start_new_session=True)
    try:
        reached = any(line.startswith(f"edgekit-agent: paused at {step}") for line in iter(process.stderr.readline, ""))
        assert reached, f"the agent never reached {step}"
        if while_paused is not None:
            while_paused()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()


def refused(state: StateDir) -> set[str]:
    path = state.root / REFUSED_FILE
    return set(json.loads(path.read_text())) if path.is_file() else set()


@pytest.mark.parametrize("app_reports", [False, True], ids=["app-quiet", "app-reports-unhealthy"])
@pytest.mark.parametrize("step", ["probation-recorded", "switched"])
def test_sigkill_around_the_switch_keeps_the_new_release_on_its_own_probation(world, tmp_path, step, app_reports):
    """Killed just before or just after the switch, with release 1's probation record on disk, while
    the application reports unhealthy what it runs: release 2 still gets its own probation, an
    unhealthy report about it rolls it back and refuses it, and release 1 is never blamed."""
    state = StateDir(shutil.copytree(world["template"], tmp_path / "device", symlinks=True))
    killed_at(state, step, (lambda: report_unhealthy(state.root, "the app saw garbage")) if app_reports else None)
    assert assert_one_working_model(state) == (V1 if step == "probation-recorded" else V2)
    agent = Agent(state)
    first = agent.once()
    if not (app_reports and step == "switched"):  # nothing said (yet) about release 2: it runs, on probation
        assert first.outcome == ("installed" if step == "probation-recorded" else "unchanged"), first
        assert agent.current_target() == V2 and agent.on_probation()
        report_unhealthy(state.root, "the app saw garbage after the restart")
        first = agent.once()
    assert (first.outcome, first.target, first.from_target) == ("rolled_back", V1, V2), first
    assert agent.once().outcome == "unchanged" and assert_one_working_model(state) == V1
    assert refused(state) == {V2}


@pytest.mark.parametrize("step", ["refused", "rolled-back"])
def test_sigkill_during_a_rollback_still_refuses_only_the_unhealthy_release(world, tmp_path, step):
    """Killed between refusing release 2 and switching back, or between switching back and dropping
    the probation record: the restarted agent ends on release 1, with release 2 (only) refused."""
    state = StateDir(shutil.copytree(world["template"], tmp_path / "device", symlinks=True))
    assert Agent(state).once().outcome == "installed"
    report_unhealthy(state.root, "the app saw garbage")
    killed_at(state, step)
    agent = Agent(state)
    assert agent.once().outcome in ("rolled_back", "unchanged")  # finishes the rollback, or finds it done
    assert agent.current_target() == V1 and not agent.on_probation()
    assert agent.once().outcome == "unchanged" and assert_one_working_model(state) == V1
    assert refused(state) == {V2}


@pytest.mark.parametrize("shift, outcome", [("+1825d", "rejected"), ("-1825d", "installed")])
def test_a_clock_years_off_never_bricks_the_device(world, tmp_path, shift, outcome):
    """Years ahead, every signature looks expired: updates are refused (and reported), the current
    model keeps serving, and the first cycle after the clock is fixed updates. Years behind, TUF has
    no not-before to check: freshness rests on version numbers, which never go back."""
    faketime = require_tool("faketime", "faketime")
    state = StateDir(shutil.copytree(world["template"], tmp_path / "device", symlinks=True))
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    skewed = subprocess.run([faketime, "-f", shift, *RUNTIME, "agent", "once", "--state-dir", str(state.root), "--json"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert skewed.returncode == (1 if outcome == "rejected" else 0), skewed.stderr
    result = json.loads(skewed.stdout.strip().splitlines()[-1])
    assert result["outcome"] == outcome, result
    if outcome == "rejected":
        assert "expired" in result["detail"].lower() and assert_one_working_model(state) == f"{MODEL}/1/onnx.tar"
        assert Agent(state).once().outcome == "installed"  # the clock is right again
    assert assert_one_working_model(state) == f"{MODEL}/2/onnx.tar"
