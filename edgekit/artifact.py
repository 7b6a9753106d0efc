"""The compiled artifact: model files plus ``artifact.json``, the output of ``edgekit compile``.

artifact.json says which bundle it came from, the target and precision, its inputs and outputs,
what a device needs to run it (runtime, opset, operators), its size, the parity certificate, the
compile options and toolchain; plus sha256 + size of each file and a content hash over it all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgekit_runtime.atomic import SHARED_FILE_MODE, write_atomically
from edgekit_runtime.errors import IntegrityError, UnsupportedFormat
from edgekit_runtime.manifest import read_descriptor
from pydantic import BaseModel, ConfigDict

from .errors import BadInput
from .storage import existing_output, load_verified

ARTIFACT_FORMAT = 1
DESCRIPTOR = "artifact.json"


class ArtifactInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int
    target: str
    backend: str
    precision: str
    created: str
    edgekit_version: str
    bundle: dict[str, Any]
    model_file: str
    runtime: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    requirements: dict[str, Any]
    resources: dict[str, Any]
    parity: dict[str, Any]
    smoke_tolerance: float
    options: dict[str, Any]
    toolchain: dict[str, str]
    compile_seconds: float
    files: dict[str, dict[str, Any]]
    content_hash: str


def check_artifact_output(out: Path, bundle_name: str) -> None:
    """--out must be new, empty, or an artifact of the same bundle (by name: any version of it, so
    a retrained model recompiles into its old place)."""
    descriptor = existing_output(out, DESCRIPTOR, "artifact")
    if descriptor is None:
        return
    try:
        existing = read_descriptor(descriptor)
    except (IntegrityError, UnsupportedFormat) as exc:
        raise BadInput(f"{out}: holds an unreadable artifact ({exc.message})", "remove it or choose another --out") from exc
    if existing.get("bundle", {}).get("name") != bundle_name:
        raise BadInput(
            f"{out}: holds an artifact of another bundle ({existing.get('bundle', {}).get('name')})",
            "choose another --out; an artifact directory is replaced only by a build of the same bundle",
        )


class Artifact:
    """A verified artifact on disk."""

    def __init__(self, path: Path, info: ArtifactInfo) -> None:
        self.path = path
        self.info = info

    @property
    def model_path(self) -> Path:
        return self.path / self.info.model_file

    def _build(self) -> str:
        runtime = self.info.runtime
        where = runtime.get("triple") or runtime.get("name")
        return f"{self.info.target} ({self.info.precision}, {where})"

    def __repr__(self) -> str:
        info, parity = self.info, self.info.parity
        verdict = "passed" if parity.get("passed") else "FAILED"
        return (f"<Artifact {info.bundle['name']} v{info.bundle['version']} for {self._build()}: "
                f"{info.resources['model_bytes']:,} B, parity {verdict} (max abs diff {parity.get('max_abs_diff', 0):.2g}), "
                f"at {self.path}>")

    def _repr_html_(self) -> str:
        from .notebook import html_facts

        info, parity = self.info, self.info.parity
        agreement = parity.get("label_agreement")
        return html_facts(f"artifact {info.bundle['name']} v{info.bundle['version']} for {info.target}", [
            ("build", self._build()), ("model bytes", f"{info.resources['model_bytes']:,}"),
            ("parity", f"{'passed' if parity.get('passed') else 'FAILED'} on {parity.get('rows')} rows, max abs diff "
                       f"{parity.get('max_abs_diff', 0):.2g}" + (f", label agreement {agreement:.4f}" if agreement is not None else "")),
            *([("per class", _weakest_class(parity["classes"]))] if parity.get("classes") else []),
            ("path", self.path), ("content hash", info.content_hash[:16] + "…"),
        ])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Artifact:
        path = Path(path)
        return cls(path, load_verified(path, DESCRIPTOR, ArtifactInfo, "artifact", "pass the --out directory of edgekit compile"))



def _weakest_class(classes: list[dict[str, Any]]) -> str:
    """The class the artifact keeps least of (its certificate's per-class figures)."""
    judged = [entry for entry in classes if entry.get("agreement") is not None]
    if not judged:
        return "no rows"
    weakest = min(judged, key=lambda entry: entry["agreement"])
    return (f"weakest: class {weakest['class']} keeps {weakest['agreement']:.2%} of {weakest['rows']} rows"
            + ("" if all(entry.get("passed", True) for entry in classes) else " (a class FAILED)"))


# --- benchmark results ------------------------------------------------------------------------
# Measurements describe an artifact; they are not part of it. They live beside artifact.json in
# bench.json, outside the manifest and the content hash (a benchmark does not change the model's
# identity), and name the content hash they were measured for: results of an older build that
# shared the directory are ignored, never attributed to a new one.

BENCH_FILE = "bench.json"
BENCH_FORMAT = 1


def read_benchmarks(artifact: Artifact) -> dict[str, Any]:
    """This artifact's recorded results: {"native": ..., "devices": {id: ...}}; empty if none."""
    path = artifact.path / BENCH_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: unreadable ({exc.__class__.__name__})", f"delete it and rerun edgekit bench {artifact.path}") from exc
    if not isinstance(document, dict) or document.get("format_version") != BENCH_FORMAT:
        raise BadInput(f"{path}: not a bench.json this edgekit reads", f"delete it and rerun edgekit bench {artifact.path}")
    if document.get("content_hash") != artifact.info.content_hash:
        return {}  # measured on another build
    return document


def record_benchmarks(artifact: Artifact, results: dict[str, Any]) -> dict[str, Any]:
    """Merge ``results`` into bench.json (a device's new figures replace its old ones), atomically.
    An unreadable bench.json is replaced: it holds nothing but earlier measurements."""
    try:
        document = read_benchmarks(artifact)
    except BadInput:
        document = {}
    document = document or {"format_version": BENCH_FORMAT, "content_hash": artifact.info.content_hash}
    for key, value in results.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    try:
        # measurements are for sharing, like the HTML report: readable by everyone
        write_atomically(artifact.path / BENCH_FILE, json.dumps(document, indent=2), mode=SHARED_FILE_MODE)
    except OSError as exc:
        raise BadInput(f"{artifact.path}: cannot write {BENCH_FILE} ({exc.strerror})", "bench a writable copy of the artifact") from exc
    return document


def device_latencies(artifact: Artifact) -> dict[str, Any]:
    """What the latency rule reads: device id -> {"p99_ms", "how"} from bench.json."""
    devices = read_benchmarks(artifact).get("devices", {})
    return {device: entry for device, entry in devices.items() if isinstance(entry, dict) and "p99_ms" in entry}
