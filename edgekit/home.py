"""Where edgekit keeps its local state: ``EDGEKIT_HOME`` (default ``~/.edgekit``)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BadInput


def edgekit_home() -> Path:
    home = Path(os.environ.get("EDGEKIT_HOME") or Path.home() / ".edgekit").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise BadInput(f"EDGEKIT_HOME {home} is not a writable directory", "point EDGEKIT_HOME at a directory you own") from exc
    return home
