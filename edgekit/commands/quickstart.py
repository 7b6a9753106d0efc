"""``edgekit quickstart``: the end-to-end demo (edgekit.demo) on bundled data."""

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonFlag, emit_json, stderr, stdout


# --help shows this docstring: one paragraph, because Typer keeps the line breaks of any later one
def quickstart(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where to write the bundles, artifacts, benchmark report, "
                                          "server home and pipeline runs.")] = Path("edgekit-quickstart"),
    as_json: JsonFlag = False,
) -> None:
    """The whole story on bundled data, on this machine, in a few minutes: trains an XGBoost model (breast cancer) and an MLP (digits); compiles them to ONNX, C (for this
    machine, and for ARM boards when their cross toolchains are installed) and TFLite, each with a parity
    certificate; benchmarks them here and, under qemu, on a Raspberry Pi 4 and an STM32F407; checks every
    artifact against every device profile and auto-fits one to the STM32; imports a model trained
    elsewhere. Then it starts a local update server, publishes the artifacts, rolls one out to 50
    simulated Raspberry Pis stage by stage, watches their canaries refuse a broken release, and ends
    with the fleet's data drifting: edgekit notices, retrains and redeploys on its own."""
    from ..demo.quickstart import run_quickstart

    result = run_quickstart(workdir, stdout if not as_json else None, stderr)
    if as_json:
        emit_json(result)
