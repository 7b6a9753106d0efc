"""The ``edgekit`` command line: one command per stage, ``--json`` on every reporting command.

Exit codes: 0 success, 1 a check said no, 2 bad input or usage, 3 a required tool is missing,
70 an internal error (a bug: rerun with --debug and report the traceback).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from . import reporting
from ._version import __version__
from .bundle import ModelBundle
from .data.sources import data_sources_help
from .errors import BadInput, EdgekitError
from .train.families import family_names

INTERNAL_ERROR = 70

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class _EdgekitGroup(TyperGroup):
    """Turns edgekit's errors into one line on stderr and their exit code; tracebacks only with --debug."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            self._fail(ctx, f"error: {exc.one_line()}", exc.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so in one line unless asked for the whole story
            if exc.__class__.__module__.startswith("typer"):
                raise
            self._fail(ctx, f"internal error: {exc.__class__.__name__}: {exc}; rerun with --debug and report it", INTERNAL_ERROR)

    @staticmethod
    def _fail(ctx: Any, line: str, code: int) -> None:
        if ctx.params.get("debug"):
            traceback.print_exc()
        print(" ".join(line.split()), file=sys.stderr)
        raise typer.Exit(code)


app = typer.Typer(
    cls=_EdgekitGroup,
    help="Train tabular models, compile them for edge devices, ship them and keep them healthy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bundle_app = typer.Typer(help="Inspect and verify model bundles.", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")
artifact_app = typer.Typer(help="Inspect and verify compiled artifacts.", no_args_is_help=True)
app.add_typer(artifact_app, name="artifact")
devices_app = typer.Typer(help="List and show the device profiles in device_configs/.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")


