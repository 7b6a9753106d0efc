"""The quickstart's finale: the fleet's data drifts and edgekit heals it on its own.

A pipeline (edgekit.pipeline) trains a sensor-failure model and ships it to a simulated fleet of
gateways; the fleet predicts with it and reports telemetry. Then the plant changes — the
temperature sensors read 8 °C high and a third of the machines run in a new heavy-load regime.
The server's monitor raises drift alerts on the moved features; the pipeline's watcher sees them,
retrains on fresh data, compiles, checks, benches and publishes the new model and starts a gated
canary rollout; the monitor judges the canary against the rest of the fleet and promotes it to
100 %. The fleet runs in this thread's event loop while the watcher works in another, as they
would on separate machines.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..display.figures import mapping
from ..errors import CheckFailed
from ..fleet.client import AdminClient
from ..fleet.sim_telemetry import SensorFeed
from ..fleet.simulate import FleetSimulator
from ..pipeline.config import RolloutPlan, load_config
from ..pipeline.run import run_pipeline
from ..pipeline.watch import Watcher

MODEL = "sensor-failure"
PROFILE = "x86-64-gateway-n100"  # the simulated gateways run their builds on this machine, for real
DEVICES = 30
TRAINING = "synthetic:sensors?rows=4000&seed=0"
PLANT = "synthetic:sensors?seed=21"
DRIFTED_PLANT = "synthetic:sensors?seed=22&offset=8&regime=0.35"
FRESH_DATA = "synthetic:sensors?rows=4000&seed=7&offset=8&regime=0.35"  # labelled readings since the change
# What the server needs to tell the story in a minute: a pass each second over the last 20 s, read
# in 5 s rollup buckets (one-minute buckets would stretch the window to up to 80 s), and an address
# limit for a whole simulated fleet on 127.0.0.1 (30 devices reporting twice a second).
SERVER_SETTINGS = {"monitor_seconds": 1.0, "drift_window_seconds": 20.0, "rollup_seconds": 5,
                   "ip_rate_per_second": 1000.0, "ip_burst": 2000}


def write_pipeline(directory: Path, server: str) -> Path:
    """The finale's pipeline.yaml, in ``directory`` made afresh (runs and watch state of an earlier quickstart go)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    config = {
        "model": MODEL, "data": TRAINING, "label": "failure", "family": "xgboost", "min_metrics": {"roc_auc": 0.8},
        "devices": [PROFILE], "bench": True, "server": server, "workdir": "runs",
        # p99_latency_ratio 3: the canary is ~7 devices, so at its first judgement its p99 is the ~10
        # slowest of at most ~1000 calls (one stalled device sets it) and p99s are bucket bounds 1.26x apart;
        # 2x failed a healthy canary once in three loaded CI runs.
        "rollout": {"stages": [25, 100], "wait_seconds": 90, "gates": {
            "failure_rate": 0.05, "prediction_psi": 0.25, "p99_latency_ratio": 3.0,
            "hold_seconds": 3, "min_devices": 3, "min_rows": 500, "min_calls": 200}},
        "watch": {"fresh_data": FRESH_DATA, "min_interval_seconds": 600, "poll_seconds": 1},
    }
    path = directory / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def drift_story(server: str, admin: AdminClient, directory: Path, say: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    timeline: list[dict[str, Any]] = []

    def event(text: str) -> None:
        timeline.append({"seconds": round(time.monotonic() - started, 1), "event": text})
        say(f"  {timeline[-1]['seconds']:6.1f} s  {text}")

    config = load_config(write_pipeline(directory, server))
    first = await asyncio.to_thread(run_pipeline, config.model_copy(update={"rollout": RolloutPlan(stages=[100])}), admin)
    if not first.ok:
        raise CheckFailed(f"the finale's first pipeline run failed at {first.failed.name}: {first.failed.detail}",
                          f"see {first.directory}/run.json")
    event(f"pipeline: {MODEL} release {first.releases[0]['version']} ({first.releases[0]['target']}) trained, "
          f"checked and rolled out to every {PROFILE}")
    token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": DEVICES, "profile": PROFILE})["token"]
    feeds = {"*": SensorFeed(PLANT)}
    simulator = FleetSimulator(server, MODEL, PROFILE, [], poll_seconds=0.25, feeds=feeds, telemetry_rows=100,
                               timed_calls=20, report_seconds=0.5)
    result: dict[str, Any] = {"model": MODEL, "devices": DEVICES, "pipeline": str(directory / "pipeline.yaml")}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await simulator.enroll(client, DEVICES // 2, token, tags=["site-a"])
            await simulator.enroll(client, DEVICES - DEVICES // 2, token, tags=["site-b"])
            await simulator.run(client, 30, until_converged=True)
            event(f"{DEVICES} gateways run release {first.releases[0]['version']} and report telemetry")
            await simulator.run(client, 3, until_converged=False)
            feeds["*"] = SensorFeed(DRIFTED_PLANT)
            event("the plant changes: temperature sensors read 8 °C high, 35 % of machines run near full load")

            def alerted() -> bool:  # the story waits for the moved sensors to stand out, as an operator would
                alerts = admin.request("GET", "/v1/admin/alerts", params={"model": MODEL})
                return len({alert["feature"] for alert in alerts}) >= 3

            await simulator.run(client, 30, until_converged=False, until=alerted)
            alerts = admin.request("GET", "/v1/admin/alerts", params={"model": MODEL})
            event("drift alerts: " + "; ".join(alert_summary(alerts)))
            result["alerts"] = alerts

            watcher = Watcher(config, admin, lambda line: None, lambda step: event(f"pipeline: {step.name}: {step.detail}"))
            retraining = asyncio.create_task(asyncio.to_thread(watcher.watch, True, 60))

            def finished() -> bool:
                return retraining.done()

            await simulator.run(client, 150, until_converged=False, until=finished)
            runs = await retraining
            if not runs or not runs[-1].ok:
                failed = runs[-1].failed if runs else None
                raise CheckFailed(f"the finale's retraining run did not ship: {failed.name + ': ' + failed.detail if failed else 'no drift alert came'}",
                                  "rerun edgekit quickstart; the pipeline's runs are under the quickstart's pipeline/ directory")
            retrained = runs[-1]
            result["retrained_release"] = retrained.releases[0]["target_path"]
            status = admin.request("GET", f"/v1/admin/rollouts/{retrained.rollouts[0]['id']}")
            result["rollout"] = status
            judged = (status.get("gates") or {}).get("last") or {}
            event(f"monitor: the canary passed its gates ({', '.join(gate_summary(judged.get('gates', [])))}): promoted to 100 %")
            await simulator.run(client, 30, until_converged=True)
            event(f"fleet converged: {mapping(simulator.census())}")
            await simulator.run(client, 3, until_converged=False)
            open_alerts = admin.request("GET", "/v1/admin/alerts", params={"model": MODEL, "state": "open"})
            stale = [alert for alert in open_alerts if alert["release_path"] == result["retrained_release"]]
            event(f"release {retrained.releases[0]['version']} on its own training baseline: "
                  f"{'no drift alert' if not stale else f'{len(stale)} alert(s)'}")
            result["alerts_on_retrained"] = stale
    finally:
        simulator.close()
    result["timeline"] = timeline
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def alert_summary(alerts: list[dict[str, Any]]) -> list[str]:
    """One entry per moved feature: its largest statistic and the cohorts it moved in."""
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        by_feature.setdefault(alert["feature"], []).append(alert)
    lines = []
    for feature, found in sorted(by_feature.items()):
        top = max((alert for alert in found if alert["statistic"] == "psi"), key=lambda alert: alert["value"], default=found[0])
        cohorts = sorted({"all devices" if alert["cohort"] == "*" else alert["cohort"] for alert in found})
        lines.append(f"{feature} {top['statistic']} {top['value']:.2f} ({', '.join(cohorts)})")
    return lines


def gate_summary(gates: list[dict[str, Any]]) -> list[str]:
    return [f"{gate['gate']} {gate['value']:.3g} <= {gate['limit']:g}" for gate in gates if gate["value"] is not None]
