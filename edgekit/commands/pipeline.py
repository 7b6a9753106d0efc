"""``edgekit pipeline run|watch PIPELINE.yaml``."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import CheckFailed
from .common import JsonFlag, KeyOption, emit_json, examples, stderr, stdout
from .progress import progress

if TYPE_CHECKING:
    from ..pipeline.config import PipelineConfig
    from ..pipeline.run import PipelineRun, Step

pipeline_app = typer.Typer(help="Continuous training: train, compile, check, bench, publish and roll out, "
                                "and retrain when the fleet's data drifts.", no_args_is_help=True)

ConfigArgument = Annotated[Path, typer.Argument(help="The pipeline's YAML file (see edgekit/pipeline/config.py).")]


def step_line(step: "Step") -> str:
    from ..display.figures import duration

    return f"{'ok  ' if step.ok else 'FAIL'} {step.name} ({duration(step.seconds)}): {step.detail}"


def _prepared(path: Path, admin_key: str | None) -> "tuple[PipelineConfig, object]":
    from ..devices import load_profile
    from ..fleet.client import AdminClient
    from ..pipeline.config import load_config

    config = load_config(path)
    for build in config.devices:
        load_profile(build.device)  # an unknown profile is bad input (exit 2), not a failed run
    return config, AdminClient(config.server, admin_key)


def _finish(run: "PipelineRun", as_json: bool) -> None:
    if as_json:
        emit_json(run.as_dict())
    failed = run.failed
    if failed is not None:
        raise CheckFailed(f"the pipeline stopped at '{failed.name}': {failed.detail}", f"its report: {run.directory}/run.json")
    if not as_json:
        stdout.print(f"pipeline done: {len(run.releases)} release(s) published, report {run.directory}/run.json")


@pipeline_app.command("run", epilog=examples("edgekit pipeline run pipeline.yaml", "edgekit pipeline run pipeline.yaml --data fresh.csv --json"))
def pipeline_run(
    config_path: ConfigArgument,
    data: Annotated[str | None, typer.Option("--data", help="Train on this DATA instead of the pipeline's.")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Train, gate on quality, compile for every device (auto-fit), check, bench, publish and start the
    gated rollout; stops at the first step that fails (exit 1) with its reason."""
    from ..pipeline.run import run_pipeline

    config, client = _prepared(config_path, admin_key)
    # with --json stdout is the run's document alone: the steps go to stderr
    with progress(f"pipeline {config.model}", keep=True, console=stderr if as_json else stdout) as step:
        run = run_pipeline(config, client, data, lambda done: step(step_line(done)))
    _finish(run, as_json)


@pipeline_app.command("watch", epilog=examples("edgekit pipeline watch pipeline.yaml", "edgekit pipeline watch pipeline.yaml --once"))
def pipeline_watch(
    config_path: ConfigArgument,
    once: Annotated[bool, typer.Option("--once", help="Exit after one run.")] = False,
    max_seconds: Annotated[float | None, typer.Option("--max-seconds", min=0, help="Stop watching after this long.")] = None,
    admin_key: KeyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Wait for drift alerts on the model and run the pipeline on fresh data (watch.fresh_data or
    watch.fresh_command), at most once per watch.min_interval_seconds."""
    from ..pipeline.watch import Watcher

    config, client = _prepared(config_path, admin_key)
    out = stderr if as_json else stdout
    watcher = Watcher(config, client, out.print, lambda step: out.print(step_line(step)))
    runs = watcher.watch(once, max_seconds)
    if not runs:
        out.print("no drift alert needed a run")
        return
    _finish(runs[-1], as_json)
