"""An artifact directory as one file for delivery: an uncompressed tar of artifact.json and the
files of its manifest (bench.json and anything else are left out), byte-identical for the same
artifact, so its sha256 is the artifact's delivery identity.

Unpacking trusts nothing: only regular files named in the archive's own artifact.json manifest,
no absolute or parent paths, no links, a bound on the total size, and the manifest verified.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path, PurePosixPath

from .errors import IntegrityError
from .integrity import safe_member, verify_files
from .manifest import read_descriptor

DESCRIPTOR = "artifact.json"


def pack(directory: str | Path) -> bytes:
    """The artifact in ``directory`` as a deterministic tar (sorted names, no owners, no times)."""
    root = Path(directory)
    descriptor = read_descriptor(root / DESCRIPTOR)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in [DESCRIPTOR, *sorted(descriptor["files"])]:
            path = safe_member(root, name)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def unpack(data: bytes, destination: str | Path, max_bytes: int = 1 << 30) -> dict:
    """Extract an artifact archive into the empty or new ``destination``; returns its descriptor.
    Raises IntegrityError for anything that is not exactly an artifact."""
    target = Path(destination)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed by the with below
        members = archive.getmembers()
    except (tarfile.TarError, EOFError) as exc:
        raise IntegrityError("artifact archive", f"is not a tar archive ({exc.__class__.__name__})") from exc
    with archive:
        by_name = {}
        total = 0
        for member in members:
            pure = PurePosixPath(member.name)
            if not member.isfile() or pure.is_absolute() or ".." in pure.parts or member.name in by_name:
                raise IntegrityError(f"artifact archive member {member.name[:80]!r}", "is not a plain file inside the artifact")
            total += member.size
            if total > max_bytes:
                raise IntegrityError("artifact archive", f"unpacks to more than {max_bytes} bytes")
            by_name[member.name] = member
        if DESCRIPTOR not in by_name:
            raise IntegrityError("artifact archive", "has no artifact.json")
        try:
            descriptor = json.loads(archive.extractfile(by_name[DESCRIPTOR]).read())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError("artifact archive", "holds an unreadable artifact.json") from exc
        files = descriptor.get("files") if isinstance(descriptor, dict) else None
        if not isinstance(files, dict) or set(by_name) != {DESCRIPTOR, *files}:
            raise IntegrityError("artifact archive", "does not hold exactly the files its artifact.json lists")
        target.mkdir(parents=True, exist_ok=True)
        for name, member in by_name.items():
            path = safe_member(target, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:  # on disk before anyone switches to it: a power cut cannot empty it
                out.write(archive.extractfile(member).read())
                out.flush()
                os.fsync(out.fileno())
    verify_files(target, files)
    return read_descriptor(target / DESCRIPTOR)
