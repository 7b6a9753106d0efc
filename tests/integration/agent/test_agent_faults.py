"""Faults: the agent killed with SIGKILL at random points of an update (download, unpack, smoke
test, switch), in 50 seeded trials. After each kill the device has exactly one current model,
which loads and passes its smoke test, and the next cycle completes the update."""

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
from edgekit_runtime.agent.state import Identity, StateDir
from edgekit_runtime.agent.update import SLOT_MARKER, Agent
from edgekit_runtime.archive import pack
from repository_simulator import RepositorySimulator, serve
from tests_support import pi4_onnx, require_tool

MODEL, PROFILE = "bc", "raspberry-pi-4b"
TRIALS = 50
RUNTIME = [sys.executable, "-m", "edgekit_runtime.cli"]


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
        assert Agent(template).once().target == f"{MODEL}/1/onnx.tar"  # pinned to release 1 for the template
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
    assert skewed.returncode == 0, skewed.stderr
    result = json.loads(skewed.stdout.strip().splitlines()[-1])
    assert result["outcome"] == outcome, result
    if outcome == "rejected":
        assert "expired" in result["detail"].lower() and assert_one_working_model(state) == f"{MODEL}/1/onnx.tar"
        assert Agent(state).once().outcome == "installed"  # the clock is right again
    assert assert_one_working_model(state) == f"{MODEL}/2/onnx.tar"
