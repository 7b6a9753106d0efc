"""Compiling a bundle into an artifact for a target: convert, check parity, write artifact.json."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from edgekit_runtime.inputs.schema import SCHEMA_FILE
from edgekit_runtime.inputs.telemetry import BASELINE_FILE
from edgekit_runtime.integrity import describe_files
from edgekit_runtime.smoke import REFERENCE_FILE

from .._version import __version__
from ..artifact import ARTIFACT_FORMAT, DESCRIPTOR, Artifact, ArtifactInfo, check_artifact_output
from ..bundle import ModelBundle
from ..errors import CheckFailed
from ..storage import move_into_place, staging_directory, write_descriptor
from .backends import register_builtin_backends
from .parity import certificate, check_extremes, edge_rows, extreme_rows, parity_scale
from .registry import CompileRequest, backend_for, target_names
from .trees.tables import bundle_trees
from .trees.thresholds import split_thresholds
from .work import work_per_row

if TYPE_CHECKING:  # a profile is data handed in; compile does not load profiles itself
    from ..devices.profiles import DeviceProfile

register_builtin_backends()

SMOKE_ROWS = 32
# The same artifact on another machine or runtime build may sum in another order; nothing more.
SMOKE_TOLERANCE = 1e-4

__all__ = ["compile_bundle", "target_names"]


def compile_bundle(
    bundle_path: str | Path | ModelBundle,
    target: str,
    out: str | Path,
    *,
    options: dict[str, str] | None = None,
    device_opset: int | None = None,
    device: DeviceProfile | None = None,
) -> Artifact:
    """Compile, prove parity with the original model, and move the artifact into ``out``.

    ``device`` (a profile) lets the backend build for it: its ONNX opset, its C triple. A loaded
    ModelBundle may stand for the path (several builds of one bundle then load and verify it once).
    Raises CheckFailed (and leaves ``out`` untouched) when parity breaks the precision's tolerance.
    """
    options = dict(options or {})
    backend = backend_for(target)
    bundle = bundle_path if isinstance(bundle_path, ModelBundle) else ModelBundle.load(bundle_path)
    info = bundle.info
    precision = backend.check(target, info.family, info.family_kind, options)
    out = Path(out)
    check_artifact_output(out, info.name)
    started = time.perf_counter()
    with staging_directory(out) as staging:
        compiled = backend.compile(CompileRequest(bundle, target, precision, options, device_opset, device, staging))
        reference = bundle.reference()
        tables = bundle_trees(bundle).tables if info.family_kind == "trees" else None
        edges = edge_rows(reference["X"], split_thresholds(tables.feature, tables.threshold) if tables is not None else {})
        precision = compiled.precision or precision
        parity = certificate(info.task, precision, bundle.outputs, compiled.predictor, reference, edges)
        numeric = [index for index, feature in enumerate(bundle.schema.features) if feature.kind != "categorical"]
        parity = check_extremes(parity, info.task, bundle.outputs, compiled.predictor, extreme_rows(reference["X"], numeric))
        if not parity["passed"]:
            raise CheckFailed(
                f"{target} artifact of {info.name} v{info.version} breaks parity: {'; '.join(parity['failures'])}",
                "try a higher precision (onnx, then onnx-fp16) or report the bundle",
            )
        smoke_rows = reference["X"][:SMOKE_ROWS]
        np.savez_compressed(
            staging / REFERENCE_FILE,
            X=smoke_rows,
            original_outputs=reference["outputs"][:SMOKE_ROWS],
            artifact_outputs=compiled.predictor(smoke_rows),
        )
        # The device validates every input against the schema the model was trained on, and counts
        # what it sees on the training baseline's bins (telemetry for drift detection).
        for name in (SCHEMA_FILE, BASELINE_FILE):
            shutil.copyfile(bundle.path / name, staging / name)
        shipped = [*compiled.files, REFERENCE_FILE, SCHEMA_FILE, BASELINE_FILE]
        files = describe_files(staging, shipped)
        descriptor = {
            "format_version": ARTIFACT_FORMAT,
            "target": target,
            "backend": backend.name,
            "precision": precision,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "edgekit_version": __version__,
            "bundle": {
                "name": info.name,
                "version": info.version,
                "content_hash": info.content_hash,
                "family": info.family,
                "task": info.task,
                "label": info.label,
                "classes": info.classes,
                "feature_names": info.feature_names,
            },
            "model_file": compiled.model_file,
            "runtime": compiled.runtime,
            "inputs": compiled.inputs,
            "outputs": compiled.outputs,
            "requirements": compiled.requirements,
            "resources": {
                "model_bytes": files[compiled.model_file]["size"],
                "files_bytes": sum(entry["size"] for entry in files.values()),
                "measured": "file sizes on disk",
                "work_per_row": work_per_row(bundle),
                **compiled.resources,
            },
            "parity": parity,
            # A device's smoke test compares its own run with the certified outputs in reference.npz.
            "smoke_tolerance": SMOKE_TOLERANCE * parity_scale(info.task, reference),
            "options": compiled.options,
            "toolchain": compiled.toolchain,
            "compile_seconds": round(time.perf_counter() - started, 3),
            "files": files,
        }
        ArtifactInfo.model_validate({**descriptor, "content_hash": ""})
        for leftover in staging.iterdir():  # scratch files a backend did not ship
            if leftover.name not in {name.split("/")[0] for name in shipped}:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        write_descriptor(staging, DESCRIPTOR, descriptor)
        move_into_place(staging, out)
    return Artifact.load(out)
