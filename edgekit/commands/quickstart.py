"""``edgekit quickstart``: the end-to-end demo (edgekit.demo) on bundled data."""

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonFlag, emit_json, stderr, stdout


def quickstart(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where to write the quickstart's bundles.")] = Path("edgekit-quickstart"),
    as_json: JsonFlag = False,
) -> None:
    """Run the end-to-end story on bundled data: train, bundle, verify."""
    from ..demo.quickstart import run_quickstart

    result = run_quickstart(workdir, stdout if not as_json else None, stderr)
    if as_json:
        emit_json(result)
