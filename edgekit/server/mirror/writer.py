"""Writing the mirror directory: ``metadata/N.{root,targets,snapshot}.json``, ``metadata/timestamp.json``
and ``targets/{model}/{release}/{sha256}.{name}``, exactly the paths devices fetch.

Order is enforced, not assumed: every versioned file and archive is written (temp file, fsync,
rename) before ``timestamp.json`` is renamed over the old one, and the new timestamp is refused
unless the snapshot it names is on disk, and that snapshot's targets file too. So a reader never
sees a timestamp pointing at a missing file. Several server processes may write one mirror: a file
lock serialises them, and ``timestamp.json`` never moves to a lower version.

Nothing is pruned: versioned metadata and archives are immutable and small next to what a client
mid-update may still fetch; an operator may delete old versions by hand (never the newest).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import BadInput
from ..repository.metadata import METADATA_NAME

LOCK_FILE = ".edgekit-mirror.lock"
FILE_MODE = 0o644  # nginx reads the mirror, often as another user: the files are public by design
DIR_MODE = 0o755


@dataclass
class MirrorWrite:
    """What one write did: files added, the timestamp version now served, whether it moved."""

    directory: Path
    written: list[str] = field(default_factory=list)
    timestamp_version: int | None = None
    timestamp_moved: bool = False
    missing_archives: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"mirror": str(self.directory), "written": len(self.written), "timestamp_version": self.timestamp_version,
                "timestamp_moved": self.timestamp_moved, "missing_archives": self.missing_archives}


def prepare(directory: Path) -> Path:
    """The mirror directory, created if missing; a clear error if it is a file or not writable."""
    if directory.exists() and not directory.is_dir():
        raise BadInput(f"{directory}: not a directory", "pass a directory for the mirror (it is created if missing)")
    try:
        for sub in (directory, directory / "metadata", directory / "targets"):
            sub.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{directory}: cannot create the mirror ({exc.strerror})", "pass a directory you can write") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BadInput(f"{directory}: not writable", "pass a directory you can write")
    return directory


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the mirror's lock (a POSIX advisory lock: released if the process dies)."""
    with open(directory / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _publish(path: Path, data: bytes | None = None, source: Path | None = None) -> None:
    """Put ``data`` (or ``source``: hard-linked when the filesystem allows, else copied) at ``path``
    by a rename, after its bytes are on disk; a reader sees no file or the whole file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if source is not None:
            os.close(handle)
            os.unlink(temporary)
            try:
                os.link(source, temporary)  # the blob store's inode: no copy of a large archive
            except OSError:  # another filesystem, or links not allowed
                shutil.copyfile(source, temporary)
                with open(temporary, "rb+") as out:
                    os.fsync(out.fileno())
        else:
            with os.fdopen(handle, "wb") as out:
                out.write(data or b"")
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # the renames themselves reach the disk before the timestamp's
    finally:
        os.close(descriptor)


def existing_metadata(directory: Path) -> set[str]:
    """The versioned metadata files already in the mirror (what a sync need not read again)."""
    folder = directory / "metadata"
    return {name for name in os.listdir(folder) if METADATA_NAME.match(name) and name != "timestamp.json"} if folder.is_dir() else set()


def served_version(directory: Path) -> int:
    """The version of the mirror's timestamp.json (0 when there is none or it is unreadable)."""
    try:
        return int(json.loads((directory / "metadata" / "timestamp.json").read_bytes())["signed"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _version_of(data: bytes, role: str) -> tuple[int, dict]:
    try:
        signed = json.loads(data)["signed"]
        if signed["_type"] != role:
            raise ValueError(f"a {signed['_type']} file")
        return int(signed["version"]), signed
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"not valid {role} metadata ({exc})", "mirror only what the repository signed") from exc


def write(directory: Path, metadata: Mapping[str, bytes], archives: Mapping[str, Path], timestamp: bytes) -> MirrorWrite:
    """Add ``metadata`` (versioned file name → bytes) and ``archives`` (path under targets/ → source
    file), then move ``timestamp.json`` to ``timestamp`` if it is newer than the one served.

    A versioned file already present is kept (versions are immutable), unless it differs: then the
    directory mirrors another repository, and the write is refused before anything changes.
    """
    prepare(directory)
    result = MirrorWrite(directory)
    folder = directory / "metadata"
    with locked(directory):
        for name in metadata:
            if not METADATA_NAME.match(name) or name == "timestamp.json":
                raise BadInput(f"{name[:80]!r} is not a versioned metadata file name", "name files N.root.json, N.targets.json, N.snapshot.json")
            present = folder / name
            if present.is_file() and present.read_bytes() != metadata[name]:
                raise BadInput(f"{present}: differs from the repository's {name}; this directory mirrors another repository",
                               "point the mirror at an empty directory (or this home's own mirror)")
        for name, data in sorted(metadata.items(), key=lambda item: _order(item[0])):
            if not (folder / name).is_file():
                _publish(folder / name, data)
                result.written.append(f"metadata/{name}")
        for relative, source in sorted(archives.items()):
            target = directory / "targets" / relative
            if target.is_file():
                continue
            if not source.is_file():
                result.missing_archives.append(relative)  # the blob is not on this machine: devices get a 404 and retry
                continue
            target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            _publish(target, source=source)
            result.written.append(f"targets/{relative}")
        _sync_directory(folder)
        version, signed = _version_of(timestamp, "timestamp")
        served = served_version(directory)
        result.timestamp_version = max(version, served)
        if version > served:  # never backwards: another process may already serve a newer one
            _check_chain(folder, signed)
            previous = folder / "timestamp.json"
            last = previous.stat().st_mtime if previous.exists() else 0.0
            _publish(previous, timestamp)
            # nginx's ETag is mtime (seconds) and size: two timestamps of one size in one second would
            # share it, and a device would keep a stale one on 304. Each one gets a later second.
            stamp = max(time.time(), int(last) + 1)
            os.utime(previous, (stamp, stamp))
            _sync_directory(folder)
            result.timestamp_moved = True
            result.written.append("metadata/timestamp.json")
    return result


def _order(name: str) -> tuple[int, int]:
    """Roots first, then targets, then snapshots, each by version: a file is written after what it names."""
    match = METADATA_NAME.match(name)
    return ({"root": 0, "targets": 1, "snapshot": 2}[match["role"]], int(match["version"])) if match else (3, 0)


def _check_chain(folder: Path, timestamp: dict) -> None:
    """The timestamp's snapshot, and that snapshot's targets, are on disk (else refuse to move it)."""
    try:
        snapshot_version = int(timestamp["meta"]["snapshot.json"]["version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput("the timestamp names no snapshot version", "mirror only what the repository signed") from exc
    snapshot_file = folder / f"{snapshot_version}.snapshot.json"
    if not snapshot_file.is_file():
        raise BadInput(f"the timestamp names {snapshot_file.name}, which the mirror does not have",
                       "write the snapshot (and its targets) before the timestamp")
    _, snapshot = _version_of(snapshot_file.read_bytes(), "snapshot")
    for name, meta in snapshot.get("meta", {}).items():
        role_file = folder / f"{meta.get('version')}.{name}"
        if not role_file.is_file():
            raise BadInput(f"{snapshot_file.name} names {role_file.name}, which the mirror does not have",
                           "write the targets before the snapshot's timestamp")
