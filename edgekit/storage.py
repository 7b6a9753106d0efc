"""Writing self-describing directories (bundles, artifacts) safely.

Everything is written into a hidden staging sibling and moved into place with renames, so a crash
or an error leaves either the old directory or the new one, never a mix. A descriptor's
``content_hash`` covers everything it says, its file manifest included.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from edgekit_runtime.errors import IntegrityError, UnsupportedFormat
from edgekit_runtime.integrity import verify_files
from edgekit_runtime.manifest import read_descriptor
from pydantic import BaseModel, ValidationError

from .errors import BadInput

Info = TypeVar("Info", bound=BaseModel)


def content_hash(descriptor: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a descriptor, without its own content_hash field."""
    body = {key: value for key, value in descriptor.items() if key != "content_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@contextmanager
def staging_directory(out: Path) -> Iterator[Path]:
    """A fresh hidden sibling of ``out``; removed if the block fails."""
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def move_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.rename(staging, out)
        return
    # Replacing an older directory of ours: two renames, so a crash leaves one whole version in place.
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(out, retired)
    os.rename(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


def write_descriptor(staging: Path, name: str, descriptor: dict[str, Any]) -> dict[str, Any]:
    descriptor = {**descriptor, "content_hash": content_hash(descriptor)}
    (staging / name).write_text(json.dumps(descriptor, indent=2))
    return descriptor


def load_verified(path: Path, descriptor_name: str, model: type[Info], kind: str, remedy: str) -> Info:
    """Read a descriptor, check its format version, content hash and every file in its manifest,
    and validate it; each failure is one BadInput naming the file (``remedy`` says what to do)."""
    descriptor_path = path / descriptor_name
    if not path.is_dir() or not descriptor_path.is_file():
        raise BadInput(f"{path}: not an edgekit {kind} (no {descriptor_name})", remedy)
    try:
        descriptor = read_descriptor(descriptor_path)
        if content_hash(descriptor) != descriptor.get("content_hash"):
            raise IntegrityError(str(descriptor_path), "content does not match its content_hash (the file was edited)")
        verify_files(path, descriptor["files"])
        info = model.model_validate(descriptor)
    except (IntegrityError, UnsupportedFormat) as exc:
        raise BadInput(exc.message, exc.hint) from exc
    except ValidationError as exc:
        raise BadInput(f"{descriptor_path}: malformed ({exc.errors()[0]['msg']})", remedy) from exc
    if getattr(info, "model_file", None) not in descriptor["files"]:
        raise BadInput(f"{descriptor_path}: the model file is not in the manifest", remedy)
    return info


def existing_output(out: Path, descriptor_name: str, kind: str) -> Path | None:
    """Refuse, before any work, an --out that would overwrite something edgekit did not write.
    Returns the descriptor when ``out`` already holds an edgekit directory of this kind."""
    if not out.exists():
        if not out.parent.exists():
            raise BadInput(f"{out.parent}: directory does not exist", "create it, or choose another --out")
        return None
    if not out.is_dir():
        raise BadInput(f"{out}: exists and is not a directory", "choose another --out")
    if not any(out.iterdir()):
        return None
    if not (out / descriptor_name).is_file():
        raise BadInput(
            f"{out}: exists, is not empty and is not an edgekit {kind}",
            "choose a new directory; edgekit never overwrites files it did not write",
        )
    return out / descriptor_name
