"""An artifact directory as one file for delivery: an uncompressed tar of artifact.json and the
files of its manifest (bench.json and anything else are left out), byte-identical for the same
artifact, so its sha256 is the artifact's delivery identity.

Unpacking trusts nothing and writes nothing until the whole archive is judged, in memory: at most
``max_members`` members and ``max_bytes`` unpacked bytes, only regular files, names that every
file system takes (relative, no empty, '.' or '..' components, each component at most 255 bytes,
the name at most 1024, no two names alike on a case-insensitive file system, no file that is also
another member's directory), exactly the files the archive's own artifact.json lists, each of the
size and sha256 listed. Only then are the files written.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import IntegrityError
from .integrity import safe_member
from .manifest import parse_descriptor, read_descriptor

DESCRIPTOR = "artifact.json"
MAX_COMPONENT_BYTES = 255  # NAME_MAX of every common file system
MAX_NAME_BYTES = 1024  # a whole member name (PATH_MAX is 4096, the destination needs its share)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
HINT = "make the archive with edgekit publish (edgekit_runtime.archive.pack)"


class ArchiveTooLarge(IntegrityError):
    """An archive over one of the caller's bounds; ``bound`` says which (members or bytes), so the
    caller can name the setting that raises it."""

    def __init__(self, problem: str, bound: str) -> None:
        super().__init__("artifact archive", problem, "an artifact has a handful of files; raise the limit only for a larger one")
        self.bound = bound


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


def unpack(data: bytes, destination: str | Path, max_bytes: int = 1 << 30, max_members: int = 1000, sync: bool = True) -> dict:
    """Extract an artifact archive into the empty or new ``destination``; returns its descriptor.
    Raises IntegrityError for anything that is not exactly an artifact, before writing any file.
    ``sync`` fsyncs each file (a device switches to them); a caller that only inspects them may skip it."""
    view = memoryview(data)
    members = _members(data, max_members, max_bytes)
    if DESCRIPTOR not in members:
        raise IntegrityError("artifact archive", "has no artifact.json", HINT)
    descriptor = parse_descriptor(_content(view, members[DESCRIPTOR]), DESCRIPTOR, f"the archive's {DESCRIPTOR}")
    files = descriptor["files"]
    for name, entry in files.items():
        if not _is_entry(entry):
            raise IntegrityError(f"the archive's {DESCRIPTOR}", f"entry {name[:80]!r} is not {{sha256, size}} "
                                 "(a 64-hex sha256 and a byte count)", HINT)
    if set(members) != {DESCRIPTOR, *files}:
        raise IntegrityError("artifact archive", "does not hold exactly the files its artifact.json lists", HINT)
    for name, entry in files.items():
        member = members[name]
        if member.size != entry["size"]:
            raise IntegrityError(f"artifact archive member {name[:80]!r}", f"size is {member.size} bytes, "
                                 f"its artifact.json says {entry['size']} (truncated or replaced)", HINT)
        if hashlib.sha256(_content(view, member)).hexdigest() != entry["sha256"]:
            raise IntegrityError(f"artifact archive member {name[:80]!r}", "sha256 does not match its artifact.json "
                                 "(the file was altered)", HINT)
    target = Path(destination)
    target.mkdir(parents=True, exist_ok=True)
    for name, member in members.items():
        path = target.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:  # on disk before anyone switches to it: a power cut cannot empty it
            out.write(_content(view, member))
            if sync:
                out.flush()
                os.fsync(out.fileno())
    return descriptor


def _members(data: bytes, max_members: int, max_bytes: int) -> dict[str, tarfile.TarInfo]:
    """The archive's members by name, each a plain file with a name every file system takes, within
    the bounds; stops reading headers at the first member past ``max_members``."""
    members: dict[str, tarfile.TarInfo] = {}
    seen: dict[str, str] = {}  # the name as a case-insensitive, normalising file system sees it -> the name
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            while (member := archive.next()) is not None:
                if len(members) == max_members:
                    raise ArchiveTooLarge(f"has more than {max_members} members", "members")
                shown = f"artifact archive member {member.name[:80]!r}"
                if not member.isfile() or member.issparse() or member.offset_data + member.size > len(data):
                    raise IntegrityError(shown, "is not a plain file inside the archive (a link, a directory or cut off)", HINT)
                _check_name(member.name, shown)
                folded = unicodedata.normalize("NFC", member.name).casefold()
                if folded in seen:
                    raise IntegrityError(shown, f"is the same file as member {seen[folded][:80]!r} on a case-insensitive "
                                         "file system (or the same name twice)", HINT)
                seen[folded] = member.name
                total += member.size
                if total > max_bytes:
                    raise ArchiveTooLarge(f"unpacks to more than {max_bytes} bytes", "bytes")
                members[member.name] = member
    except (tarfile.TarError, EOFError) as exc:
        raise IntegrityError("artifact archive", f"is not a tar archive ({exc.__class__.__name__})", HINT) from exc
    directories = {"/".join(folded.split("/")[:depth]) for folded in seen for depth in range(1, folded.count("/") + 1)}
    clashes = sorted(directories & seen.keys())
    if clashes:
        raise IntegrityError(f"artifact archive member {seen[clashes[0]][:80]!r}", "is a file and also a directory of "
                             "another member", HINT)
    return members


def _check_name(name: str, shown: str) -> None:
    """Refuse a member name that escapes the destination or that some file system would refuse or alias."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise IntegrityError(shown, "name is not UTF-8", HINT) from None
    if not name or name.startswith("/") or "\\" in name or any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise IntegrityError(shown, "name is not a relative path of printable characters", HINT)
    if size > MAX_NAME_BYTES:
        raise IntegrityError(shown, f"name is longer than {MAX_NAME_BYTES} bytes", HINT)
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise IntegrityError(shown, "has an empty, '.' or '..' path component", HINT)
    if any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
        raise IntegrityError(shown, f"has a path component longer than {MAX_COMPONENT_BYTES} bytes", HINT)


def _is_entry(entry: Any) -> bool:
    """A manifest entry as pack writes it: {"sha256": 64 hex digits, "size": a byte count}."""
    return (isinstance(entry, Mapping) and isinstance(entry.get("sha256"), str) and bool(SHA256.match(entry["sha256"]))
            and type(entry.get("size")) is int and entry["size"] >= 0)


def _content(view: memoryview, member: tarfile.TarInfo) -> memoryview:
    """A member's bytes, read in place (the archive is uncompressed and in memory)."""
    return view[member.offset_data:member.offset_data + member.size]
