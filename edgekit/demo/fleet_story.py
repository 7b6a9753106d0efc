"""The quickstart's fleet story: a simulated fleet follows a staged rollout, then refuses a
deliberately broken release on its own."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from edgekit_runtime.archive import pack
from edgekit_runtime.integrity import sha256_file

from ..display.figures import mapping
from ..fleet.client import AdminClient
from ..fleet.simulate import FleetSimulator
from ..storage import content_hash


def broken_copy(source: Path, target: Path) -> Path:
    """A self-consistent artifact (manifest and content hash rewritten) whose certified outputs its
    model does not reproduce: the server accepts it, a device's smoke test must not."""
    shutil.copytree(source, target)
    with np.load(target / "reference.npz") as archive:
        data = dict(archive)
    data["artifact_outputs"] = data["artifact_outputs"] + np.float32(0.25)
    np.savez_compressed(target / "reference.npz", **data)
    descriptor = json.loads((target / "artifact.json").read_text())
    descriptor["files"]["reference.npz"] = {"sha256": sha256_file(target / "reference.npz"), "size": (target / "reference.npz").stat().st_size}
    descriptor["content_hash"] = content_hash(descriptor)
    (target / "artifact.json").write_text(json.dumps(descriptor, indent=2))
    return target


async def fleet_story(url: str, admin: AdminClient, model: str, profile: str, rollout_id: int, broken: Path, devices: int,
                      say: Callable[[str], None]) -> dict[str, Any]:
    """Enroll ``devices`` simulated devices, promote rollout ``rollout_id`` to 100 %, then publish
    ``broken`` and start it at 20 %: the canaries refuse it and stay on the good release (20 %, so
    that a 50-device fleet has canaries: with 10 % none would be picked once in 200 runs)."""
    token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": devices, "profile": profile})["token"]
    simulator = FleetSimulator(url, model, profile, [], poll_seconds=0.1)
    story: dict[str, Any] = {"devices": devices, "phases": []}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await simulator.enroll(client, devices, token)

            async def phase(name: str) -> None:
                run = await simulator.run(client, 30, until_converged=True)
                story["phases"].append({"phase": name, "installed": run.installed, "refused": run.failed, "seconds": run.seconds})
                say(f"fleet: {name}: {mapping(run.installed)}" + (f"; refused {mapping(run.failed)}" if run.failed else ""))

            await phase("10 % stage")
            for _ in range(2):
                status = admin.request("POST", f"/v1/admin/rollouts/{rollout_id}/promote")
                await phase(f"promoted to {status['percent']:g} %")
            upload = admin.upload(pack(broken))
            release = admin.request("POST", "/v1/admin/releases", json={"model": model, "upload": upload["sha256"], "profiles": [profile]})
            canary = admin.request("POST", "/v1/admin/rollouts", json={"model": model, "release": release["version"],
                                                                      "stages": [20, 100], "profiles": [profile]})
            await phase(f"broken release {release['version']} at 20 %")
            admin.request("POST", f"/v1/admin/rollouts/{canary['id']}/rollback")
            story["broken_release"] = release["target_path"]
    finally:
        simulator.close()
    return story
