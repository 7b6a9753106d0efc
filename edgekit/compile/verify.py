"""``edgekit artifact verify``: the device's smoke test, run here, plus the artifact's hashes.

A C artifact for another ISA is smoke-tested the way it was certified: its shipped static library
is linked into the harness and run under the triple's emulator.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from edgekit_runtime.errors import InvalidInput, MissingRuntime
from edgekit_runtime.predictors.c import host_triple
from edgekit_runtime.smoke import SmokeTestFailed, smoke_test

from ..artifact import Artifact
from ..errors import BadInput, CheckFailed, MissingTool
from .c.harness import run_harness
from .c.toolchains import build_harness, require_compiler, require_runner, toolchain_for


def verify_artifact(artifact: Artifact) -> dict[str, Any]:
    runtime = artifact.info.runtime
    emulated = runtime["name"] == "c" and runtime["triple"] != host_triple()
    try:
        if emulated:
            with _emulated_predict(artifact) as (predict, emulator):
                result = {**smoke_test(artifact.path, predict=predict), "emulated": emulator}
        else:
            result = smoke_test(artifact.path)
    except SmokeTestFailed as exc:
        raise CheckFailed(exc.message, exc.hint) from exc
    except InvalidInput as exc:
        raise BadInput(exc.message, exc.hint) from exc
    except MissingRuntime as exc:
        raise MissingTool(runtime["name"], runtime["name"], f"pip install {runtime['name']}") from exc
    return {**result, "artifact": str(artifact.path), "files": len(artifact.info.files)}


@contextmanager
def _emulated_predict(artifact: Artifact) -> Iterator[tuple[Callable[[np.ndarray], np.ndarray], str]]:
    """The harness linked with the artifact's shipped static library, run under the triple's emulator."""
    info = artifact.info
    toolchain = toolchain_for(info.runtime["triple"])
    require_compiler(toolchain)
    require_runner(toolchain)
    with tempfile.TemporaryDirectory(prefix="edgekit-verify-") as work:
        program = build_harness(toolchain, [artifact.path / info.runtime["libraries"]["static"]], Path(work))
        outputs = int(info.outputs[0]["shape"][1])
        yield (lambda rows: run_harness(toolchain, program, rows, outputs)), toolchain.runner[0]
