"""Reading the JSON descriptor of a bundle (``bundle.json``) or artifact (``artifact.json``).

Only what the device needs to trust the files: the kind, the format version and the file manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import IntegrityError, UnsupportedFormat
from .integrity import verify_files

# Highest format version of each descriptor this runtime understands.
KNOWN_FORMATS = {"bundle.json": 1, "artifact.json": 1}


def find_descriptor(directory: str | Path) -> Path:
    root = Path(directory)
    if not root.is_dir():
        raise IntegrityError(str(root), "is not a directory", "pass the directory of a bundle or an artifact")
    for name in KNOWN_FORMATS:
        if (root / name).is_file():
            return root / name
    raise IntegrityError(str(root), "has no bundle.json or artifact.json", "pass the directory of a bundle or an artifact")


def read_descriptor(path: str | Path) -> dict[str, Any]:
    """Parse a descriptor and check its format version; the files are not checked here."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise IntegrityError(str(path), f"cannot be read as JSON ({exc.__class__.__name__})") from exc
    return parse_descriptor(text, path.name, str(path))


def parse_descriptor(text: bytes | memoryview, kind: str, shown: str) -> dict[str, Any]:
    """A descriptor named ``kind`` (bundle.json, artifact.json) from its bytes, its format version
    checked; ``shown`` names it in errors. The archive judges one in memory before writing it."""
    try:
        document = json.loads(bytes(text).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(shown, f"cannot be read as JSON ({exc.__class__.__name__})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise IntegrityError(shown, "has no 'files' manifest")
    version = document.get("format_version")
    newest = KNOWN_FORMATS.get(kind, 0)
    if not isinstance(version, int) or not 1 <= version <= newest:
        raise UnsupportedFormat(
            f"{shown}: format_version {version!r} is not one this runtime reads (1..{newest})",
            "upgrade edgekit-runtime or rebuild the directory with a matching edgekit",
        )
    return document


def verify_directory(directory: str | Path) -> dict[str, Any]:
    """Check a bundle or artifact directory end to end; returns its descriptor."""
    descriptor = read_descriptor(find_descriptor(directory))
    verify_files(directory, descriptor["files"])
    return descriptor
