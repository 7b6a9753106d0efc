"""``edgekit bench``: how fast an artifact is here and, counted under emulation, on each device."""

from pathlib import Path
from typing import Annotated

import typer

from ..errors import BadInput
from .common import JsonFlag, report, stderr, stdout
from .progress import progress


def bench_command(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory.")],
    device: Annotated[list[str] | None, typer.Option("--device", help="Device id (repeatable).")] = None,
    emulate: Annotated[bool, typer.Option("--emulate", help="Count instructions per inference on each device's "
                                          "emulated ISA (C artifacts) and estimate its latency.")] = False,
    report_path: Annotated[Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")] = None,
    runs: Annotated[int, typer.Option("--runs", min=10, help="Timed single-row calls per native run.")] = 2000,
    as_json: JsonFlag = False,
) -> None:
    """How fast is ARTIFACT here and on each device? Results are kept in ARTIFACT/bench.json for check."""
    from ..bench.console import print_bench
    from ..bench.native import NativeSettings
    from ..bench.run import bench_artifact
    from ..devices import load_profile

    if emulate and not device:
        raise BadInput("--emulate needs at least one --device ID", "see edgekit devices list")
    profiles = [load_profile(device_id) for device_id in dict.fromkeys(device or [])]
    if report_path is not None and not report_path.parent.is_dir():
        raise BadInput(f"{report_path.parent}: directory does not exist", "create it or choose another --report path")
    steps = 1 + sum(not profile.microcontroller for profile in profiles) + (len(profiles) if emulate else 0)
    running: list[str] = []  # bench_artifact names each step as it starts; its line is printed once it ends

    with progress(f"benchmarking {artifact}", steps) as step:
        def started(description: str) -> None:
            if running:
                step(running.pop())
            running.append(description)

        result = bench_artifact(artifact, profiles, emulate, NativeSettings(runs=runs, warmup=max(10, runs // 10)), started)
        if running:
            step(running.pop())
    if report_path is not None:
        from ..bench.report import write_report

        write_report(report_path, [result])
    report(as_json, result.as_dict(), lambda: print_bench(stdout, result))
    differing = [entry.device for entry in result.devices if entry.emulated and not entry.emulated["matches_reference"]]
    if differing:
        stderr.print(f"error: the emulated {', '.join(differing)} build does not reproduce the certified outputs; "
                     "do not ship it there; report the artifact")
        raise typer.Exit(1)
