"""Writing a file so that a crash leaves the old content or the new, never a mix: write beside it,
flush to disk, rename over it. The file is private to its owner (0600, mkstemp's mode): secrets
(keys, tokens, the server's settings) are written the same way as everything else, unless the
caller asks for another mode (reports meant for sharing: SHARED_FILE_MODE)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SHARED_FILE_MODE = 0o644


def write_atomically(path: str | os.PathLike[str], data: bytes | str, mode: int | None = None) -> None:
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        if mode is not None:
            os.fchmod(handle, mode)  # before the rename: the file never appears with the wrong mode
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
