"""``edgekit artifact verify``: the device's smoke test, run here, plus the artifact's hashes."""

from __future__ import annotations

from typing import Any

from edgekit_runtime.errors import InvalidInput, MissingRuntime
from edgekit_runtime.smoke import SmokeTestFailed, smoke_test

from ..artifact import Artifact
from ..errors import BadInput, CheckFailed, MissingTool


def verify_artifact(artifact: Artifact) -> dict[str, Any]:
    try:
        result = smoke_test(artifact.path)
    except SmokeTestFailed as exc:
        raise CheckFailed(exc.message, exc.hint) from exc
    except InvalidInput as exc:
        raise BadInput(exc.message, exc.hint) from exc
    except MissingRuntime as exc:
        runtime = artifact.info.runtime["name"]
        raise MissingTool(runtime, runtime, f"pip install {runtime}") from exc
    return {**result, "artifact": str(artifact.path), "files": len(artifact.info.files)}
