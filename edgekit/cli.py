"""The ``edgekit`` command line: the root app, its error handling, and the one list of its commands.

The commands live in ``edgekit.commands``, one module per stage. Exit codes: 0 success, 1 a check
said no, 2 bad input or usage, 3 a required tool is missing, 70 an internal error (a bug: rerun
with --debug and report the traceback).
"""

import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ._version import __version__
from .commands import (
    bench,
    compiling,
    devices,
    drift,
    fleet,
    inspection,
    pipeline,
    quickstart,
    releases,
    server,
    training,
)
from .commands.common import examples
from .errors import EdgekitError

INTERNAL_ERROR = 70


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
    add_completion=True,  # edgekit --install-completion / --show-completion SHELL
)


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


# The commands, in the order --help lists them: a stage's commands, then the groups.
app.command("train", epilog=examples(
    "edgekit train bundled:breast-cancer --out b1",
    "edgekit train data.csv --label failed --model lightgbm --tune 20 --out b2"))(training.train)
app.command("import", epilog=examples(
    "edgekit import model.json --data sample.csv --label target --out imported"))(training.import_command)
app.command("runs", epilog=examples("edgekit runs", "edgekit runs --name breast-cancer --json"))(training.runs)
app.command("compile", epilog=examples(
    "edgekit compile b1 --target onnx --device raspberry-pi-4b --out b1-onnx",
    "edgekit compile b1 --target auto --device stm32f407 --out b1-stm32"))(compiling.compile_command)
app.command("check", epilog=examples(
    "edgekit check b1-onnx --device raspberry-pi-4b", "edgekit check b1-onnx --all"))(devices.check_command)
app.command("bench", epilog=examples(
    "edgekit bench b1-onnx", "edgekit bench b1-c --device stm32f407 --emulate --report bench.html"))(bench.bench_command)
app.command("quickstart", epilog=examples(
    "edgekit quickstart", "edgekit quickstart --workdir /tmp/demo --json > quickstart.json"))(quickstart.quickstart)
app.command("publish", epilog=examples(
    "edgekit publish b1-onnx --server http://127.0.0.1:8080 --model breast-cancer"))(releases.publish)
app.add_typer(inspection.bundle_app, name="bundle")
app.add_typer(inspection.artifact_app, name="artifact")
app.add_typer(devices.devices_app, name="devices")
app.add_typer(server.server_app, name="server")
app.add_typer(releases.rollout_app, name="rollout")
app.add_typer(fleet.fleet_app, name="fleet")
app.add_typer(drift.drift_app, name="drift")
app.add_typer(pipeline.pipeline_app, name="pipeline")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
