"""Publishing: an uploaded artifact archive is verified (every file against its artifact.json, the
descriptor against its content hash), stored content-addressed, and only then registered as a
release. Upload and registration are two requests: an upload cut off half-way leaves nothing, an
upload never registered leaves an unreferenced file and no metadata pointing at it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from edgekit_runtime.archive import ArchiveTooLarge, unpack
from edgekit_runtime.atomic import write_atomically
from edgekit_runtime.errors import RuntimeFailure
from edgekit_runtime.inputs.telemetry import BASELINE_FILE
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...artifact import Artifact
from ...errors import BadInput
from ..db import Release, ReleaseBaseline

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    """Artifact archives by sha256, plus the verified summary of each (``<sha256>.json``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise BadInput(f"{sha256[:80]!r} is not a sha256", "name an upload by the sha256 the upload returned")
        return self.directory / sha256

    def summary(self, sha256: str) -> dict[str, Any] | None:
        path = self.path(sha256).with_suffix(".json")
        return json.loads(path.read_text()) if path.is_file() and self.path(sha256).is_file() else None

    def put(self, data: bytes, max_bytes: int, max_members: int) -> dict[str, Any]:
        """Verify and store an archive; returns its summary (idempotent for the same bytes). The archive
        is judged in memory before a file is written (``unpack``), within the server's bounds."""
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self.summary(sha256)
        if existing is not None:
            return existing
        with tempfile.TemporaryDirectory(prefix="edgekit-upload-") as work:
            try:  # unpacked only to be read here and deleted: no fsync
                unpack(data, Path(work) / "artifact", max_bytes=max_bytes, max_members=max_members, sync=False)
            except ArchiveTooLarge as exc:
                setting = "max_upload_members" if exc.bound == "members" else "max_unpacked_bytes"
                raise BadInput(f"the upload is not a valid artifact: {exc.message}",
                               f"upload the archive edgekit publish makes, or raise {setting} in the server's settings") from exc
            except RuntimeFailure as exc:
                raise BadInput(f"the upload is not a valid artifact: {exc.message}", "upload the archive edgekit publish makes") from exc
            artifact = Artifact.load(Path(work) / "artifact")  # content hash and schema: BadInput if wrong
            baseline = _baseline(Path(work) / "artifact")
        info = artifact.info
        summary = {
            "sha256": sha256, "length": len(data), "target": info.target, "precision": info.precision,
            "content_hash": info.content_hash, "bundle": {key: info.bundle.get(key) for key in ("name", "version", "content_hash", "task")},
            "runtime": info.runtime.get("name"), "triple": info.runtime.get("triple"), "parity": info.parity,
            "descriptor": info.model_dump(), "baseline": baseline,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path(sha256), data)  # the archive first: a summary never names a missing file
        write_atomically(self.path(sha256).with_suffix(".json"), json.dumps(summary).encode())
        return summary


def _baseline(directory: Path) -> dict[str, Any] | None:
    """The training baseline the artifact carries (drift detection compares telemetry with it)."""
    path = directory / BASELINE_FILE
    if not path.is_file():
        return None
    try:
        baseline = json.loads(path.read_text())
        names = [feature["name"] for feature in baseline["features"]["features"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"the artifact's {BASELINE_FILE} is malformed ({exc.__class__.__name__})", "recompile the artifact") from exc
    if len(set(names)) != len(names):
        raise BadInput(f"the artifact's {BASELINE_FILE} names a feature twice", "recompile the artifact")
    return baseline


def register(session: Session, summary: dict[str, Any], model: str, profiles: list[str], bench: dict[str, Any], actor: str) -> Release:
    """A new release of ``model`` for the archive ``summary`` describes (the caller holds the lock)."""
    if not MODEL_NAME.match(model):
        raise BadInput(f"model name {model[:80]!r} is not allowed", "use lower-case letters, digits, '.', '_' and '-', at most 64")
    version = (session.scalar(select(func.max(Release.version)).where(Release.model == model)) or 0) + 1
    release = Release(
        model=model, version=version, target=summary["target"], profiles=profiles,
        target_path=f"{model}/{version}/{summary['target']}.tar", sha256=summary["sha256"], length=summary["length"],
        artifact={key: summary[key] for key in ("content_hash", "bundle", "precision", "runtime", "triple")},
        parity={key: summary["parity"].get(key) for key in ("passed", "rows", "max_abs_diff", "label_agreement")},
        bench=bench, pins=[], created_by=actor,
    )
    session.add(release)
    session.flush()
    if summary.get("baseline"):
        session.add(ReleaseBaseline(release_id=release.id, baseline=summary["baseline"]))
    return release


_baselines: dict[str, dict[str, Any]] = {}


def baseline_of(session: Session, release: Release) -> dict[str, Any] | None:
    """A release's training baseline (part of its artifact, so cached per process by the artifact's sha256)."""
    if release.sha256 not in _baselines:
        row = session.get(ReleaseBaseline, release.id)
        if row is None:
            return None
        _baselines[release.sha256] = row.baseline
    return _baselines[release.sha256]
