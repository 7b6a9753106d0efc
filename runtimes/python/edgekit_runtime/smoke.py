"""The smoke test a device runs before trusting an artifact: does it, here, reproduce the outputs
it produced when it was certified? (``reference.npz`` holds the rows and both sets of outputs.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RuntimeFailure
from .loader import load
from .manifest import read_descriptor, verify_directory

REFERENCE_FILE = "reference.npz"


class SmokeTestFailed(RuntimeFailure):
    exit_code = 1


def smoke_test(
    directory: str | Path, threads: int = 1, predict: Callable[[np.ndarray], np.ndarray] | None = None
) -> dict[str, Any]:
    """Run the artifact with its loader, or with ``predict`` (what runs it elsewhere, e.g. an
    emulator on the build machine), on its reference rows and compare with the certified outputs."""
    if predict is None:
        predict = load(directory, threads).predict
    else:
        verify_directory(directory)
    descriptor = read_descriptor(Path(directory) / "artifact.json")
    with np.load(Path(directory) / REFERENCE_FILE, allow_pickle=False) as archive:
        rows, certified, original = archive["X"], archive["artifact_outputs"], archive["original_outputs"]
    got = predict(rows).reshape(certified.shape)
    drift = float(np.max(np.abs(got - certified), initial=0.0))
    allowed = float(descriptor["smoke_tolerance"])
    result = {
        "ok": drift <= allowed,
        "rows": len(rows),
        "max_abs_diff": drift,
        "allowed": allowed,
        "max_abs_diff_vs_original": float(np.max(np.abs(got - original.reshape(got.shape)), initial=0.0)),
    }
    if not result["ok"]:
        raise SmokeTestFailed(
            f"{directory}: outputs moved by {drift:.3g} from the certified ones (allowed {allowed:.3g})",
            "the runtime here differs from the one that certified the artifact; do not install it",
        )
    return result
