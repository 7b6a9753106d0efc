"""``edgekit artifact verify``: the device's smoke test, run here, plus the artifact's hashes.

A C artifact for another ISA is smoke-tested the way it was certified: its shipped static library
is linked into the harness and run under the triple's emulator.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from edgekit_runtime.c_predictor import host_triple
from edgekit_runtime.errors import InvalidInput, MissingRuntime
from edgekit_runtime.manifest import verify_directory
from edgekit_runtime.smoke import REFERENCE_FILE, SmokeTestFailed, smoke_test

from ..artifact import Artifact
from ..errors import BadInput, CheckFailed, MissingTool
from .c_harness import run_harness
from .toolchains import build_harness, require_compiler, require_runner, toolchain_for


def verify_artifact(artifact: Artifact) -> dict[str, Any]:
    runtime = artifact.info.runtime
    try:
        if runtime["name"] == "c" and runtime["triple"] != host_triple():
            result = _emulated_smoke_test(artifact)
        else:
            result = smoke_test(artifact.path)
    except SmokeTestFailed as exc:
        raise CheckFailed(exc.message, exc.hint) from exc
    except InvalidInput as exc:
        raise BadInput(exc.message, exc.hint) from exc
    except MissingRuntime as exc:
        raise MissingTool(runtime["name"], runtime["name"], f"pip install {runtime['name']}") from exc
    return {**result, "artifact": str(artifact.path), "files": len(artifact.info.files)}


def _emulated_smoke_test(artifact: Artifact) -> dict[str, Any]:
    verify_directory(artifact.path)
    info = artifact.info
    toolchain = toolchain_for(info.runtime["triple"])
    require_compiler(toolchain)
    require_runner(toolchain)
    library = artifact.path / info.runtime["libraries"]["static"]
    with np.load(artifact.path / REFERENCE_FILE, allow_pickle=False) as archive:
        rows, certified = archive["X"], archive["artifact_outputs"]
    with tempfile.TemporaryDirectory(prefix="edgekit-verify-") as work:
        program = build_harness(toolchain, [library], Path(work))
        got = run_harness(toolchain, program, rows, int(info.outputs[0]["shape"][1])).reshape(certified.shape)
    drift = float(np.max(np.abs(got - certified), initial=0.0))
    allowed = float(info.smoke_tolerance)
    if drift > allowed:
        raise SmokeTestFailed(
            f"{artifact.path}: outputs moved by {drift:.3g} from the certified ones under {toolchain.runner[0]} (allowed {allowed:.3g})",
            "the toolchain or emulator here differs from the one that certified the artifact",
        )
    return {"ok": True, "rows": len(rows), "max_abs_diff": drift, "allowed": allowed, "emulated": toolchain.runner[0]}
