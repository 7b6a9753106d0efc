"""Content hashes for the files of a bundle or artifact, and their verification.

A manifest maps a file name (relative, inside one directory) to its sha256 and size. The device
checks every file against it before trusting a model; the build side writes it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from .errors import IntegrityError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_member(directory: Path, name: str) -> Path:
    """The path of manifest entry ``name`` inside ``directory``; refuses names that escape it."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name:
        raise IntegrityError(name, "manifest names a path outside the directory", "the manifest is not trustworthy")
    return directory.joinpath(*pure.parts)


def describe_files(directory: str | os.PathLike[str], names: Iterable[str]) -> dict[str, dict[str, object]]:
    """Manifest entries (sha256 and size) for ``names`` inside ``directory``, sorted by name."""
    root = Path(directory)
    entries = {}
    for name in sorted(names):
        path = safe_member(root, name)
        entries[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return entries


def verify_files(directory: str | os.PathLike[str], manifest: Mapping[str, Mapping[str, object]]) -> None:
    """Raise IntegrityError naming the first file that is missing, of the wrong size or altered."""
    root = Path(directory)
    for name in sorted(manifest):
        entry = manifest[name]
        path = safe_member(root, name)
        shown = str(path)
        if not isinstance(entry, Mapping):
            raise IntegrityError(shown, "its manifest entry is not {sha256, size}", "the manifest is not trustworthy")
        if not path.is_file():
            raise IntegrityError(shown, "file is missing")
        size = path.stat().st_size
        if size != entry.get("size"):
            raise IntegrityError(shown, f"size is {size} bytes, the manifest says {entry.get('size')} (truncated or replaced)")
        if sha256_file(path) != entry.get("sha256"):
            raise IntegrityError(shown, "sha256 does not match the manifest (the file was altered)")