def _add_delivery_commands() -> None:
    """server, publish, rollout and fleet live in edgekit.fleet.commands (imported lazily inside each)."""
    from .fleet.commands import fleet_app, publish, rollout_app, server_app

    app.add_typer(server_app, name="server")
    app.add_typer(rollout_app, name="rollout")
    app.add_typer(fleet_app, name="fleet")
    app.command("publish")(publish)
    from .fleet.monitor_commands import drift_app
    from .pipeline.commands import pipeline_app

    app.add_typer(drift_app, name="drift")
    app.add_typer(pipeline_app, name="pipeline")


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _version(value: bool) -> None:
    if value:
        print(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Train tabular models, compile them for edge devices, ship them and keep them healthy."""


def _emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _report(as_json: bool, document: Any, show: Callable[[], None]) -> None:
    """Every reporting command's ending: the document as JSON, or ``show`` for people."""
    if as_json:
        _emit_json(document)
    else:
        show()


@app.command()
def train(
    data: Annotated[str, typer.Argument(help=f"Training data: {data_sources_help()}.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the bundle to (new, empty or an older bundle).")],
    label: Annotated[str | None, typer.Option("--label", help="Label column (default: the source's, or 'label'/'target').")] = None,
    model: Annotated[str, typer.Option("--model", help=f"Model family: {', '.join(family_names())}.")] = "xgboost",
    task: Annotated[str | None, typer.Option("--task", help="classification or regression (default: inferred from the label).")] = None,
    tune: Annotated[int, typer.Option("--tune", help="Hyperparameter search trials on the validation split (0 = defaults).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split, the model and the search.")] = 0,
    name: Annotated[str | None, typer.Option("--name", help="Bundle name (default: from the data source).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Hyperparameter KEY=VALUE instead of the family default (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a model on DATA and save it as a self-describing bundle."""
    from .training import train_bundle

    with reporting.training_progress(stderr, model, tune) as on_trial:
        bundle = train_bundle(
            data, out, label=label, family=model, task=task, tune=tune, seed=seed, name=name,
            params=_parse_pairs(param or [], "--param", "e.g. --param max_depth=8"), on_trial=on_trial,
        )
    _report(as_json, reporting.bundle_summary(bundle), lambda: reporting.print_training(stdout, bundle))


@app.command()
def runs(
    name: Annotated[str | None, typer.Option("--name", help="Only runs of this bundle name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the bundles trained on this machine, with their metrics."""
    from .training import run_registry

    rows = run_registry().runs(name)
    _report(as_json, rows, lambda: reporting.print_runs(stdout, rows))


@bundle_app.command("show")
def bundle_show(
    path: Annotated[Path, typer.Argument(help="Bundle directory.")],
    as_json: JsonFlag = False,
) -> None:
    """Print what a bundle holds (after verifying its hashes)."""
    bundle = ModelBundle.load(path)
    _report(as_json, bundle.info.model_dump(), lambda: reporting.print_bundle(stdout, bundle))


@bundle_app.command("verify")
def bundle_verify(
    path: Annotated[Path, typer.Argument(help="Bundle directory.")],
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle's format and hashes, load its model and reproduce its reference outputs."""
    bundle = ModelBundle.load(path)
    difference = bundle.check_reference()
    result = {
        "ok": True,
        "bundle": str(path),
        "files": len(bundle.info.files),
        "content_hash": bundle.info.content_hash,
        "reference_rows": int(bundle.reference()["X"].shape[0]),
        "reference_max_abs_diff": difference,
    }
    _report(as_json, result, lambda: stdout.print(
        f"ok: {path} — {result['files']} files match their hashes; the model reproduces "
        f"{result['reference_rows']} reference rows (max abs diff {difference:.3g})"
    ))


def _parse_pairs(pairs: list[str], flag: str, example: str) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{flag} {pair!r} is not KEY=VALUE", example)
        parsed[key.strip()] = value.strip()
    return parsed


@app.command("compile")
def compile_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory (output of edgekit train).")],
    target: Annotated[str, typer.Option("--target", help="onnx, onnx-fp16, onnx-int8, c, tflite, tflite-int8, or auto (with --device).")],
    out: Annotated[Path, typer.Option("--out", help="Artifact directory (new, empty, or an artifact of this bundle).")],
    device: Annotated[str | None, typer.Option("--device", help="Device profile id: its runtime decides the opset or C triple.")] = None,
    triple: Annotated[str | None, typer.Option("--triple", help="C target: the toolchain triple (default: this machine).")] = None,
    layout: Annotated[str | None, typer.Option("--layout", help="C target, trees: table (default) or ifelse (TL2cgen).")] = None,
    quantize: Annotated[str | None, typer.Option("--quantize", help="C target: none, thresholds, int16 or int8.")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Backend option KEY=VALUE (repeatable).")] = None,
    prefer: Annotated[str, typer.Option("--prefer", help="--target auto: keep the smallest (size) or fastest (speed) build that fits.")] = "size",
    as_json: JsonFlag = False,
) -> None:
    """Compile a bundle for a target and prove parity with the original model."""
    from .compile import compile_bundle
    from .devices import load_profile

    if target == "auto":
        if device is None or triple or layout or quantize or option:
            raise BadInput("--target auto needs --device and chooses the build itself", "drop --triple/--layout/--quantize/--option, add --device ID")
        _fit(bundle, load_profile(device), out, prefer, as_json)
        return
    if prefer != "size":
        raise BadInput("--prefer is for --target auto", "drop --prefer, or use --target auto --device ID")
    options = _parse_pairs(option or [], "--option", "e.g. --option int8=dynamic")
    for key, value in (("triple", triple), ("layout", layout), ("quantize", quantize)):
        if value is not None:
            if key in options and options[key] != value:
                raise BadInput(f"--{key} {value} contradicts --option {key}={options[key]}", f"give {key} once")
            options[key] = value
    profile = load_profile(device) if device else None
    with reporting.spinner(stderr, f"compiling {bundle} for {target}"):
        artifact = compile_bundle(bundle, target, out, options=options, device=profile)
    _report(as_json, reporting.artifact_summary(artifact), lambda: reporting.print_artifact(stdout, artifact))


def _fit(bundle: Path, profile: Any, out: Path, prefer: str, as_json: bool) -> None:
    from .devices.autofit import fit_to_device
    from .devices.console import print_fit

    with reporting.spinner(stderr, f"fitting {bundle} to {profile.id}: compiling and checking every build it can run"):
        result = fit_to_device(bundle, profile, out, prefer)
    _report(as_json, {**result.as_dict(), "artifact": reporting.artifact_summary(result.chosen)},
            lambda: print_fit(stdout, result))


@artifact_app.command("show")
def artifact_show(
    path: Annotated[Path, typer.Argument(help="Artifact directory.")],
    as_json: JsonFlag = False,
) -> None:
    """Print what an artifact holds (after verifying its hashes)."""
    from .artifact import Artifact

    artifact = Artifact.load(path)
    _report(as_json, artifact.info.model_dump(), lambda: reporting.print_artifact(stdout, artifact))


@artifact_app.command("verify")
def artifact_verify(
    path: Annotated[Path, typer.Argument(help="Artifact directory.")],
    as_json: JsonFlag = False,
) -> None:
    """Check an artifact's hashes, run it on its bundle's reference rows, compare with its certificate."""
    from .artifact import Artifact
    from .compile.verify import verify_artifact

    result = verify_artifact(Artifact.load(path))
    _report(as_json, result, lambda: stdout.print(
        f"ok: {path} — {result['files']} files match their hashes; {result['rows']} reference rows "
        f"reproduce their certified outputs (max abs diff {result['max_abs_diff']:.3g}, allowed {result['allowed']:.3g})"
    ))


@devices_app.command("list")
def devices_list(as_json: JsonFlag = False) -> None:
    """A table of every device profile and its key figures."""
    from .devices import all_profiles
    from .devices.console import print_profiles

    profiles = all_profiles()
    _report(as_json, [profile.model_dump() for profile in profiles], lambda: print_profiles(stdout, profiles))


@devices_app.command("show")
def devices_show(
    device_id: Annotated[str, typer.Argument(metavar="ID", help="Device id (edgekit devices list).")],
    as_json: JsonFlag = False,
) -> None:
    """Everything one profile says, with its sources."""
    from .devices import load_profile
    from .devices.console import print_profile

    profile = load_profile(device_id)
    _report(as_json, profile.model_dump(), lambda: print_profile(stdout, profile))


@app.command("check")
def check_command(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory.")],
    device: Annotated[list[str] | None, typer.Option("--device", help="Device id (repeatable).")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="Check every profile and print a matrix.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Will ARTIFACT run on these devices? One verdict per device; exit 1 if any fails."""
    from .artifact import Artifact, device_latencies
    from .devices import all_profiles, load_profile
    from .devices.check import check_descriptor
    from .devices.console import print_matrix, print_reports

    if bool(device) == all_devices:
        raise BadInput("name devices with --device ID (repeatable) or check them all with --all", "see edgekit devices list")
    profiles = all_profiles() if all_devices else [load_profile(device_id) for device_id in dict.fromkeys(device or [])]
    loaded = Artifact.load(artifact)
    # p99 figures recorded by edgekit bench take the place of the cost model's estimates
    reports = check_descriptor({**loaded.info.model_dump(), "benchmarks": device_latencies(loaded)}, profiles)
    show = print_matrix if all_devices else print_reports
    _report(as_json, {"artifact": str(artifact), "devices": [report.as_dict() for report in reports]},
            lambda: show(stdout, str(artifact), reports))
    if any(report.verdict == "fail" for report in reports):
        raise typer.Exit(1)


@app.command("bench")
def bench_command(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory.")],
    device: Annotated[list[str] | None, typer.Option("--device", help="Device id (repeatable).")] = None,
    emulate: Annotated[bool, typer.Option("--emulate", help="Count instructions per inference on each device's "
                                          "emulated ISA (C artifacts) and estimate its latency.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    runs: Annotated[int, typer.Option("--runs", min=10, help="Timed single-row calls per native run.")] = 2000,
    as_json: JsonFlag = False,
) -> None:
    """How fast is ARTIFACT here and on each device? Results are kept in ARTIFACT/bench.json for check."""
    from .bench.console import print_bench
    from .bench.native import NativeSettings
    from .bench.run import bench_artifact
    from .devices import load_profile

    if emulate and not device:
        raise BadInput("--emulate needs at least one --device ID", "see edgekit devices list")
    profiles = [load_profile(device_id) for device_id in dict.fromkeys(device or [])]
    if report is not None and not report.parent.is_dir():
        raise BadInput(f"{report.parent}: directory does not exist", "create it or choose another --report path")
    steps = 1 + sum(not profile.microcontroller for profile in profiles) + (len(profiles) if emulate else 0)
    with reporting.steps_progress(stderr, "benchmarking", steps) as advance:
        result = bench_artifact(artifact, profiles, emulate, NativeSettings(runs=runs, warmup=max(10, runs // 10)), advance)
    if report is not None:
        from .bench.report import write_report

        write_report(report, [result])
    _report(as_json, result.as_dict(), lambda: print_bench(stdout, result))
    differing = [entry.device for entry in result.devices if entry.emulated and not entry.emulated["matches_reference"]]
    if differing:
        stderr.print(f"error: the emulated {', '.join(differing)} build does not reproduce the certified outputs; "
                     "do not ship it there; report the artifact")
        raise typer.Exit(1)


@app.command()
def quickstart(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where to write the quickstart's bundles.")] = Path("edgekit-quickstart"),
    as_json: JsonFlag = False,
) -> None:
    """Run the end-to-end story on bundled data: train, bundle, verify."""
    from .quickstart import run_quickstart

    result = run_quickstart(workdir, stdout if not as_json else None, stderr)
    if as_json:
        _emit_json(result)


_add_delivery_commands()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
