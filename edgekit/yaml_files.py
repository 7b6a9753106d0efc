"""Reading a YAML mapping from a file (device profiles, pipelines, rollout gates): one place that
turns an unreadable file, bad YAML or a document that is not a mapping into one BadInput line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import BadInput


def read_yaml_mapping(path: Path, what: str, example: str) -> dict[str, Any]:
    """The mapping in ``path``; ``what`` names the file in errors, ``example`` shows a first line."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: cannot read {what} ({exc.__class__.__name__})", f"give a YAML mapping, e.g. {example}") from exc
    if not isinstance(document, dict):
        raise BadInput(f"{path}: {what} must be a YAML mapping", f"e.g. {example}")
    return document
