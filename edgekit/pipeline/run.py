"""``edgekit pipeline run``: train → quality gate → compile for each device (auto-fit) → check →
bench → publish → start a gated rollout (→ wait for it), stopping at the first step that fails.

Every run gets its own directory under the pipeline's workdir (bundle, artifacts, run.json with
the report), so runs never overwrite each other and a failed run leaves what it built to look at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import EdgekitError
from .config import PipelineConfig

LOSSES = ("log_loss", "rmse", "mae", "mse")  # lower is better: min_metrics reads them as maxima


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class PipelineRun:
    directory: str
    data: str
    steps: list[Step] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    rollouts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class StepFailed(Exception):
    """A step said no: the run stops there (its report says why)."""


def run_pipeline(config: PipelineConfig, client: Any, data: str | None = None,
                 say: Callable[[Step], None] = lambda step: None) -> PipelineRun:
    """One run on ``data`` (default: the config's); ``client`` is an AdminClient for the server."""
    directory = config.workdir / f"run-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    directory.mkdir(parents=True)
    run = PipelineRun(str(directory), data or config.data)

    @contextmanager
    def step(name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        started = time.perf_counter()
        try:
            yield detail
        except (EdgekitError, StepFailed) as exc:
            run.steps.append(Step(name, False, exc.one_line() if isinstance(exc, EdgekitError) else str(exc),
                                  round(time.perf_counter() - started, 2)))
            say(run.steps[-1])
            raise StepFailed from exc
        run.steps.append(Step(name, True, "; ".join(detail), round(time.perf_counter() - started, 2)))
        say(run.steps[-1])

    try:
        _steps(config, client, run, directory, step)
    except StepFailed:
        pass
    (directory / "run.json").write_text(json.dumps(run.as_dict(), indent=2, default=str))
    return run


def _steps(config: PipelineConfig, client: Any, run: PipelineRun, directory: Path, step: Any) -> None:
    from ..artifact import Artifact, device_latencies, read_benchmarks
    from ..bench.native import NativeSettings
    from ..bench.run import bench_artifact
    from ..compile.build import compile_bundle
    from ..devices import load_profile
    from ..devices.autofit import fit_to_device
    from ..devices.check import check_descriptor
    from ..training import train_bundle

    with step("train") as detail:
        bundle = train_bundle(run.data, directory / "bundle", label=config.label, family=config.family, tune=config.tune,
                              seed=config.seed, name=config.model, params={key: str(value) for key, value in config.params.items()},
                              on_warning=lambda message: detail.append(f"warning: {message}"))
        test = bundle.info.metrics.get("test", {})
        detail.append(f"{config.family} on {run.data}: " + ", ".join(f"{name} {value:.4g}" for name, value in test.items()))
    with step("quality gate") as detail:
        for metric, bound in config.min_metrics.items():
            if metric not in test:
                raise StepFailed(f"the model has no test metric {metric!r} (it has {', '.join(test)})")
            worse = test[metric] > bound if metric in LOSSES else test[metric] < bound
            if worse:
                raise StepFailed(f"{metric} {test[metric]:.4g} on the test split is {'above' if metric in LOSSES else 'below'} {bound:g}")
            detail.append(f"{metric} {test[metric]:.4g} {'<=' if metric in LOSSES else '>='} {bound:g}")
    artifacts = []
    for build in config.devices:
        profile = load_profile(build.device)
        out = directory / f"artifact-{profile.id}"
        with step(f"compile for {profile.id}") as detail:
            if build.target == "auto":
                fitted = fit_to_device(bundle.path, profile, out)
                detail.append(f"auto-fit chose {fitted.chosen.info.target} out of {len(fitted.attempts)} candidate(s)")
            else:
                compile_bundle(bundle, build.target, out, device=profile)
                detail.append(f"{build.target}")
            artifact = Artifact.load(out)
        with step(f"check on {profile.id}") as detail:
            report = check_descriptor({**artifact.info.model_dump(), "benchmarks": device_latencies(artifact)}, [profile])[0]
            if report.verdict == "fail":
                first = report.failures()[0]
                raise StepFailed(f"{first.reason}" + (f" ({first.fix})" if first.fix else ""))
            detail.append(report.verdict)
        if config.bench:
            with step(f"bench for {profile.id}") as detail:
                bench = bench_artifact(out, [profile], False, NativeSettings(runs=300, warmup=30, batch=1000))
                if bench.native is not None and "single_row_us" in bench.native:
                    single = bench.native["single_row_us"]
                    detail.append(f"here: p50 {single['p50']:.1f} µs, p99 {single['p99']:.1f} µs per row")
                else:
                    detail.append(f"not timed here: {bench.native_skipped}")
        artifacts.append((profile.id, artifact, read_benchmarks(artifact)))
    from edgekit_runtime.archive import pack

    for profile_id, artifact, benchmarks in artifacts:
        with step(f"publish for {profile_id}") as detail:
            upload = client.upload(pack(artifact.path))
            release = client.request("POST", "/v1/admin/releases", json={
                "model": config.model, "upload": upload["sha256"], "profiles": [profile_id], "bench": benchmarks})
            run.releases.append(release)
            detail.append(f"{config.model} release {release['version']} ({release['target']})")
    plan = config.rollout
    for release in run.releases:
        with step(f"rollout of release {release['version']}") as detail:
            status = client.request("POST", "/v1/admin/rollouts", json={
                "model": config.model, "release": release["version"], "stages": plan.stages, "profiles": release["profiles"],
                "tags": plan.tags, "gates": plan.gates.model_dump() if plan.gates else None})
            run.rollouts.append(status)
            gates = ", ".join(plan.gates.declared()) if plan.gates else "no gates"
            detail.append(f"rollout {status['id']} at {status['percent']:g} % of {', '.join(status['profiles'])} ({gates})")
    if plan.wait_seconds > 0:
        with step("gated rollout") as detail:
            detail.extend(_wait(client, [status["id"] for status in run.rollouts], plan.wait_seconds))


def _wait(client: Any, rollout_ids: list[int], seconds: float, poll: float = 1.0) -> list[str]:
    """Until every rollout is complete (fine) or one is rolled back or paused (StepFailed with why)."""
    deadline = time.monotonic() + seconds
    while True:
        statuses = [client.request("GET", f"/v1/admin/rollouts/{rollout_id}") for rollout_id in rollout_ids]
        for status in statuses:
            if status["state"] in ("rolled_back", "paused"):
                last = status["history"][-1]
                raise StepFailed(f"rollout {status['id']} was {status['state'].replace('_', ' ')} at {last['percent']:g} % "
                                 f"by {last['by']}: {last.get('reason') or last['action']}")
        if all(status["state"] == "complete" for status in statuses):
            return [f"rollout {status['id']} complete: " + " -> ".join(f"{entry['percent']:g} %" for entry in status["history"])
                    for status in statuses]
        if time.monotonic() > deadline:
            raise StepFailed(f"the rollouts did not finish within {seconds:g} s: " +
                             ", ".join(f"{status['id']} {status['state']} at {status['percent']:g} %" for status in statuses))
        time.sleep(poll)
